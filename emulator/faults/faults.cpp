#include "emulator/faults/faults.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "emulator/data/data_service.hpp"
#include "emulator/modem.hpp"
#include "emulator/sierra/store.hpp"

namespace modemu::emulator::faults {

namespace {

// A lasting fault whose end is one undo action.
class Undo final : public ActiveFault {
 public:
  explicit Undo(std::function<void()> undo) : undo_(std::move(undo)) {}
  ~Undo() override {
    if (undo_) undo_();
  }

 private:
  std::function<void()> undo_;
};

std::unique_ptr<ActiveFault> undo(std::function<void()> fn) { return std::make_unique<Undo>(std::move(fn)); }

// F1: the module drops off USB every period (+- jitter) and re-enumerates after the downtime.
class ResetLoop final : public ActiveFault {
 public:
  ResetLoop(Modem& modem, Duration period, Duration jitter, Duration downtime, Rng& rng)
      : modem_(modem), period_(period), jitter_(jitter), downtime_(downtime), rng_(rng()), timer_(modem.clock()) {
    arm();
  }

 private:
  void arm() {
    std::int64_t j = jitter_.count();
    std::int64_t offset = j > 0 ? std::uniform_int_distribution<std::int64_t>(-j, j)(rng_) : 0;
    Duration next = std::max(period_ + Duration(offset), Duration(std::chrono::seconds(1)));
    timer_.start(next, [this] {
      if (modem_.power_state() == PowerState::kApplication) {
        modem_.reset_for("USB reset loop (firmware fault)", downtime_);
      }
      arm();
    });
  }

  Modem& modem_;
  Duration period_, jitter_, downtime_;
  Rng rng_;
  Timer timer_;
};

// F3 / F9 (sierra-qdl.md): the module boots into boot-and-hold every time; with `flap`, its QDL
// loader drops off the bus after that long and comes back ("appears and disappears within a
// second").
class SierraBootHold final : public ActiveFault, public DeviceObserver {
 public:
  SierraBootHold(Modem& modem, Duration flap) : modem_(modem), flap_(flap), timer_(modem.clock()) {
    modem_.add_observer(this);
    modem_.force_boot_mode(profile::SIERRA_BOOT_HOLD, "stuck in boot-and-hold (fault)");
  }
  ~SierraBootHold() override {
    modem_.remove_observer(this);
    modem_.force_boot_mode(std::nullopt, "boot-and-hold fault ended");
  }
  void on_plug(Modem& m) override {
    if (flap_ <= Duration::zero() || m.power_state() != PowerState::kSierraBootHold) return;
    timer_.start(flap_, [this] {
      if (modem_.power_state() == PowerState::kSierraBootHold) modem_.reset_for("the QDL loader drops off the bus (fault)", flap_);
    });
  }
  void on_unplug(Modem&) override {}

 private:
  Modem& modem_;
  Duration flap_;
  Timer timer_;
};

profile::SimState sim_state(const std::string& word) {
  if (word == "removed") return profile::SIM_ABSENT;
  if (word == "error") return profile::SIM_ERROR;
  if (word == "uninitialised") return profile::SIM_BUSY;
  if (word == "illegal") return profile::SIM_ILLEGAL;
  return profile::SIM_READY;
}

profile::BootMode boot_mode(const std::string& word) {
  if (word == "edl") return profile::EDL;
  if (word == "download") return profile::QUECTEL_DOWNLOAD;
  return profile::SIERRA_BOOT_HOLD;
}

// Changes one aspect of the data path's faults and, when the fault ends, clears that aspect only
// (other data faults may be in force meanwhile).
std::unique_ptr<ActiveFault> data_fault(Modem& m, const std::string& name, const std::function<void(DataFaults&)>& set,
                                        const std::function<void(DataFaults&)>& clear) {
  DataFaults f = m.data().faults();
  set(f);
  m.data().set_faults(f, name + " (fault)");
  return undo([&m, name, clear] {
    DataFaults now = m.data().faults();
    clear(now);
    m.data().set_faults(now, name + " fault ended");
  });
}

std::vector<FaultType> build() {
  std::vector<FaultType> r;
  r.push_back({"power_cut", "the supply fails: now, or at a point of a Sahara or Firehose session or of a Sierra QDL image",
      "F2, F3", {
      {"point", "now|firehose_program|sahara_upload|qdl_image",
       "when: at the fault's start, into the Nth Firehose program command, into the programmer's Sahara upload, or "
       "into the Nth image of a QDL download", "now"},
      {"percent", "percent", "with point=firehose_program, sahara_upload or qdl_image: how far into it", "50"},
      {"program", "number", "with point=firehose_program: which program command of the session (1 = first)", "1"},
      {"image", "number", "with point=qdl_image: which image of the QDL session (1 = the first OPEN)", "1"},
      {"off_time", "duration", "how long the power stays off before it returns", "2s"}},
      false, [](Modem& m, const Params& p, Rng&) -> std::unique_ptr<ActiveFault> {
        m.set_power_restore(duration_param(p, "off_time"));
        if (p.at("point") == "now") {
          m.power_cut("power cut (fault)");
        } else if (p.at("point") == "sahara_upload") {
          m.edl_faults().cut_at_sahara_percent = number_param(p, "percent");
        } else if (p.at("point") == "qdl_image") {
          m.edl_faults().cut_at_qdl_percent = number_param(p, "percent");
          m.edl_faults().cut_qdl_image_index = static_cast<std::uint32_t>(number_param(p, "image"));
        } else {
          m.edl_faults().cut_at_program_percent = number_param(p, "percent");
          m.edl_faults().cut_program_index = static_cast<std::uint32_t>(number_param(p, "program"));
        }
        return nullptr;
      }});
  r.push_back({"usb_reset_loop", "the module drops off USB every period and re-enumerates after the downtime", "F1", {
      {"period", "duration", "time between resets", "4h"},
      {"jitter", "duration", "each period varies by up to this much either way", "0s"},
      {"downtime", "duration", "time off the bus", "7.5s"}},
      true, [](Modem& m, const Params& p, Rng& rng) -> std::unique_ptr<ActiveFault> {
        return std::make_unique<ResetLoop>(m, duration_param(p, "period"), duration_param(p, "jitter"),
                                           duration_param(p, "downtime"), rng);
      }});
  r.push_back({"dead_module", "the module never enumerates (neither application nor 9008)", "F5", {}, true,
               [](Modem& m, const Params&, Rng&) {
                 m.die("dead module (fault)");
                 return undo([&m] { m.revive("dead module fault ended"); });
               }});
  r.push_back({"stuck_mode", "every boot ends in a boot mode: EDL, Quectel download, Sierra boot-and-hold (upgrade)",
               "F2, F3, F9", {{"mode", "edl|download|boot_hold", "the mode the module is held in", "edl"}}, true,
               [](Modem& m, const Params& p, Rng&) {
                 m.force_boot_mode(boot_mode(p.at("mode")), "stuck in " + p.at("mode") + " mode (fault)");
                 return undo([&m] { m.force_boot_mode(std::nullopt, "stuck mode fault ended"); });
               }});
  r.push_back({"qmi_silence", "QMI requests go unanswered while USB and cdc-wdm stay up", "F12", {}, true,
               [](Modem& m, const Params&, Rng&) {
                 m.set_qmi_silent(true, "fault");
                 return undo([&m] { m.set_qmi_silent(false, "fault ended"); });
               }});
  r.push_back({"sim", "the card is removed, in error, uninitialised or in an illegal application state", "F8",
               {{"state", "removed|error|uninitialised|illegal", "what the module sees of the card", "removed"}}, true,
               [](Modem& m, const Params& p, Rng&) {
                 profile::SimState before = m.state().sim;
                 m.set_sim_state(sim_state(p.at("state")), "SIM " + p.at("state") + " (fault)");
                 return undo([&m, before] { m.set_sim_state(before, "SIM fault ended"); });
               }});
  r.push_back({"registration_denied", "the network denies registration, at home or while roaming", "F7",
               {{"network", "home|roaming", "where the module tries to register", "home"}}, true,
               [](Modem& m, const Params& p, Rng&) {
                 bool roaming_before = m.network().roaming();
                 m.set_roaming(p.at("network") == "roaming", "registration denied fault");
                 m.set_registration_override(RegStatus::kDenied, "registration denied (fault)");
                 return undo([&m, roaming_before] {
                   m.set_roaming(roaming_before, "registration denied fault ended");
                   m.set_registration_override(std::nullopt, "registration denied fault ended");
                 });
               }});
  r.push_back({"roaming", "the module registers on a roaming network", "F6, F7", {}, true, [](Modem& m, const Params&, Rng&) {
                 m.set_roaming(true, "roaming (fault)");
                 return undo([&m] { m.set_roaming(false, "roaming fault ended"); });
               }});
  r.push_back({"no_downlink", "connected, addresses assigned, packets go out, nothing comes back (roaming by default)",
               "F6", {{"roaming", "bool", "register on a roaming network meanwhile, as in the field", "true"}}, true,
               [](Modem& m, const Params& p, Rng&) -> std::unique_ptr<ActiveFault> {
                 bool roaming = p.at("roaming") == "true";
                 bool roaming_before = m.network().roaming();
                 if (roaming) m.set_roaming(true, "no downlink while roaming (fault)");
                 auto data = data_fault(m, "no_downlink", [](DataFaults& f) { f.no_downlink = true; },
                                        [](DataFaults& f) { f.no_downlink = false; });
                 return undo([&m, roaming, roaming_before, data = std::shared_ptr<ActiveFault>(std::move(data))]() mutable {
                   data.reset();
                   if (roaming) m.set_roaming(roaming_before, "no downlink fault ended");
                 });
               }});
  r.push_back({"data_degradation", "latency, loss and a throughput cap on the data session", "", {
      {"latency", "duration", "added to every round trip", "0s"},
      {"loss", "number", "probability (0..1) that a packet is lost, each way", "0"},
      {"cap_kbit", "number", "throughput cap in kbit/s each way (0: none)", "0"}},
      true, [](Modem& m, const Params& p, Rng& rng) -> std::unique_ptr<ActiveFault> {
        Duration latency = duration_param(p, "latency");
        double loss = std::clamp(number_param(p, "loss"), 0.0, 1.0);
        auto cap = static_cast<std::uint64_t>(number_param(p, "cap_kbit") * 1000);
        std::uint64_t seed = rng();
        return data_fault(
            m, "data_degradation",
            [=](DataFaults& f) {
              f.latency = latency;
              f.loss = loss;
              f.seed = seed;
              f.cap_bps = cap;
            },
            [](DataFaults& f) {
              f.latency = Duration::zero();
              f.loss = 0;
              f.cap_bps = 0;
            });
      }});
  r.push_back({"data_silence", "nothing at all on the data interface, either way; USB and QMI stay up", "F12", {}, true,
               [](Modem& m, const Params&, Rng&) {
                 return data_fault(m, "data_silence", [](DataFaults& f) { f.silence = true; },
                                   [](DataFaults& f) { f.silence = false; });
               }});
  r.push_back({"data_session_drop", "the network ends the data session with a call end reason (WDS indication)", "", {
      {"reason", "network-failure|regular-deactivation|reactivation-requested|insufficient-resources|operator-barring|no-service",
       "the call end reason", "network-failure"},
      {"cid", "number", "which session: its context id (QMAP runs several), 0 for every session", "0"}},
      false, [](Modem& m, const Params& p, Rng&) -> std::unique_ptr<ActiveFault> {
        auto cid = static_cast<std::uint32_t>(std::clamp(number_param(p, "cid"), 0.0, 4294967295.0));
        if (auto reason = parse_call_end_reason(p.at("reason"))) {
          m.data().drop_session(*reason, "session drop (fault)", cid == 0 ? std::nullopt : std::optional<std::uint32_t>(cid));
        }
        return nullptr;
      }});
  r.push_back({"signal", "the radio conditions change", "", {
      {"rsrp", "number", "RSRP in dBm", "-110"}, {"rsrq", "number", "RSRQ in dB", "-15"},
      {"sinr", "number", "SINR in dB", "-2"}, {"rssi", "number", "RSSI in dBm", "-95"}},
      true, [](Modem& m, const Params& p, Rng&) {
        profile::Signal before = m.state().signal;
        profile::Signal s;
        s.set_rsrp_dbm(static_cast<std::int32_t>(number_param(p, "rsrp")));
        s.set_rsrq_db(number_param(p, "rsrq"));
        s.set_sinr_db(number_param(p, "sinr"));
        s.set_rssi_dbm(static_cast<std::int32_t>(number_param(p, "rssi")));
        m.set_signal(s, "signal fault");
        return undo([&m, before] { m.set_signal(before, "signal fault ended"); });
      }});
  r.push_back({"serving_cell", "the module moves to another cell", "", {
      {"cell_id", "number", "E-UTRAN cell id", "", true}, {"tac", "number", "tracking area code", "", true},
      {"pci", "number", "physical cell id", "", true}, {"earfcn", "number", "downlink EARFCN", "", true},
      {"band", "number", "LTE band", "", true}},
      true, [](Modem& m, const Params& p, Rng&) {
        profile::Network before = m.network();
        profile::Network cell;
        auto set = [&](const char* name, auto setter) {
          if (p.count(name) != 0) setter(static_cast<std::uint32_t>(number_param(p, name)));
        };
        set("cell_id", [&](std::uint32_t v) { cell.set_cell_id(v); });
        set("tac", [&](std::uint32_t v) { cell.set_tac(v); });
        set("pci", [&](std::uint32_t v) { cell.set_pci(v); });
        set("earfcn", [&](std::uint32_t v) { cell.set_earfcn(v); });
        set("band", [&](std::uint32_t v) { cell.set_band(v); });
        m.set_serving_cell(cell, "serving cell fault");
        return undo([&m, before] { m.set_serving_cell(before, "serving cell fault ended"); });
      }});
  r.push_back({"firehose_nak", "the programmer refuses the package: start_sector unaligned, or the payload size", "F10",
               {{"reason", "unaligned|payload", "which field NAK", "unaligned"}}, true,
               [](Modem& m, const Params& p, Rng&) {
                 m.edl_faults().firehose_nak = p.at("reason");
                 return undo([&m] { m.edl_faults().firehose_nak.clear(); });
               }});
  r.push_back({"qdl_sdp_reply", "the Sierra boot loader answers the DLOAD SDP probe with another byte "
               "(\"unexpected response received in dload sdp: 0x13\")", "F9",
               {{"reply", "number", "the byte it answers (decimal; 19 = 0x13)", "19"}}, true,
               [](Modem& m, const Params& p, Rng&) {
                 m.edl_faults().qdl_sdp_reply = static_cast<int>(number_param(p, "reply")) & 0xff;
                 return undo([&m] { m.edl_faults().qdl_sdp_reply = -1; });
               }});
  r.push_back({"sahara_desync", "the bootloader answers HELLO_RESP with END_IMAGE_TX (\"a different q_cmd: 4\")", "F11", {},
               true, [](Modem& m, const Params&, Rng&) {
                 m.edl_faults().sahara_desync = true;
                 return undo([&m] { m.edl_faults().sahara_desync = false; });
               }});
  r.push_back({"sierra_boot_hold", "a Sierra module boots into boot-and-hold (upgrade mode) every time; optionally "
               "its loader keeps dropping off the bus", "F3, F9",
               {{"flap", "duration", "0s: stays on the bus; else off the bus after this long, back after as long", "0s"}}, true,
               [](Modem& m, const Params& p, Rng&) -> std::unique_ptr<ActiveFault> {
                 if (m.sierra_store() == nullptr) throw std::invalid_argument("sierra_boot_hold needs a Sierra profile");
                 return std::make_unique<SierraBootHold>(m, duration_param(p, "flap"));
               }});
  r.push_back({"firmware_preference_mismatch", "the Sierra firmware preference names an image that is not stored: the "
               "module runs in low-power mode, SIM and radio off, after its next reset", "F9", {
      {"image", "modem|pri", "which image of the preference is missing", "modem"},
      {"reset", "bool", "reset the module now so that the preference takes effect", "true"}},
      true, [](Modem& m, const Params& p, Rng&) -> std::unique_ptr<ActiveFault> {
        auto* store = m.sierra_store();
        if (store == nullptr) throw std::invalid_argument("firmware_preference_mismatch needs a Sierra profile");
        profile::SierraImagePair before = store->state().preference();
        profile::SierraImagePair pref = before;
        if (p.at("image") == "modem") {
          pref.set_modem_build("99.99.99.99_?");  // a release this module never had
        } else {
          pref.set_pri_unique("999.999_999");
        }
        store->force_preference(pref, "preference mismatch (fault)");
        if (p.at("reset") == "true" && m.power_state() == PowerState::kApplication) m.reset("preference mismatch (fault)");
        return undo([&m, before] {
          if (auto* s = m.sierra_store()) s->force_preference(before, "preference mismatch fault ended");
        });
      }});
  r.push_back({"malformed_image_info", "DMS List Stored Images / Get Stored Image Info answer a carrier image with an "
               "empty version field (\"Malformed image string: ['', '001.000_000']\"); a reflash repairs it", "F4", {}, true,
               [](Modem& m, const Params&, Rng&) -> std::unique_ptr<ActiveFault> {
                 if (m.sierra_store() == nullptr) throw std::invalid_argument("malformed_image_info needs a Sierra profile");
                 m.sierra_faults().malformed_image_info = true;
                 m.sierra_faults().malformed_at_installs = m.sierra_store()->installs();
                 return undo([&m] { m.sierra_faults().malformed_image_info = false; });
               }});
  return r;
}

bool valid_value(const ParamSpec& spec, const std::string& value) {
  if (spec.kind == "duration") {
    Duration d{};
    return parse_duration(value, d) && d >= Duration::zero();
  }
  if (spec.kind == "number" || spec.kind == "percent") {
    try {
      std::size_t used = 0;
      double v = std::stod(value, &used);
      if (used != value.size()) return false;
      return spec.kind != "percent" || (v >= 0 && v <= 100);
    } catch (const std::exception&) {
      return false;
    }
  }
  if (spec.kind == "bool") return value == "true" || value == "false";
  std::string_view words = spec.kind;
  while (!words.empty()) {
    auto bar = words.find('|');
    if (words.substr(0, bar) == value) return true;
    if (bar == std::string_view::npos) break;
    words.remove_prefix(bar + 1);
  }
  return false;
}

std::string expected(const ParamSpec& spec) {
  if (spec.kind == "duration") return "a duration such as 30s, 7.5s, 4h";
  if (spec.kind == "number") return "a number";
  if (spec.kind == "percent") return "a number from 0 to 100";
  if (spec.kind == "bool") return "true or false";
  std::string words = spec.kind;
  std::replace(words.begin(), words.end(), '|', ',');
  return "one of " + words;
}

}  // namespace

const std::vector<FaultType>& registry() {
  static const std::vector<FaultType> types = build();
  return types;
}

const FaultType* find(std::string_view name) {
  for (const auto& t : registry()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::string check(const FaultType& type, Params& params) {
  for (const auto& [name, value] : params) {
    auto it = std::find_if(type.params.begin(), type.params.end(), [&](const ParamSpec& s) { return s.name == name; });
    if (it == type.params.end()) {
      std::string known;
      for (const auto& s : type.params) known += (known.empty() ? "" : ", ") + s.name;
      return fmt::format("fault {} has no parameter \"{}\" (parameters: {})", type.name, name,
                         known.empty() ? "none" : known);
    }
    if (!valid_value(*it, value)) {
      return fmt::format("fault {} parameter {}: \"{}\" is not {}", type.name, name, value, expected(*it));
    }
  }
  for (const auto& s : type.params) {
    if (params.count(s.name) != 0) continue;
    if (!s.default_value.empty()) {
      params[s.name] = s.default_value;
    } else if (!s.optional) {
      return fmt::format("fault {} needs parameter {} ({})", type.name, s.name, s.help);
    }
  }
  return {};
}

Duration duration_param(const Params& p, const std::string& name) {
  Duration d{};
  parse_duration(p.at(name), d);
  return d;
}

double number_param(const Params& p, const std::string& name) { return std::stod(p.at(name)); }

std::unique_ptr<ActiveFault> activate(Modem& modem, const std::string& type_name, Params params, Rng& rng) {
  const FaultType* type = find(type_name);
  if (type == nullptr) throw std::invalid_argument(fmt::format("unknown fault \"{}\" (modemu scenario faults lists them)", type_name));
  if (auto why = check(*type, params); !why.empty()) throw std::invalid_argument(why);
  modem.event("fault", fmt::format("{} starts", type->name), {{"fault", type->name}});
  return type->apply(modem, params, rng);
}

}  // namespace modemu::emulator::faults
