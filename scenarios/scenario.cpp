#include "scenarios/scenario.hpp"

#include <fmt/format.h>

#include "emulator/faults/faults.hpp"
#include "emulator/profile.hpp"
#include "protocols/net/address.hpp"

namespace modemu::scenarios {

namespace pb = google::protobuf;
using emulator::Duration;

const std::set<std::string>& known_event_kinds() {
  static const std::set<std::string> kinds = {
      "api", "at", "at.unsupported", "boot", "data.context", "data.counters", "data.dhcp", "data.drop", "data.dropped",
      "data.fault", "data.session", "data.tun",
      "usb.gadget",
      "diag", "diag.framing", "error", "fault", "fault.end", "fault.refused", "fault.trait", "firehose",
      "firehose.progress", "flash", "host", "host.ping", "nv", "port.error", "port.open", "port.overflow", "port.up", "ports",
      "qdl", "qdl.progress",
      "power", "power.functionality", "power.refused", "power.restore", "qmi", "qmi.framing", "qmi.invalid",
      "qmi.malformed", "qmi.proxy", "qmi.silence", "qmi.swallowed", "radio.cell", "radio.registration",
      "radio.signal", "ready", "sahara", "scenario", "sierra.download", "sierra.preference", "sierra.storage", "sim",
      "start", "stop", "transport", "usb.missing", "usb.plug", "usb.stall",
      "usb.unplug", "usb.usbredir", "usb2tcp", "wds"};
  return kinds;
}

Duration scenario_duration(const std::string& text, Duration fallback) {
  if (text.empty()) return fallback;
  Duration d{};
  emulator::parse_duration(text, d);
  return d;
}

namespace {

const pb::Descriptor* root() { return scenario::Scenario::descriptor(); }

void check_time(const emulator::Locator& at, std::initializer_list<std::pair<const char*, int>> path,
                const std::string& text, bool required = false) {
  if (text.empty()) {
    if (required) at.fail(root(), path, "is missing (a duration such as 90s, 2h)");
    return;
  }
  Duration d{};
  if (!emulator::parse_duration(text, d) || d < Duration::zero()) {
    at.fail(root(), path, fmt::format("\"{}\" is not a duration (examples: 90s, 7.5s, 4h)", text));
  }
}

// An expectation's event pattern: expectations[i].<which>.
void check_match(const emulator::Locator& at, int i, const char* which, const scenario::Match& m,
                 const std::set<std::string>& ids) {
  if (m.kind().empty()) at.fail(root(), {{"expectations", i}, {which, 0}, {"kind", 0}}, "is missing (an event kind, e.g. usb.plug)");
  if (known_event_kinds().count(m.kind()) == 0) {
    at.fail(root(), {{"expectations", i}, {which, 0}, {"kind", 0}},
            fmt::format("\"{}\" is not an event kind the emulator emits", m.kind()));
  }
  if (!m.modem().empty() && ids.count(m.modem()) == 0) {
    at.fail(root(), {{"expectations", i}, {which, 0}, {"modem", 0}}, fmt::format("no modem \"{}\"", m.modem()));
  }
  for (const auto& [key, low] : m.at_least()) {
    if (key.empty()) at.fail(root(), {{"expectations", i}, {which, 0}, {"at_least", 0}}, "names no field");
    auto high = m.at_most().find(key);
    if (high != m.at_most().end() && high->second < low) {
      at.fail(root(), {{"expectations", i}, {which, 0}, {"at_most", 0}},
              fmt::format("field \"{}\": at_most {} is below at_least {}: nothing can match", key, high->second, low));
    }
  }
  for (const auto& [key, high] : m.at_most()) {
    if (key.empty()) at.fail(root(), {{"expectations", i}, {which, 0}, {"at_most", 0}}, "names no field");
  }
}

void validate(const scenario::Scenario& s, const emulator::Locator& at) {
  check_time(at, {{"duration", 0}}, s.duration(), true);
  if (s.modems_size() == 0) at.fail(root(), {{"modems", 0}}, "a scenario needs at least one modem");
  std::set<std::string> ids;
  std::map<std::string, profile::Profile> profiles;
  for (int i = 0; i < s.modems_size(); ++i) {
    const auto& m = s.modems(i);
    if (m.profile().empty()) at.fail(root(), {{"modems", i}, {"profile", 0}}, "is missing");
    profile::Profile p;
    try {
      p = emulator::load_profile(m.profile());
    } catch (const std::exception& e) {
      at.fail(root(), {{"modems", i}, {"profile", 0}}, e.what());
    }
    std::string id = m.id().empty() ? p.name() : m.id();
    if (!ids.insert(id).second) at.fail(root(), {{"modems", i}, {"id", 0}}, fmt::format("id \"{}\" is used twice", id));
    if (!m.firmware().empty() && emulator::find_firmware(p, m.firmware()) == nullptr) {
      at.fail(root(), {{"modems", i}, {"firmware", 0}},
              fmt::format("\"{}\" is not in the catalogue of {}", m.firmware(), p.name()));
    }
    profile::SimState sim{};
    if (!m.sim().empty() && !profile::SimState_Parse(m.sim(), &sim)) {
      at.fail(root(), {{"modems", i}, {"sim", 0}}, fmt::format("\"{}\" is not a SIM state (SIM_READY, SIM_ABSENT, ...)", m.sim()));
    }
    if (m.flash() != scenario::FLASH_FACTORY && !p.has_flash()) {
      at.fail(root(), {{"modems", i}, {"flash", 0}}, fmt::format("profile {} has no flash model", p.name()));
    }
    if (m.time_scale() < 0) at.fail(root(), {{"modems", i}, {"time_scale", 0}}, "must not be negative");
    profiles[id] = std::move(p);
  }
  auto target_ok = [&](const std::string& modem) { return modem.empty() ? ids.size() == 1 : ids.count(modem) != 0; };
  for (int i = 0; i < s.faults_size(); ++i) {
    const auto& f = s.faults(i);
    const auto* type = emulator::faults::find(f.type());
    if (type == nullptr) {
      at.fail(root(), {{"faults", i}, {"type", 0}},
              fmt::format("unknown fault \"{}\" (modemu scenario faults lists them)", f.type()));
    }
    if (!target_ok(f.modem())) {
      at.fail(root(), {{"faults", i}, {"modem", 0}},
              f.modem().empty() ? "several modems: say which one" : fmt::format("no modem \"{}\"", f.modem()));
    }
    emulator::faults::Params params(f.params().begin(), f.params().end());
    if (auto why = emulator::faults::check(*type, params); !why.empty()) at.fail(root(), {{"faults", i}, {"params", 0}}, why);
    check_time(at, {{"faults", i}, {"start", 0}}, f.start());
    check_time(at, {{"faults", i}, {"duration", 0}}, f.duration());
    check_time(at, {{"faults", i}, {"period", 0}}, f.period());
    if (!f.period().empty() && scenario_duration(f.period()) <= Duration::zero()) {
      at.fail(root(), {{"faults", i}, {"period", 0}}, "must be longer than zero");
    }
    if (f.probability() < 0 || f.probability() > 1) at.fail(root(), {{"faults", i}, {"probability", 0}}, "must be 0..1");
  }
  for (int i = 0; i < s.actions_size(); ++i) {
    const auto& a = s.actions(i);
    check_time(at, {{"actions", i}, {"at", 0}}, a.at(), true);
    if (!target_ok(a.modem())) at.fail(root(), {{"actions", i}, {"modem", 0}}, "no such modem (or several: say which)");
    switch (a.action_case()) {
      case scenario::Action::kPower:
        if (a.power() != "on" && a.power() != "off" && a.power() != "reset" && a.power() != "cycle") {
          at.fail(root(), {{"actions", i}, {"power", 0}}, "must be on, off, reset or cycle");
        }
        break;
      case scenario::Action::kFlash: {
        const auto& p = profiles[a.modem().empty() ? *ids.begin() : a.modem()];
        if (!p.has_flash() && !p.has_sierra()) {
          at.fail(root(), {{"actions", i}, {"flash", 0}}, fmt::format("profile {} has no flash model", p.name()));
        }
        if (emulator::find_firmware(p, a.flash().version()) == nullptr) {
          at.fail(root(), {{"actions", i}, {"flash", 0}},
                  fmt::format("version \"{}\" is not in the catalogue of {}", a.flash().version(), p.name()));
        }
        break;
      }
      case scenario::Action::kAtCommand:
        if (a.at_command().empty()) at.fail(root(), {{"actions", i}, {"at_command", 0}}, "is empty");
        break;
      case scenario::Action::kPing: {
        const auto& ping = a.ping();
        if (ping.target() != "gateway" && !protocols::net::parse_ipv4(ping.target())) {
          at.fail(root(), {{"actions", i}, {"ping", 0}, {"target", 0}},
                  fmt::format("\"{}\" is neither \"gateway\" nor an IPv4 address", ping.target()));
        }
        if (ping.count() > 1000) at.fail(root(), {{"actions", i}, {"ping", 0}, {"count", 0}}, "must be at most 1000");
        check_time(at, {{"actions", i}, {"ping", 0}, {"interval", 0}}, ping.interval());
        check_time(at, {{"actions", i}, {"ping", 0}, {"timeout", 0}}, ping.timeout());
        break;
      }
      default:
        at.fail(root(), {{"actions", i}}, "says nothing to do (power, flash, at_command or ping)");
    }
  }
  for (int i = 0; i < s.expectations_size(); ++i) {
    const auto& e = s.expectations(i);
    if (e.name().empty()) at.fail(root(), {{"expectations", i}, {"name", 0}}, "is missing (say what is checked)");
    if (e.has_after()) check_match(at, i, "after", e.after(), ids);
    switch (e.check_case()) {
      case scenario::Expectation::kWithinEvent:
        check_match(at, i, "within_event", e.within_event(), ids);
        check_time(at, {{"expectations", i}, {"time", 0}}, e.time(), true);
        break;
      case scenario::Expectation::kNever:
        check_match(at, i, "never", e.never(), ids);
        check_time(at, {{"expectations", i}, {"time", 0}}, e.time());
        break;
      case scenario::Expectation::kEventually:
        check_match(at, i, "eventually", e.eventually(), ids);
        break;
      default:
        at.fail(root(), {{"expectations", i}}, "checks nothing (within_event, never or eventually)");
    }
  }
}

}  // namespace

scenario::Scenario parse_scenario(std::string_view text, const std::string& origin) {
  scenario::Scenario s;
  pb::TextFormat::ParseInfoTree tree;
  emulator::parse_text_proto(text, origin, s, tree);
  validate(s, emulator::Locator(origin, tree));
  return s;
}

void check_scenario(const scenario::Scenario& s, const std::string& origin) {
  pb::TextFormat::ParseInfoTree no_locations;
  validate(s, emulator::Locator(origin, no_locations));
}

scenario::Scenario load_scenario(const std::filesystem::path& file) {
  return parse_scenario(emulator::read_text_file(file), file.string());
}

}  // namespace modemu::scenarios
