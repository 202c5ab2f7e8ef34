// `modemu ctl`: a client for every RPC of the modemu.v1 API, readable or --json.
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "emulator/textproto.hpp"
#include "grpc-api/cli/commands.hpp"
#include "grpc-api/server/address.hpp"
#include "modemu/v1/modemu.grpc.pb.h"
#include "scenarios/scenario.hpp"

namespace modemu::cli {
namespace v1 = modemu::v1;

namespace {

struct CtlOptions {
  std::string grpc;
  std::string token_file;
  std::string tls_ca;
  bool json = false;
  double timeout = 30;
};

std::string to_json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

// One connection and the calls' common settings.
class Client {
 public:
  explicit Client(const CtlOptions& o) : options_(o) {
    server::ClientOptions c{o.grpc, {}, o.tls_ca};
    if (!o.token_file.empty()) token_ = server::read_token_file(o.token_file);
    stub_ = v1::Modemu::NewStub(server::make_channel(c));
  }
  v1::Modemu::Stub& stub() { return *stub_; }
  void prepare(grpc::ClientContext& ctx, bool deadline = true) const {
    if (!token_.empty()) ctx.AddMetadata("authorization", "Bearer " + token_);
    if (deadline) {
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(static_cast<std::int64_t>(options_.timeout * 1000)));
    }
  }
  // Calls `rpc`, then prints the reply as JSON or through `text`. Exit code.
  template <class Reply, class Rpc, class Text>
  int call(Rpc&& rpc, Text&& text) {
    grpc::ClientContext ctx;
    prepare(ctx);
    Reply reply;
    grpc::Status s = rpc(ctx, reply);
    if (!s.ok()) return report(s);
    if (options_.json) {
      std::printf("%s\n", to_json(reply).c_str());
    } else {
      text(reply);
    }
    return kExitOk;
  }
  static int report(const grpc::Status& s) {
    static const char* const kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                         "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                         "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
                                         "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
    int code = static_cast<int>(s.error_code());
    const char* name = code >= 0 && code <= 16 ? kNames[code] : "ERROR";
    std::fprintf(stderr, "modemu ctl: error: %s: %s\n", name, s.error_message().c_str());
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
      std::fprintf(stderr, "modemu ctl: is `modemu serve` running there? (--grpc ADDRESS)\n");
    }
    return s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ? kExitUsage : kExitFailure;
  }
  const CtlOptions& options() const { return options_; }

 private:
  CtlOptions options_;
  std::string token_;
  std::unique_ptr<v1::Modemu::Stub> stub_;
};

// --- readable output ---

void print_modem_line(const v1::Modem& m) {
  std::printf("%-16s %-16s %-18s %-20s %-9s %s\n", m.id().c_str(), m.profile().c_str(), m.power().c_str(),
              m.firmware().c_str(), m.usb_id().empty() ? "-" : m.usb_id().c_str(),
              m.transport().where().empty() ? "-" : m.transport().where().c_str());
}

void print_modem(const v1::Modem& m) {
  std::printf("%s: %s (%s)\n", m.id().c_str(), m.profile().c_str(), m.description().c_str());
  std::printf("  power       %s%s\n", m.power().c_str(), m.usb_id().empty() ? "" : fmt::format(" on the bus as {}", m.usb_id()).c_str());
  std::printf("  firmware    %s\n", m.firmware().c_str());
  std::printf("  boots       %u\n", m.boot_count());
  std::printf("  sim         %s%s\n", m.sim().state().c_str(), m.sim().powered() ? "" : " (powered down)");
  const auto& r = m.radio();
  std::printf("  radio       CFUN=%d, %s, %s (%s%s), RSSI %d dBm, RSRP %d dBm, RSRQ %.1f dB, SINR %.1f dB\n",
              r.functionality(), r.registration().c_str(), r.operator_name().c_str(), r.mcc().c_str(), r.mnc().c_str(),
              r.rssi_dbm(), r.rsrp_dbm(), r.rsrq_db(), r.sinr_db());
  if (r.qmi_silent() || r.offline()) {
    std::printf("              %s%s\n", r.qmi_silent() ? "QMI silent " : "", r.offline() ? "offline" : "");
  }
  std::printf("  data        %u context(s) active\n", r.active_contexts());
  for (const auto& d : m.data_sessions()) {
    std::string addresses = d.ipv4_address();
    if (!d.ipv6_address().empty()) addresses += (addresses.empty() ? "" : ", ") + d.ipv6_address();
    std::printf("  session     context %u (%s): up %llu packets / %llu bytes, down %llu packets / %llu bytes, "
                "dropped %llu up / %llu down\n",
                d.cid(), addresses.c_str(), static_cast<unsigned long long>(d.uplink_packets()),
                static_cast<unsigned long long>(d.uplink_bytes()), static_cast<unsigned long long>(d.downlink_packets()),
                static_cast<unsigned long long>(d.downlink_bytes()), static_cast<unsigned long long>(d.uplink_dropped()),
                static_cast<unsigned long long>(d.downlink_dropped()));
  }
  std::printf("  transport   %s\n", m.transport().where().empty() ? "none" : m.transport().where().c_str());
  std::printf("  faults      %u in force\n", m.active_faults());
  if (!m.scenario().empty()) std::printf("  scenario    %s\n", m.scenario().c_str());
  for (const auto& p : m.ports()) {
    std::printf("  port        %-10s %-6s interface %u\n", p.node().empty() ? "-" : p.node().c_str(),
                p.function().c_str(), p.interface());
  }
}

void print_fault(const v1::FaultInfo& f) {
  std::string params;
  for (const auto& [k, v] : std::map<std::string, std::string>(f.fault().params().begin(), f.fault().params().end())) params += fmt::format(" {}={}", k, v);
  std::string timing;
  if (!f.fault().start().empty()) timing += " start " + f.fault().start();
  if (!f.fault().duration().empty()) timing += " for " + f.fault().duration();
  if (!f.fault().period().empty()) timing += " every " + f.fault().period();
  std::printf("%-4llu %-12s %-20s %-9s %u occurrence(s)%s%s\n", static_cast<unsigned long long>(f.id()),
              f.modem().c_str(), f.fault().type().c_str(), f.state().c_str(), f.occurrences(), timing.c_str(),
              params.c_str());
}

void print_scenario(const v1::ScenarioStatus& s) {
  std::printf("%s (%s): %s, %.1f s of %.1f s, modems:", s.id().c_str(), s.name().c_str(),
              s.running() ? "running" : "finished", s.elapsed_s(), s.duration_s());
  for (const auto& m : s.modems()) std::printf(" %s", m.c_str());
  std::printf("\n");
  for (const auto& v : s.verdicts()) {
    std::printf("  %s  %s: %s\n", v.held() ? "PASS" : (s.running() ? "OPEN" : "FAIL"), v.name().c_str(), v.detail().c_str());
  }
}

void print_event(const v1::Event& e, bool json) {
  if (json) {
    std::printf("%s\n", to_json(e).c_str());
    return;
  }
  std::string fields;
  for (const auto& [k, v] : std::map<std::string, std::string>(e.fields().begin(), e.fields().end())) {
    fields += fmt::format(" {}={}", k, v);
  }
  std::printf("[%10.3f] #%llu %s %s: %s%s\n", e.t(), static_cast<unsigned long long>(e.seq()),
              e.modem().empty() ? "-" : e.modem().c_str(), e.kind().c_str(), e.message().c_str(), fields.c_str());
}

// --- watch ---

struct WatchOptions {
  std::vector<std::string> modems;
  std::vector<std::string> kinds;
  std::uint64_t resume_after = 0;
  bool replay = false;
  std::uint64_t count = 0;  // stop after this many events (0: follow until Ctrl-C)
  bool once = false;        // no reconnection
};

int watch(Client& client, const WatchOptions& w) {
  std::uint64_t last = w.resume_after, seen = 0;
  bool replay = w.replay;  // the next request starts with everything held
  std::string server_id;
  bool announced = false;
  for (int attempt = 0;; ++attempt) {
    grpc::ClientContext ctx;
    client.prepare(ctx, false);
    v1::WatchEventsRequest req;
    for (const auto& m : w.modems) req.add_modems(m);
    for (const auto& k : w.kinds) req.add_kinds(k);
    req.set_resume_after(last);
    req.set_replay(replay && last == 0);
    auto reader = client.stub().WatchEvents(&ctx, req);
    v1::EventBatch batch;
    bool restart = false;
    bool first = true;
    while (reader->Read(&batch)) {
      attempt = 0;
      if (first && !server_id.empty() && batch.server_id() != server_id) {
        // Another run of the server: its seqs started again at 1. Everything it holds is new.
        std::fprintf(stderr, "modemu ctl: the server restarted; following it from its first event held\n");
        ctx.TryCancel();
        last = 0;
        replay = true;
        restart = true;
        break;
      }
      if (first && server_id.empty() && !announced) {
        // The server sends its first batch once the subscription is in place: from this line on
        // no event is missed, which is what a script waits for before it acts.
        std::fprintf(stderr, "modemu ctl: watching; every event from here on is shown\n");
        std::fflush(stderr);
        announced = true;
      }
      if (first) server_id = batch.server_id();
      first = false;
      if (batch.missed() > 0) {
        std::fprintf(stderr, "modemu ctl: %llu event(s) after #%llu are no longer held by the server\n",
                     static_cast<unsigned long long>(batch.missed()), static_cast<unsigned long long>(last));
      }
      for (const auto& e : batch.events()) {
        print_event(e, client.options().json);
        last = e.seq();
        if (w.count > 0 && ++seen >= w.count) {
          ctx.TryCancel();
          return kExitOk;
        }
      }
      std::fflush(stdout);
    }
    grpc::Status s = reader->Finish();
    if (restart) {
      server_id.clear();
      continue;
    }
    if (w.once || s.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
        s.error_code() == grpc::StatusCode::INVALID_ARGUMENT || attempt >= 30) {
      return Client::report(s);
    }
    // The server went away or ended the stream: reconnect and resume after the last event seen.
    std::fprintf(stderr, "modemu ctl: the stream ended (%s); resuming after #%llu\n", s.error_message().c_str(),
                 static_cast<unsigned long long>(last));
    grpc::ClientContext probe;
    client.prepare(probe);
    // Waits (bounded by --timeout) until the server answers again.
    v1::ListModemsResponse ignored;
    probe.set_wait_for_ready(true);
    client.stub().ListModems(&probe, v1::ListModemsRequest{}, &ignored);
  }
}

template <class T>
using Ptr = std::shared_ptr<T>;

}  // namespace

void add_ctl_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<CtlOptions>();
  CLI::App* ctl = app.add_subcommand("ctl", "Drive a running `modemu serve` over its gRPC API");
  ctl->require_subcommand(1);
  ctl->fallthrough();  // `modemu ctl modems list --json`: the common options go anywhere
  ctl->footer(
      "Examples:\n"
      "  modemu ctl modems create --profile quectel-eg12 --id eg12 --transport local --dev-dir /tmp/eg12\n"
      "  modemu ctl modems list --json\n"
      "  modemu ctl faults inject --modem eg12 --type usb_reset_loop --param period=30s --param downtime=5s\n"
      "  modemu ctl watch --modem eg12 --kind usb.*\n"
      "  modemu ctl faults clear --modem eg12\n"
      "  modemu ctl scenario start scenarios/f12-qmi-silence.txtpb\n\n"
      "Exit status: 0 done, 1 the server refused or failed (the message says why), 2 bad arguments.");
  ctl->add_option("--grpc", o->grpc, "The server: unix:PATH or HOST:PORT; default: the default unix socket of `modemu serve`")
      ->type_name("ADDRESS");
  ctl->add_option("--token-file", o->token_file, "Send the bearer token in FILE")->type_name("FILE");
  ctl->add_option("--tls-ca", o->tls_ca, "TCP with TLS: trust this CA or self-signed certificate (PEM)")->type_name("FILE");
  ctl->add_flag("--json", o->json, "Print replies as JSON (proto field names)");
  ctl->add_option("--timeout", o->timeout, "Seconds a call may take")->capture_default_str();

  // Each leaf registers what it does; the client is made once the command line has parsed.
  auto leaf = [&action, o](CLI::App* cmd, std::function<int(Client&)> fn) {
    cmd->callback([&action, o, fn] {
      action = [o, fn] {
        Client client(*o);
        return fn(client);
      };
    });
  };

  // --- modems ---
  CLI::App* modems = ctl->add_subcommand("modems", "Create, list, power, reset, attach and remove modems");
  modems->require_subcommand(1);
  leaf(modems->add_subcommand("list", "The modems, one a line"), [](Client& c) {
    return c.call<v1::ListModemsResponse>(
        [&](grpc::ClientContext& ctx, auto& r) { return c.stub().ListModems(&ctx, v1::ListModemsRequest{}, &r); },
        [](const v1::ListModemsResponse& r) {
          std::printf("%-16s %-16s %-18s %-20s %-9s %s\n", "ID", "PROFILE", "POWER", "FIRMWARE", "USB", "TRANSPORT");
          for (const auto& m : r.modems()) print_modem_line(m);
        });
  });
  auto modem_rpc = [&](const char* name, const char* help, auto method) {
    CLI::App* cmd = modems->add_subcommand(name, help);
    auto mid = std::make_shared<std::string>();
    cmd->add_option("id", *mid, "Modem id")->required();
    leaf(cmd, [mid, method](Client& c) {
      v1::ModemRef ref;
      ref.set_id(*mid);
      return c.call<v1::Modem>([&](grpc::ClientContext& ctx, auto& r) { return (c.stub().*method)(&ctx, ref, &r); },
                               print_modem);
    });
  };
  modem_rpc("get", "One modem's state: power, firmware, ports, SIM, radio, transport", &v1::Modemu::Stub::GetModem);
  modem_rpc("reset", "Reset: off the bus, enumerating again after the profile's reset time",
            &v1::Modemu::Stub::ResetModem);
  modem_rpc("detach", "Take the modem off its transport", &v1::Modemu::Stub::DetachTransport);

  auto transport_options = [](CLI::App* cmd, Ptr<v1::TransportSpec> t, Ptr<std::string> kind) {
    cmd->add_option("--transport,-t", *kind, "local (pseudo-terminals) or usbredir (with --listen)")
        ->check(CLI::IsMember({"local", "usbredir"}));
    cmd->add_option("--dev-dir", *t->mutable_dev_dir(), "local: directory for the port links (default: STATE-DIR/ID/dev)");
    cmd->add_option("--listen", *t->mutable_listen(), "usbredir: unix:PATH or tcp:HOST:PORT");
    cmd->add_option("--pcap", *t->mutable_pcap(), "usbredir: write every USB transfer to FILE");
  };
  auto set_kind = [](v1::TransportSpec& t, const std::string& kind) {
    t.set_kind(kind == "local" ? v1::TRANSPORT_LOCAL : kind == "usbredir" ? v1::TRANSPORT_USBREDIR
                                                                          : v1::TRANSPORT_KIND_UNSPECIFIED);
  };
  {
    CLI::App* cmd = modems->add_subcommand("create", "Create a modem from a profile and power it on");
    auto spec = std::make_shared<scenario::ModemSpec>();
    auto t = std::make_shared<v1::TransportSpec>();
    auto kind = std::make_shared<std::string>();
    auto flash = std::make_shared<std::string>();
    auto time_scale = std::make_shared<double>(0);
    auto roaming = std::make_shared<bool>(false), off = std::make_shared<bool>(false);
    cmd->add_option("--profile,-p", *spec->mutable_profile(), "Profile name (modemu profiles list) or .txtpb file")->required();
    cmd->add_option("--id", *spec->mutable_id(), "Modem id (default: the profile name)");
    cmd->add_option("--firmware", *spec->mutable_firmware(), "Factory firmware version from the profile's catalogue");
    cmd->add_option("--sim", *spec->mutable_sim(), "SIM state at power-on: SIM_READY, SIM_ABSENT, SIM_PIN, ...");
    cmd->add_option("--flash", *flash, "Flash state: FLASH_FACTORY, FLASH_ERASED_SBL (EDL), FLASH_DOWNLOAD_FLAG");
    cmd->add_option("--time-scale", *time_scale, "Multiplies the server's --time-scale for this modem");
    cmd->add_flag("--roaming", *roaming, "Registers on a roaming network");
    cmd->add_flag("--powered-off", *off, "Not powered on (modems power ID on)");
    transport_options(cmd, t, kind);
    leaf(cmd, [spec, t, kind, flash, time_scale, roaming, off, set_kind](Client& c) {
      v1::CreateModemRequest req;
      *req.mutable_spec() = *spec;
      req.mutable_spec()->set_roaming(*roaming);
      req.mutable_spec()->set_powered_off(*off);
      req.mutable_spec()->set_time_scale(*time_scale);
      if (!flash->empty()) {
        scenario::FlashState f{};
        if (!scenario::FlashState_Parse(*flash, &f)) {
          std::fprintf(stderr, "modemu ctl: error: --flash \"%s\" is not a flash state\n", flash->c_str());
          return kExitUsage;
        }
        req.mutable_spec()->set_flash(f);
      }
      *req.mutable_transport() = *t;
      set_kind(*req.mutable_transport(), *kind);
      return c.call<v1::Modem>([&](grpc::ClientContext& ctx, auto& r) { return c.stub().CreateModem(&ctx, req, &r); },
                               print_modem);
    });
  }
  {
    CLI::App* cmd = modems->add_subcommand("delete", "Power a modem off and forget it (its state directory stays)");
    auto mid = std::make_shared<std::string>();
    cmd->add_option("id", *mid, "Modem id")->required();
    leaf(cmd, [mid](Client& c) {
      v1::ModemRef ref;
      ref.set_id(*mid);
      return c.call<v1::DeleteModemResponse>(
          [&](grpc::ClientContext& ctx, auto& r) { return c.stub().DeleteModem(&ctx, ref, &r); },
          [&](const v1::DeleteModemResponse&) { std::printf("deleted %s\n", mid->c_str()); });
    });
  }
  {
    CLI::App* cmd = modems->add_subcommand("power", "Power on, power off (orderly) or cut the supply");
    auto mid = std::make_shared<std::string>();
    auto what = std::make_shared<std::string>();
    auto off_time = std::make_shared<std::string>();
    cmd->add_option("id", *mid, "Modem id")->required();
    cmd->add_option("action", *what, "on, off or cut")->required()->check(CLI::IsMember({"on", "off", "cut"}));
    cmd->add_option("--off-time", *off_time, "cut: how long the power stays off (e.g. 5s, or never)");
    leaf(cmd, [mid, what, off_time](Client& c) {
      v1::SetPowerRequest req;
      req.set_id(*mid);
      req.set_action(*what == "on" ? v1::POWER_ON : *what == "off" ? v1::POWER_OFF : v1::POWER_CUT);
      req.set_off_time(*off_time);
      return c.call<v1::Modem>([&](grpc::ClientContext& ctx, auto& r) { return c.stub().SetPower(&ctx, req, &r); },
                               print_modem);
    });
  }
  {
    CLI::App* cmd = modems->add_subcommand("attach", "Put a modem on a transport (replacing the one it has)");
    auto mid = std::make_shared<std::string>();
    auto t = std::make_shared<v1::TransportSpec>();
    auto kind = std::make_shared<std::string>();
    cmd->add_option("id", *mid, "Modem id")->required();
    transport_options(cmd, t, kind);
    leaf(cmd, [mid, t, kind, set_kind](Client& c) {
      v1::AttachTransportRequest req;
      req.set_id(*mid);
      *req.mutable_transport() = *t;
      set_kind(*req.mutable_transport(), *kind);
      return c.call<v1::Modem>([&](grpc::ClientContext& ctx, auto& r) { return c.stub().AttachTransport(&ctx, req, &r); },
                               print_modem);
    });
  }
  {
    CLI::App* cmd = modems->add_subcommand("flash", "The flash: partitions, image versions, the next boot's mode");
    auto mid = std::make_shared<std::string>();
    cmd->add_option("id", *mid, "Modem id")->required();
    leaf(cmd, [mid](Client& c) {
      v1::ModemRef ref;
      ref.set_id(*mid);
      return c.call<v1::FlashInfo>(
          [&](grpc::ClientContext& ctx, auto& r) { return c.stub().GetFlash(&ctx, ref, &r); },
          [](const v1::FlashInfo& f) {
            std::printf("%s: running %s, %s\n", f.id().c_str(), f.running_firmware().c_str(), f.power().c_str());
            if (!f.has_flash()) {
              std::printf("  no flash model: the firmware runs directly\n");
              return;
            }
            std::printf("  %s, %u blocks of %u pages of %u bytes\n", f.memory().c_str(), f.blocks(), f.pages_per_block(),
                        f.page_size());
            std::printf("  next boot: %s %s (%s)%s\n", f.next_boot_mode().c_str(), f.next_boot_version().c_str(),
                        f.next_boot_reason().c_str(), f.download_flag() ? ", download flag set" : "");
            std::printf("  %-10s %6s %6s %-4s %-20s %s\n", "PARTITION", "BLOCK", "BLOCKS", "BOOT", "VERSION", "STATE");
            for (const auto& p : f.partitions()) {
              std::printf("  %-10s %6u %6u %-4s %-20s %s\n", p.label().c_str(), p.start_block(), p.blocks(),
                          p.boot() ? "yes" : "", p.image_version().empty() ? "-" : p.image_version().c_str(),
                          p.state().c_str());
            }
            std::string cat;
            for (const auto& v : f.catalogue()) cat += " " + v;
            std::printf("  catalogue:%s\n", cat.c_str());
          });
    });
  }

  // --- faults ---
  CLI::App* faults = ctl->add_subcommand("faults", "Inject, list and clear faults");
  faults->require_subcommand(1);
  {
    CLI::App* cmd = faults->add_subcommand("inject", "Put a fault on a modem's timeline, from now");
    auto f = std::make_shared<scenario::Fault>();
    auto params = std::make_shared<std::vector<std::string>>();
    auto seed = std::make_shared<std::uint64_t>(0);
    auto probability = std::make_shared<double>(0);
    cmd->add_option("--modem,-m", *f->mutable_modem(), "The target modem's id")->required();
    cmd->add_option("--type", *f->mutable_type(), "A fault type (modemu ctl faults types)")->required();
    cmd->add_option("--param", *params, "A parameter NAME=VALUE (repeatable)")->type_name("NAME=VALUE");
    cmd->add_option("--start", *f->mutable_start(), "Delay from now (default 0s)");
    cmd->add_option("--duration", *f->mutable_duration(), "How long each occurrence lasts (default: until cleared)");
    cmd->add_option("--period", *f->mutable_period(), "Repeat every PERIOD");
    cmd->add_option("--probability", *probability, "Each occurrence happens with this probability (0..1)");
    cmd->add_option("--seed", *seed, "Seeds the fault's randomness");
    leaf(cmd, [f, params, seed, probability](Client& c) {
      v1::InjectFaultRequest req;
      *req.mutable_fault() = *f;
      req.mutable_fault()->set_probability(*probability);
      for (const auto& p : *params) {
        auto eq = p.find('=');
        if (eq == std::string::npos || eq == 0) {
          std::fprintf(stderr, "modemu ctl: error: --param \"%s\" is not NAME=VALUE\n", p.c_str());
          return kExitUsage;
        }
        (*req.mutable_fault()->mutable_params())[p.substr(0, eq)] = p.substr(eq + 1);
      }
      req.set_seed(*seed);
      return c.call<v1::FaultInfo>([&](grpc::ClientContext& ctx, auto& r) { return c.stub().InjectFault(&ctx, req, &r); },
                                   print_fault);
    });
  }
  {
    CLI::App* cmd = faults->add_subcommand("list", "The faults injected over the API");
    auto mid = std::make_shared<std::string>();
    cmd->add_option("--modem,-m", *mid, "Only this modem's");
    leaf(cmd, [mid](Client& c) {
      v1::ListFaultsRequest req;
      req.set_modem(*mid);
      return c.call<v1::ListFaultsResponse>(
          [&](grpc::ClientContext& ctx, auto& r) { return c.stub().ListFaults(&ctx, req, &r); },
          [](const v1::ListFaultsResponse& r) {
            if (r.faults_size() == 0) std::printf("no faults injected over the API\n");
            for (const auto& f : r.faults()) print_fault(f);
          });
    });
  }
  {
    CLI::App* cmd = faults->add_subcommand("clear", "End a modem's faults (or one fault by id)");
    auto mid = std::make_shared<std::string>();
    auto fid = std::make_shared<std::uint64_t>(0);
    cmd->add_option("--modem,-m", *mid, "Every fault of this modem");
    cmd->add_option("--id", *fid, "This fault alone");
    leaf(cmd, [mid, fid](Client& c) {
      v1::ClearFaultsRequest req;
      req.set_modem(*mid);
      req.set_id(*fid);
      return c.call<v1::ClearFaultsResponse>(
          [&](grpc::ClientContext& ctx, auto& r) { return c.stub().ClearFaults(&ctx, req, &r); },
          [](const v1::ClearFaultsResponse& r) {
            std::printf("cleared %d fault(s)\n", r.cleared_size());
            for (const auto& f : r.cleared()) print_fault(f);
          });
    });
  }
  leaf(faults->add_subcommand("types", "The fault types and their parameters"), [](Client& c) {
    return c.call<v1::ListFaultTypesResponse>(
        [&](grpc::ClientContext& ctx, auto& r) { return c.stub().ListFaultTypes(&ctx, v1::ListFaultTypesRequest{}, &r); },
        [](const v1::ListFaultTypesResponse& r) {
          for (const auto& t : r.types()) {
            std::printf("%s%s: %s\n", t.name().c_str(),
                        t.field_failure().empty() ? "" : fmt::format(" ({})", t.field_failure()).c_str(),
                        t.summary().c_str());
            for (const auto& p : t.params()) {
              std::printf("    %s=%s  %s%s\n", p.name().c_str(), p.kind().c_str(), p.help().c_str(),
                          p.default_value().empty() ? "" : fmt::format(" (default {})", p.default_value()).c_str());
            }
          }
        });
  });

  // --- scenarios ---
  CLI::App* sc = ctl->add_subcommand("scenario", "Start, follow and stop scenarios");
  sc->require_subcommand(1);
  {
    CLI::App* cmd = sc->add_subcommand("start", "Start a scenario file's timeline on the server, now");
    auto file = std::make_shared<std::string>();
    auto sid = std::make_shared<std::string>();
    cmd->add_option("file", *file, "Scenario file (.txtpb)")->required();
    cmd->add_option("--id", *sid, "Scenario id (default: its name)");
    leaf(cmd, [file, sid](Client& c) {
      v1::StartScenarioRequest req;
      try {
        *req.mutable_scenario() = scenarios::load_scenario(*file);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "modemu ctl: error: %s\n", e.what());
        return kExitUsage;
      }
      req.set_id(*sid);
      return c.call<v1::ScenarioStatus>(
          [&](grpc::ClientContext& ctx, auto& r) { return c.stub().StartScenario(&ctx, req, &r); }, print_scenario);
    });
  }
  auto scenario_rpc = [&](const char* name, const char* help, auto method) {
    CLI::App* cmd = sc->add_subcommand(name, help);
    auto sid = std::make_shared<std::string>();
    cmd->add_option("id", *sid, "Scenario id")->required();
    leaf(cmd, [sid, method](Client& c) {
      v1::ScenarioRef ref;
      ref.set_id(*sid);
      return c.call<v1::ScenarioStatus>([&](grpc::ClientContext& ctx, auto& r) { return (c.stub().*method)(&ctx, ref, &r); },
                                        print_scenario);
    });
  };
  scenario_rpc("status", "A scenario's progress and its expectations' verdicts", &v1::Modemu::Stub::GetScenario);
  scenario_rpc("stop", "End a running scenario now", &v1::Modemu::Stub::StopScenario);
  leaf(sc->add_subcommand("list", "The scenarios started on the server"), [](Client& c) {
    return c.call<v1::ListScenariosResponse>(
        [&](grpc::ClientContext& ctx, auto& r) { return c.stub().ListScenarios(&ctx, v1::ListScenariosRequest{}, &r); },
        [](const v1::ListScenariosResponse& r) {
          if (r.scenarios_size() == 0) std::printf("no scenarios started\n");
          for (const auto& s : r.scenarios()) print_scenario(s);
        });
  });

  // --- watch ---
  {
    CLI::App* cmd = ctl->add_subcommand("watch", "Follow the event log live (reconnects and resumes by itself)");
    cmd->footer(
        "Once subscribed it prints \"modemu ctl: watching\" on stderr: every event after that line is\n"
        "shown, so a script that starts a watch waits for that line before it acts. Events from before\n"
        "it: --replay (all the server holds) or --resume-after SEQ.");
    auto w = std::make_shared<WatchOptions>();
    cmd->add_option("--modem,-m", w->modems, "Only this modem's events (repeatable)");
    cmd->add_option("--kind,-k", w->kinds, "Only this kind (repeatable; usb.* takes a family)");
    cmd->add_option("--resume-after", w->resume_after, "Start after this event seq (the last one seen)");
    cmd->add_flag("--replay", w->replay, "Start with every event the server still holds");
    cmd->add_option("--count,-n", w->count, "Stop after N events");
    cmd->add_flag("--once", w->once, "Do not reconnect when the stream ends");
    leaf(cmd, [w](Client& c) { return watch(c, *w); });
  }
}

}  // namespace modemu::cli
