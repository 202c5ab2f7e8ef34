// `modemu serve`: host modems created over the gRPC API (grpc-api/proto/modemu/v1) until Ctrl-C.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>

#include "emulator/clock.hpp"
#include "emulator/event_log.hpp"
#include "emulator/state_dir.hpp"
#include "grpc-api/cli/commands.hpp"
#include "grpc-api/server/address.hpp"
#include "grpc-api/server/service.hpp"
#include "scenarios/fleet.hpp"

namespace modemu::cli {
namespace em = modemu::emulator;

namespace {

struct ServeOptions {
  std::vector<std::string> grpc;
  std::string token_file;
  std::string tls_cert;
  std::string tls_key;
  std::string state_dir;
  double time_scale = 1.0;
  double speed = 1.0;
  std::string power_off_time = "2s";
  std::string event_log;
  bool json = false;
  bool quiet = false;
  bool show_personal = false;
  std::size_t history = em::EventLog::kDefaultHistory;
};

int serve(const ServeOptions& o) {
  auto fail = [](const std::string& what) {
    std::fprintf(stderr, "modemu serve: error: %s\n", what.c_str());
    return kExitUsage;
  };
  std::vector<server::Listener> listeners;
  bool have_unix = false, have_tcp = false;
  for (const auto& text : o.grpc) {
    std::string error;
    auto a = server::parse_address(text, error);
    if (!a) return fail("--grpc " + error);
    have_unix = have_unix || a->unix_socket;
    have_tcp = have_tcp || !a->unix_socket;
    server::Listener l{*a, {}, {}};
    if (!a->unix_socket) {
      l.tls_cert = o.tls_cert;
      l.tls_key = o.tls_key;
    }
    listeners.push_back(l);
  }
  if (!have_unix) listeners.insert(listeners.begin(), {server::Address{true, server::default_socket_path(), {}}, {}, {}});
  if (o.tls_cert.empty() != o.tls_key.empty()) return fail("--tls-cert and --tls-key go together");
  if (!o.tls_cert.empty() && !have_tcp) return fail("--tls-cert and --tls-key secure a TCP listener: add --grpc HOST:PORT");
  server::ServerOptions options;
  if (!o.token_file.empty()) {
    try {
      options.token = server::read_token_file(o.token_file);
    } catch (const std::exception& e) {
      return fail(fmt::format("--token-file {}", e.what()));
    }
  }
  if (have_tcp && options.token.empty()) {
    return fail("a TCP listener needs --token-file FILE: anyone who can reach the port could drive the modems "
                "(the unix socket is private to this user)");
  }
  em::Duration off{};
  if (o.power_off_time == "never") {
    options.base.power_restore.reset();
  } else if (em::parse_duration(o.power_off_time, off)) {
    options.base.power_restore = off;
  } else {
    return fail(fmt::format("--power-off-time \"{}\" is not a duration or \"never\"", o.power_off_time));
  }
  options.base.state_root = o.state_dir.empty() ? em::default_state_root() : std::filesystem::path(o.state_dir);
  options.base.time_scale = o.time_scale;
  options.base.show_personal = o.show_personal;

  boost::asio::io_context io;
  em::AsioClock clock(io, o.speed);
  em::EventLog log(clock, o.history);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (!o.quiet) {
    log.subscribe([json = o.json](const em::Event& e) {
      std::string line = json ? em::format_json(e) : em::format_text(e);
      std::fprintf(stdout, "%s\n", line.c_str());
    });
  }
  std::unique_ptr<std::ofstream> event_file;
  if (!o.event_log.empty()) {
    event_file = std::make_unique<std::ofstream>(o.event_log, std::ios::app);
    if (!*event_file) return fail(fmt::format("cannot open --event-log {} for appending", o.event_log));
    log.subscribe([f = event_file.get()](const em::Event& e) { *f << em::format_json(e) << '\n' << std::flush; });
  }
  scenarios::Fleet fleet(clock, log);
  server::ApiServer api(io, fleet, options);
  std::vector<std::string> where;
  try {
    where = api.start(listeners);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modemu serve: error: %s\n", e.what());
    return kExitFailure;
  }
  std::string addresses;
  for (const auto& w : where) addresses += (addresses.empty() ? "" : ", ") + w;
  log.emit("", "start",
           fmt::format("serving the modemu.v1 API on {}{}; state in {}; Ctrl-C stops", addresses,
                       options.token.empty() ? "" : " (bearer token required)", options.base.state_root->string()),
           {{"grpc", where.front()}, {"pid", std::to_string(::getpid())}});

  // Stopping: gRPC first (its calls in flight still need the io thread), then the modems.
  // gRPC calls post work to the io thread at any time: it runs until the stop says otherwise.
  auto work = boost::asio::make_work_guard(io);
  std::thread stopper;
  bool stopping = false;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec || stopping) return;
    stopping = true;
    std::string cause = signo == SIGINT ? "SIGINT" : "SIGTERM";
    stopper = std::thread([&, cause] {
      api.shutdown();
      boost::asio::post(io, [&, cause] {
        api.release_modems();
        fleet.power_off_all(cause);
        log.emit("", "stop", fmt::format("stopped ({})", cause));
        work.reset();
        io.stop();
      });
    });
  });
  io.run();
  if (stopper.joinable()) stopper.join();
  return kExitOk;
}

}  // namespace

void add_serve_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "Host modems created over the gRPC API until Ctrl-C");
  cmd->footer(
      "The API (modemu.v1, grpc-api/proto/modemu/v1/modemu.proto; docs/grpc-api.md) creates modems from\n"
      "profiles, powers, resets and attaches them to transports, injects faults with the messages of\n"
      "scenario files, runs scenarios and streams the event log. `modemu ctl` is its client; server\n"
      "reflection is on, so grpcurl and other generic tools can explore it.\n\n"
      "It always listens on a unix socket (mode 0600): --grpc unix:PATH, else\n"
      "$XDG_RUNTIME_DIR/modemu/grpc.sock (/tmp/modemu-UID/grpc.sock without a runtime directory).\n"
      "TCP only when asked with --grpc HOST:PORT (HOST defaults to 127.0.0.1), and then a bearer token\n"
      "is required (--token-file); --tls-cert/--tls-key add TLS.\n\n"
      "Examples:\n"
      "  modemu serve\n"
      "  modemu ctl modems create --profile quectel-eg12 --id eg12 --transport local --dev-dir /tmp/eg12\n"
      "  modemu serve --grpc unix:/tmp/modemu.sock --time-scale 0.05 --state-dir /tmp/st\n"
      "  modemu serve --grpc 127.0.0.1:50051 --token-file token.txt --tls-cert cert.pem --tls-key key.pem");
  cmd->add_option("--grpc", o->grpc,
                  "Listen on unix:PATH or HOST:PORT (repeatable); a unix socket is always among them")
      ->type_name("ADDRESS");
  cmd->add_option("--token-file", o->token_file,
                  "Require \"authorization: Bearer TOKEN\" on every call, TOKEN read from FILE (required with TCP)")
      ->type_name("FILE");
  cmd->add_option("--tls-cert", o->tls_cert, "TLS certificate chain (PEM) for the TCP listeners")->type_name("FILE");
  cmd->add_option("--tls-key", o->tls_key, "TLS private key (PEM) for the TCP listeners")->type_name("FILE");
  cmd->add_option("--state-dir", o->state_dir,
                  "Where modems keep their state, one subdirectory per modem id; default: "
                  "$XDG_STATE_HOME/modemu or ~/.local/state/modemu");
  cmd->add_option("--time-scale", o->time_scale,
                  "Multiply every module delay (boot, reset, registration) by this factor, e.g. 0.05")
      ->check(CLI::Range(0.0001, 100.0))
      ->capture_default_str();
  cmd->add_option("--speed", o->speed, "Run the clock N times faster than real time")
      ->check(CLI::Range(0.001, 1e6))
      ->capture_default_str();
  cmd->add_option("--power-off-time", o->power_off_time,
                  "How long the power stays off after a cut before the module powers on again, or \"never\"")
      ->capture_default_str();
  cmd->add_option("--history", o->history,
                  "Events held for WatchEvents clients that resume (the resume window)")
      ->check(CLI::Range(100, 10'000'000))
      ->capture_default_str();
  cmd->add_option("--event-log", o->event_log, "Also append every event to FILE as JSON lines");
  cmd->add_flag("--show-personal-info", o->show_personal,
                "Print personal fields (IMEI, IMSI, ICCID, MSISDN) in logged QMI messages");
  cmd->add_flag("--json", o->json, "Print events as JSON lines instead of text");
  cmd->add_flag("--quiet,-q", o->quiet, "Print no events");
  cmd->callback([o, &action] { action = [o] { return serve(*o); }; });
}

}  // namespace modemu::cli
