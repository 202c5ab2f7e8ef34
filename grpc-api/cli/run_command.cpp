// `modemu run`: start a modem and serve it on a transport until Ctrl-C.
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>

#include "emulator/clock.hpp"
#include "emulator/data/data_service.hpp"
#include "emulator/event_log.hpp"
#include "emulator/profile.hpp"
#include "emulator/state_dir.hpp"
#include "emulator/usb/usb_device.hpp"
#include "gadget/functionfs/functionfs_gadget.hpp"
#include "gadget/local/qmi_proxy.hpp"
#include "gadget/tun/tun_network.hpp"
#include "gadget/usb2tcp/usb2tcp_server.hpp"
#include "gadget/usbip/usbip_server.hpp"
#include "grpc-api/cli/commands.hpp"
#include "grpc-api/cli/sizes.hpp"
#include "grpc-api/server/transport.hpp"
#include "scenarios/engine.hpp"
#include "scenarios/fleet.hpp"

namespace modemu::cli {
namespace fs = std::filesystem;
namespace em = modemu::emulator;

namespace {

struct RunOptions {
  std::string profile = "quectel-eg12";
  std::string transport = "local";
  std::string dev_dir;
  std::string state_dir;
  std::string id;
  std::string firmware;
  double time_scale = 1.0;
  std::string event_log;
  std::string duration;
  bool json = false;
  bool quiet = false;
  bool qmi_proxy = false;
  bool show_personal = false;
  std::string listen;
  std::string pcap;
  std::string usb2tcp;  // ADDR:PORT for QFirehose -p
  std::string power_cut_after_program;  // SIZE
  std::string power_off_time = "2s";    // DURATION or "never"
  std::vector<std::string> data_faults; // --data-fault SPEC (emulator/data/data_faults.hpp)
  std::string data_tun;                 // --data-tun NAME (gadget/tun/tun_network.hpp)
  std::string scenario;                 // FILE
  bool check = false;
  double speed = 1.0;
  bool virtual_time = false;
  bool default_scenario = false;  // nothing chose a modem: the default scenario (a short F1)
  std::string udc;                // --transport gadget: the USB device controller
  std::string gadget_interfaces;  // --transport gadget: N,N,... (a reduced composition)
};

// --gadget-interfaces "2,4": interface numbers, or nullopt with the reason in `error`.
std::optional<std::set<std::uint8_t>> parse_interface_list(const std::string& text, std::string& error) {
  std::set<std::uint8_t> out;
  std::string_view rest = text;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || value > 255) {
      error = fmt::format("\"{}\" is not an interface number (0-255)", item);
      return std::nullopt;
    }
    out.insert(static_cast<std::uint8_t>(value));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return out;
}

// Where a modem's port links go: --dev-dir (a subdirectory per modem when there are several),
// else STATE-DIR/ID/dev.
fs::path dev_dir_for(const RunOptions& o, const fs::path& state_root, const std::string& id, bool several) {
  if (o.dev_dir.empty()) return state_root / id / "dev";
  return several ? fs::path(o.dev_dir) / id : fs::path(o.dev_dir);
}

int run(const RunOptions& o) {
  em::Duration stop_after{};
  if (!o.duration.empty() && !em::parse_duration(o.duration, stop_after)) {
    std::fprintf(stderr, "modemu run: error: --duration \"%s\" is not a duration (examples: 90s, 2m, 1.5h)\n",
                 o.duration.c_str());
    return kExitUsage;
  }
  const bool usbip = o.transport == "usbip";
  const bool usb = o.transport == "usbredir" || usbip;
  if (o.transport == "usbredir" && o.listen.empty()) {
    std::fprintf(stderr, "modemu run: error: --transport usbredir needs --listen unix:PATH or tcp:HOST:PORT\n");
    return kExitUsage;
  }
  if (!usb && (!o.listen.empty() || !o.pcap.empty())) {
    std::fprintf(stderr, "modemu run: error: --listen and --pcap go with a USB transport (--transport usbredir or usbip)\n");
    return kExitUsage;
  }
  if (usb && o.qmi_proxy) {
    std::fprintf(stderr, "modemu run: error: --qmi-proxy serves the local transport's QMI; with %s the host's "
                         "own qmi-proxy reaches /dev/cdc-wdm0\n", o.transport.c_str());
    return kExitUsage;
  }
  if (o.check && o.scenario.empty() && !o.default_scenario) {
    std::fprintf(stderr, "modemu run: error: --check judges a scenario's expectations: give --scenario FILE\n");
    return kExitUsage;
  }
  if (o.virtual_time && o.speed != 1.0) {
    std::fprintf(stderr, "modemu run: error: --virtual-time and --speed exclude each other\n");
    return kExitUsage;
  }
  if (o.virtual_time && usb) {
    std::fprintf(stderr, "modemu run: error: a real kernel attached over %s needs real time (use --speed)\n",
                 o.transport.c_str());
    return kExitUsage;
  }
  // --- the FunctionFS gadget (gadget/functionfs): its own checks ---
  const bool gadget = o.transport == "gadget";
  std::set<std::uint8_t> gadget_interfaces;
  if (!gadget && (!o.udc.empty() || !o.gadget_interfaces.empty())) {
    std::fprintf(stderr, "modemu run: error: --udc and --gadget-interfaces go with --transport gadget\n");
    return kExitUsage;
  }
  if (gadget) {
    std::string error;
    auto list = parse_interface_list(o.gadget_interfaces, error);
    if (!list) {
      std::fprintf(stderr, "modemu run: error: --gadget-interfaces: %s\n", error.c_str());
      return kExitUsage;
    }
    gadget_interfaces = *list;
    if (o.virtual_time || o.qmi_proxy) {
      std::fprintf(stderr, "modemu run: error: --transport gadget serves a real USB host: no --virtual-time, and "
                           "no --qmi-proxy (the host's qmi-proxy reaches its /dev/cdc-wdm0)\n");
      return kExitUsage;
    }
  }
  std::optional<scenario::Scenario> sc;
  if (o.default_scenario) {
    sc = scenarios::parse_scenario(scenarios::default_scenario_text(), "the default scenario");
  } else if (!o.scenario.empty()) {
    try {
      sc = scenarios::load_scenario(o.scenario);
    } catch (const scenarios::ScenarioError& e) {
      std::fprintf(stderr, "modemu run: error: %s\n", e.what());
      return kExitUsage;
    }
    if (((usb && !usbip) || gadget) && sc->modems_size() > 1) {
      std::fprintf(stderr, "modemu run: error: %s serves one modem per process; the scenario has %d\n",
                   o.transport.c_str(), sc->modems_size());
      return kExitUsage;
    }
  }
  em::ModemOptions modem_options;
  if (!sc) {
    try {
      modem_options.profile = em::load_profile(o.profile);
    } catch (const em::ProfileError& e) {
      std::fprintf(stderr, "modemu run: error: %s\n", e.what());
      return kExitUsage;
    }
    modem_options.id = o.id.empty() ? modem_options.profile.name() : o.id;
    modem_options.firmware_version = o.firmware;
  }
  fs::path state_root = o.state_dir.empty() ? em::default_state_root() : fs::path(o.state_dir);
  modem_options.state_root = state_root;
  modem_options.time_scale = o.time_scale;
  modem_options.show_personal = o.show_personal;
  if (!o.power_cut_after_program.empty()) {
    auto bytes = parse_size(o.power_cut_after_program);
    if (!bytes || *bytes == 0) {
      std::fprintf(stderr, "modemu run: error: --power-cut-after-program \"%s\" is not a size (examples: 300K, 5M)\n",
                   o.power_cut_after_program.c_str());
      return kExitUsage;
    }
    modem_options.power_cut_after_program_bytes = *bytes;
  }
  if (o.power_off_time == "never") {
    modem_options.power_restore.reset();
  } else {
    em::Duration off{};
    if (!em::parse_duration(o.power_off_time, off)) {
      std::fprintf(stderr, "modemu run: error: --power-off-time \"%s\" is not a duration or \"never\"\n",
                   o.power_off_time.c_str());
      return kExitUsage;
    }
    modem_options.power_restore = off;
  }

  boost::asio::io_context io;
  // Real time (sped up with --speed), or virtual time that jumps to the next timer whenever
  // nothing else is ready.
  std::unique_ptr<em::Clock> clock_holder;
  em::VirtualClock* virtual_clock = nullptr;
  if (o.virtual_time) {
    auto v = std::make_unique<em::VirtualClock>();
    virtual_clock = v.get();
    clock_holder = std::move(v);
  } else {
    clock_holder = std::make_unique<em::AsioClock>(io, o.speed);
  }
  em::Clock& clock = *clock_holder;
  em::EventLog log(clock);

  // Console: the live, readable event log (or JSON lines with --json).
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
    if (!*event_file) {
      std::fprintf(stderr, "modemu run: error: cannot open --event-log %s for appending\n", o.event_log.c_str());
      return kExitUsage;
    }
    log.subscribe([f = event_file.get()](const em::Event& e) { *f << em::format_json(e) << '\n' << std::flush; });
  }

  scenarios::Fleet fleet(clock, log);
  std::unique_ptr<scenarios::Engine> engine;
  std::vector<em::Modem*> modems;
  if (sc) {
    engine = std::make_unique<scenarios::Engine>(*sc, fleet, modem_options);
    modems = engine->modems();
  } else {
    modems.push_back(&fleet.add(std::move(modem_options)));
  }
  em::Modem& modem = *modems.front();
  const bool several = modems.size() > 1;
  // --- packet data (emulator/data): --data-fault SPEC, acting on every modem from the start ---
  if (!o.data_faults.empty()) {
    em::DataFaults faults;
    for (const auto& spec : o.data_faults) {
      if (std::string error = em::add_data_fault(spec, faults); !error.empty()) {
        std::fprintf(stderr, "modemu run: error: --data-fault %s\n", error.c_str());
        return kExitUsage;
      }
    }
    for (em::Modem* m : modems) m->data().set_faults(faults, "--data-fault");
  }
  // --- --data-tun NAME: the sessions' traffic to a TUN device instead of the built-in network ---
  std::unique_ptr<gadget::TunNetwork> tun;
  if (!o.data_tun.empty()) {
    if (several) {
      std::fprintf(stderr, "modemu run: error: --data-tun serves one modem; the scenario has %zu\n", modems.size());
      return kExitUsage;
    }
    try {
      tun = std::make_unique<gadget::TunNetwork>(io, modem, o.data_tun);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "modemu run: error: %s\n", e.what());
      return kExitUsage;
    }
  }
  std::vector<std::unique_ptr<em::UsbDevice>> usbip_devices;
  std::unique_ptr<gadget::UsbipServer> usbip_server;
  if (usbip) {
    // One listener exports every modem, bus ids 1-1, 1-2, ... in the scenario's order.
    std::vector<em::UsbDevice*> devices;
    for (em::Modem* m : modems) {
      usbip_devices.push_back(std::make_unique<em::UsbDevice>(*m));
      devices.push_back(usbip_devices.back().get());
    }
    if (!o.pcap.empty()) {
      if (several) {
        std::fprintf(stderr, "modemu run: error: --pcap records one modem; the scenario has %zu\n", modems.size());
        return kExitUsage;
      }
      usbip_devices.front()->capture_to(o.pcap);
    }
    try {
      usbip_server = std::make_unique<gadget::UsbipServer>(io, devices, o.listen.empty() ? "127.0.0.1:3240" : o.listen);
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "modemu run: error: %s\n", e.what());
      return kExitUsage;
    } catch (const std::runtime_error& e) {
      std::fprintf(stderr, "modemu run: error: %s\n", e.what());
      return kExitFailure;
    }
  }
  // The FunctionFS gadget on this machine's device controller (one modem).
  std::unique_ptr<em::UsbDevice> gadget_device;
  std::unique_ptr<gadget::FunctionFsGadget> ffs_gadget;
  if (gadget) {
    gadget_device = std::make_unique<em::UsbDevice>(modem);
    gadget::FunctionFsGadget::Options go;
    go.udc = o.udc;
    go.interfaces = gadget_interfaces;
    go.mount_root = state_root / modem.id() / "functionfs";
    try {
      ffs_gadget = std::make_unique<gadget::FunctionFsGadget>(io, *gadget_device, go);
    } catch (const gadget::GadgetError& e) {
      std::fprintf(stderr, "modemu run: error: %s\n", e.what());
      return kExitFailure;
    }
  }
  std::vector<std::unique_ptr<server::Attachment>> transports;
  for (em::Modem* m : modems) {
    server::TransportSpec spec;
    if (usb && !usbip) {
      spec = {server::TransportSpec::Kind::kUsbredir, {}, o.listen, o.pcap};
    } else if (o.transport == "local") {
      spec = {server::TransportSpec::Kind::kLocal, dev_dir_for(o, state_root, m->id(), several), {}, {}};
    }
    try {
      transports.push_back(std::make_unique<server::Attachment>(io, *m, spec));
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "modemu run: error: %s\n", e.what());
      return kExitUsage;
    }
  }
  std::unique_ptr<gadget::QmiProxyServer> proxy;
  if (o.qmi_proxy && o.transport == "local") {
    std::vector<gadget::QmiProxyServer::Target> targets;
    for (em::Modem* m : modems) targets.push_back({m, dev_dir_for(o, state_root, m->id(), several)});
    proxy = std::make_unique<gadget::QmiProxyServer>(io, targets);
    log.emit("", "qmi.proxy", "serving libqmi's qmi-proxy protocol on the abstract socket \"qmi-proxy\" (qmicli -p)");
  }
  // QFirehose's TCP transport, beside whichever transport carries the other ports: the DM
  // interface, and the Sahara interface after the EDL switch, claimed by one client at a time.
  std::unique_ptr<gadget::Usb2TcpServer> usb2tcp;
  if (!o.usb2tcp.empty()) {
    try {
      usb2tcp = std::make_unique<gadget::Usb2TcpServer>(io, modem, o.usb2tcp);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "modemu run: error: %s\n", e.what());
      return kExitUsage;
    }
    log.emit("", "usb2tcp",
             fmt::format("serving the DM / EDL interface of {} over QFirehose's TCP framing on {} (QFirehose -p {})",
                         modem.id(), usb2tcp->address(), usb2tcp->address()),
             {{"address", usb2tcp->address()}});
  }
  for (std::size_t i = 0; i < modems.size(); ++i) {
    em::Modem* m = modems[i];
    const auto& p = m->profile();
    fs::path dev_dir = dev_dir_for(o, state_root, m->id(), several);
    std::string where = usbip_server ? fmt::format("USB/IP on {}, bus id {} (usbip attach -r HOST -b {})",
                                                   usbip_server->address(), usbip_server->busid(i),
                                                   usbip_server->busid(i))
                        : ffs_gadget ? fmt::format("USB gadget {} on {}", ffs_gadget->name(), ffs_gadget->udc())
                                     : transports[i]->where();
    std::vector<std::pair<std::string, std::string>> fields = {
        {"modem", m->id()}, {"profile", p.name()}, {"firmware", m->firmware().version()},
        {"dev_dir", dev_dir.string()}, {"pid", std::to_string(::getpid())}};
    if (usbip_server) {
      fields.emplace_back("listen", usbip_server->address());
      fields.emplace_back("busid", usbip_server->busid(i));
    }
    log.emit("", "start",
             fmt::format("{} ({}), firmware {}, state in {}, {}; Ctrl-C stops", m->id(), p.description(),
                         m->firmware().version(), (state_root / m->id()).string(), where),
             std::move(fields));
  }

  // SIGUSR1: the power-cut control from outside (a test harness, a shell): the supply fails now.
  boost::asio::signal_set cut_signal(io, SIGUSR1);
  std::function<void()> wait_cut = [&] {
    cut_signal.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      for (em::Modem* m : modems) m->power_cut("SIGUSR1 power cut");
      wait_cut();
    });
  };
  wait_cut();
  int rc = kExitOk;
  bool stopping = false;
  auto stop = [&](std::string_view cause) {
    if (stopping) return;
    stopping = true;
    fleet.power_off_all(cause);
    proxy.reset();
    transports.clear();
    usbip_server.reset();
    usbip_devices.clear();
    ffs_gadget.reset();
    gadget_device.reset();
    cut_signal.cancel();
    log.emit("", "stop", fmt::format("stopped ({})", cause));
    io.stop();
  };
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (!ec) stop(signo == SIGINT ? "SIGINT" : "SIGTERM");
  });
  em::Timer stop_timer(clock);
  if (stop_after > em::Duration::zero()) stop_timer.start(stop_after, [&] { stop("--duration elapsed"); });

  if (engine) {
    engine->on_finished([&] {
      bool all_held = true;
      std::string verdicts = scenarios::format_verdicts(engine->verdicts(), all_held);
      std::fprintf(stderr, "scenario %s: %s\n%s", sc->name().c_str(), all_held ? "every expectation held" : "FAILED",
                   verdicts.c_str());
      if (o.check && !all_held) rc = kExitFailure;
      stop("the scenario ended");
    });
    engine->start();
  } else {
    fleet.power_on_all("modemu run");
  }
  if (virtual_clock != nullptr) {
    // Virtual time: serve whatever I/O is ready, then jump to the next timer; with no timer
    // left, wait for I/O.
    while (!io.stopped()) {
      io.poll();
      if (io.stopped()) break;
      if (!virtual_clock->run_next()) io.run_one();
    }
  } else {
    io.run();
  }
  return rc;
}

}  // namespace

void add_run_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Start a modem and serve it until Ctrl-C");
  cmd->footer(
      "With no options: the default scenario, a short, visible version of field failure F1: a Quectel\n"
      "EG12 on firmware EG12EAPAR01A09M4G on local pseudo-terminals, its USB reset loop compressed to\n"
      "about one reset a minute, fixed at 5 minutes by flashing EG12EAPAR01A12M4G; it ends after 12\n"
      "minutes with a verdict per expectation. Give --profile (or --scenario) for anything else.\n\n"
      "Examples:\n"
      "  modemu run\n"
      "  modemu run --profile quectel-ec25 --dev-dir /tmp/ec25     then: chat/minicom on /tmp/ec25/ttyUSB2\n"
      "  modemu run --profile ./my-module.txtpb --json --event-log events.jsonl\n"
      "  modemu run --time-scale 0.05 --duration 30s               boot and resets 20 times faster\n"
      "  modemu run --qmi-proxy --dev-dir /tmp/m                    then: qmicli -p -d /tmp/m/cdc-wdm0 --dms-get-ids\n"
      "  modemu run -t usbredir --listen unix:/tmp/ec25.sock --pcap ec25.pcap\n"
      "      then: qemu-system-x86_64 ... -device qemu-xhci -chardev socket,id=m,path=/tmp/ec25.sock,reconnect=1\n"
      "            -device usb-redir,chardev=m\n"
      "  modemu run -t usbip --listen 0.0.0.0:3240 --profile quectel-ec25\n"
      "      then, on the host (a router): modprobe vhci-hcd; usbip attach -r SERVER -b 1-1\n"
      "  modemu run -p quectel-ec25 -t gadget --udc usbip-vudc.0      (as root; see docs/gadget.md)\n\n"
      "Local ports are named like the Linux nodes of the real module (Quectel: ttyUSB0 DM, ttyUSB1\n"
      "NMEA, ttyUSB2 AT, ttyUSB3 AT/modem; Sierra: ttyUSB0 DM, ttyUSB1 NMEA, ttyUSB2 AT), and\n"
      "cdc-wdm0 (cdc-wdm1 on Sierra) is the QMI control channel as raw QMUX (qmicli --device-open-qmi).\n"
      "They vanish while the module resets or is off, and come back when it is up again.");
  cmd->add_option("--profile,-p", o->profile, "Module profile: a name (see `modemu profiles list`) or a .txtpb file")
      ->capture_default_str();
  cmd->add_option("--transport,-t", o->transport,
                  "How the host reaches the modem: local (pseudo-terminals), usbredir (a QEMU guest's USB, "
                  "with --listen), usbip (any Linux host with vhci_hcd: `usbip attach -r SERVER -b 1-1`; every "
                  "modem is a bus id 1-1, 1-2, ...; a reset closes the connection and the host attaches "
                  "again), gadget (a USB gadget on this machine's device controller, through configfs and "
                  "FunctionFS; root), none (only the scenario's scripted host)")
      ->check(CLI::IsMember({"local", "usbredir", "usbip", "gadget", "none"}))
      ->capture_default_str();
  cmd->add_option("--listen", o->listen,
                  "Where a USB transport listens: usbredir: unix:PATH or tcp:HOST:PORT; usbip: HOST:PORT, default "
                  "127.0.0.1:3240 (0.0.0.0:3240 for a router on the network). HOST defaults to 127.0.0.1");
  cmd->add_option("--usb2tcp", o->usb2tcp,
                  "Serve the DM interface, and the EDL interface after the switch, over QFirehose's TCP framing "
                  "on ADDR:PORT, a numeric IPv4 address (QFirehose -p ADDR:9008); works beside --transport")
      ->type_name("ADDR:PORT");
  cmd->add_option("--udc", o->udc,
                  "With --transport gadget: the USB device controller to bind (a name in /sys/class/udc); "
                  "default: the only one there")
      ->type_name("NAME");
  cmd->add_option("--gadget-interfaces", o->gadget_interfaces,
                  "With --transport gadget: serve only these interfaces of each composition (e.g. 2,4: AT and QMI "
                  "of a Quectel module), numbered 0, 1, ... on the bus; for controllers with few endpoints such as "
                  "dummy_hcd. A composition with none of them (EDL) is served whole")
      ->type_name("N,N,...");
  cmd->add_option("--pcap", o->pcap, "Write every USB transfer to FILE (usbmon pcap, for Wireshark / tshark)");
  cmd->add_option("--dev-dir", o->dev_dir,
                  "Directory for the port links (ttyUSB0 ...); default: STATE-DIR/ID/dev");
  cmd->add_option("--state-dir", o->state_dir,
                  "Where modems keep their state, one subdirectory per modem id; default: "
                  "$XDG_STATE_HOME/modemu or ~/.local/state/modemu");
  cmd->add_option("--id", o->id, "Modem id (names its state directory and its events); default: the profile name");
  cmd->add_option("--firmware", o->firmware,
                  "Firmware version from the profile's catalogue; default: the profile's. On modules with a flash "
                  "model it is what a blank flash is factory-programmed with: afterwards the version is read "
                  "from the flashed images");
  cmd->add_option("--time-scale", o->time_scale,
                  "Multiply every module delay (boot, reset, registration) by this factor, e.g. 0.05")
      ->check(CLI::Range(0.0001, 100.0))
      ->capture_default_str();
  cmd->add_option("--event-log", o->event_log, "Also append every event to FILE as JSON lines");
  cmd->add_option("--duration", o->duration, "Stop by itself after this time (e.g. 30s, 5m)");
  cmd->add_option("--scenario", o->scenario,
                  "Run a scenario file (scenarios/fNN-*.txtpb): its modems, faults, actions and expectations; "
                  "the run ends with the scenario")
      ->type_name("FILE");
  cmd->add_flag("--check", o->check,
                "With --scenario: print a verdict per expectation and exit 0 only if every one held");
  cmd->add_option("--speed", o->speed, "Run the clock N times faster than real time (a 4 h period in 14 s at 1000)")
      ->check(CLI::Range(0.001, 1e6))
      ->capture_default_str();
  cmd->add_flag("--virtual-time", o->virtual_time,
                "Virtual time: jump to the next timer whenever nothing else is ready (a 24 h scenario with local "
                "or scripted clients finishes in seconds; not with a real kernel)");
  cmd->add_option("--power-cut-after-program", o->power_cut_after_program,
                  "Cut the power once Firehose has written SIZE bytes of program data (e.g. 300K): an update "
                  "interrupted at that point. SIGUSR1 cuts the power at any moment")
      ->type_name("SIZE");
  cmd->add_option("--power-off-time", o->power_off_time,
                  "How long the power stays off after a cut before the module powers on again, or \"never\"")
      ->capture_default_str();
  cmd->add_option("--data-fault", o->data_faults,
                  "A fault on the packet data path, from the start (repeatable): no-downlink (connected, uplink "
                  "counted, nothing returned), silence (nothing at all, USB stays up), latency=DURATION, "
                  "loss=P[,seed=N], cap=RATE (1000kbit, 2mbit), drop=DURATION[,reason=R][,cid=N] (the network ends "
                  "each session, or with cid the one on context N, after DURATION; R: network-failure, "
                  "regular-deactivation, reactivation-requested, insufficient-resources, operator-barring, "
                  "no-service, 3gpp:N)")
      ->type_name("SPEC");
  cmd->add_option("--data-tun", o->data_tun,
                  "Carry the data sessions' IP traffic to a TUN device of this name on this machine instead of "
                  "the built-in network (needs /dev/net/tun and CAP_NET_ADMIN). The device is created down "
                  "and without addresses: bring it up and route the sessions' addresses to it, e.g. in a "
                  "network namespace (ip link set NAME up; ip route add 10.64.17.40/30 dev NAME)")
      ->type_name("NAME");
  cmd->add_flag("--qmi-proxy", o->qmi_proxy,
                "Also serve libqmi's qmi-proxy protocol on the abstract unix socket \"qmi-proxy\", so that "
                "`qmicli -p -d DIR/cdc-wdm0 ...` works (private inside `unshare -n`)");
  cmd->add_flag("--show-personal-info", o->show_personal,
                "Print personal fields (IMEI, IMSI, ICCID, MSISDN) in logged QMI messages; they show as "
                "<personal> otherwise");
  cmd->add_flag("--json", o->json, "Print events as JSON lines instead of text");
  cmd->add_flag("--quiet,-q", o->quiet, "Print no events");
  cmd->callback([o, cmd, &action] {
    o->default_scenario = cmd->count("--profile") == 0 && cmd->count("--scenario") == 0 && cmd->count("--firmware") == 0 &&
                          cmd->count("--id") == 0 && o->transport == "local";
    action = [o] { return run(*o); };
  });
}

}  // namespace modemu::cli
