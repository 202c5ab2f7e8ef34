#pragma once
// Test support: a modem under virtual time, and an AT client on one of its ports.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emulator/clock.hpp"
#include "emulator/event_log.hpp"
#include "emulator/modem.hpp"
#include "emulator/profile.hpp"

namespace modemu::test {

struct VirtualModem {
  emulator::VirtualClock clock;
  emulator::EventLog log{clock};
  std::unique_ptr<emulator::Modem> modem;

  explicit VirtualModem(const std::string& profile_name, std::optional<std::filesystem::path> state_root = {},
                        std::string firmware = {}) {
    emulator::ModemOptions o;
    o.id = "m1";
    o.profile = emulator::load_profile(profile_name);
    o.state_root = std::move(state_root);
    o.firmware_version = std::move(firmware);
    modem = std::make_unique<emulator::Modem>(std::move(o), clock, log);
  }

  // Power on and let ten virtual minutes pass: booted, ready and registered. (Not "until idle":
  // a firmware trait such as a reset loop keeps a timer set for ever.)
  void boot() {
    modem->power_on("test");
    const auto deadline = clock.now() + std::chrono::minutes(10);
    while (clock.next_due() && *clock.next_due() <= deadline) clock.run_next();
  }

  std::vector<std::string> kinds() const {
    std::vector<std::string> out;
    for (const auto& e : log.history()) out.push_back(e.kind);
    return out;
  }

  std::size_t count(std::string_view kind) const {
    std::size_t n = 0;
    for (const auto& e : log.history()) n += e.kind == kind ? 1 : 0;
    return n;
  }
};

// Talks to a port by node name; re-attaches after the modem re-enumerates.
struct AtClient {
  emulator::Modem& modem;
  std::string node;
  std::string out;
  emulator::Port* attached = nullptr;
  std::uint32_t attached_boot = 0;  // a re-created port may reuse the old one's address

  AtClient(emulator::Modem& m, std::string node_name) : modem(m), node(std::move(node_name)) { attach(); }

  bool attach() {
    attached_boot = modem.state().boot_count;
    attached = modem.port_by_node(node);
    if (attached == nullptr) return false;
    attached->set_sink([this](std::string_view b) { out.append(b); });
    attached->host_opened();
    return true;
  }

  bool current() const { return attached != nullptr && attached_boot == modem.state().boot_count; }

  // Sends one command line and returns everything the port wrote in answer.
  std::string cmd(const std::string& line) {
    if (!current() && !attach()) return "<no port>";
    out.clear();
    attached->from_host(line + "\r");
    return out;
  }
};

}  // namespace modemu::test
