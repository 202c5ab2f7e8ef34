// Sierra Wireless extensions (AirPrime MC/EM74xx AT Command Reference; at-commands.md).
// Privileged commands need AT!ENTERCND="<password>" first; reads do not.
#include <fmt/format.h>

#include "emulator/at/at_port.hpp"
#include "emulator/at/commands.hpp"
#include "emulator/modem.hpp"
#include "emulator/profile.hpp"
#include "emulator/sierra/store.hpp"

namespace modemu::emulator {

namespace at = protocols::at;
using at::CommandKind;

namespace {

// !USBCOMP interface bits (usb-identities.md).
std::string usbcomp_names(std::uint32_t mask) {
  static constexpr std::pair<std::uint32_t, const char*> kBits[] = {
      {0x1, "diag"}, {0x2, "adb"}, {0x4, "nmea"}, {0x8, "modem"}, {0x100, "rmnet0"}, {0x400, "rmnet1"}, {0x1000, "mbim"}};
  std::string out;
  for (auto [bit, name] : kBits) {
    if (mask & bit) out += (out.empty() ? "" : ",") + std::string(name);
  }
  return out;
}

std::string rrc_state(const Modem& m) {
  for (const auto& [cid, ctx] : m.state().contexts) {
    if (ctx.active) return "RRC Connected";
  }
  return "RRC Idle";
}

}  // namespace

void register_sierra_commands(AtCommandTable& t) {
  // !ENTERCND="<password>": unlock the privileged commands until the next reset.
  t.add("!ENTERCND", [](AtCall& c) {
    if (c.kind() != CommandKind::kSet || c.argc() != 1) return at::Outcome::error();
    return to_outcome(c.modem.unlock_vendor_commands(c.arg(0).text));
  });
  // !GSTATUS? -> the module's status block; "LOW POWER MODE" while the radio is off.
  t.add("!GSTATUS", [](AtCall& c) {
    if (c.kind() != CommandKind::kRead && c.kind() != CommandKind::kAction) return at::Outcome::error();
    const auto& net = c.modem.network();
    const auto& s = c.modem.state().signal;
    bool online = c.modem.radio_on();
    bool reg = c.modem.registered();
    double seconds = std::chrono::duration<double>(c.modem.clock().elapsed()).count();
    c.reply("!GSTATUS: ");
    c.reply(fmt::format("Current Time:  {}\t\tTemperature: {}", static_cast<long>(seconds), net.temperature_c()));
    c.reply(fmt::format("Reset Counter: {}\t\tMode:        {}", c.modem.state().boot_count,
                        online ? "ONLINE" : "LOW POWER MODE"));
    c.reply(fmt::format("System mode:   {}\t\tPS state:    {}", reg ? "LTE" : "No service",
                        reg ? "Attached" : "Not attached"));
    if (reg) {
      c.reply(fmt::format("LTE band:      B{}\t\tLTE bw:      {} MHz", net.band(), net.bandwidth_mhz()));
      c.reply(fmt::format("LTE Rx chan:   {}\t\tLTE Tx chan: {}", net.earfcn(), net.ul_earfcn()));
      c.reply("LTE CA state:  NOT ASSIGNED");
      c.reply(fmt::format("EMM state:     Registered\tNormal Service"));
      c.reply(fmt::format("RRC state:     {}", rrc_state(c.modem)));
      c.reply("");
      c.reply(fmt::format("PCC RxM RSSI:  {}\t\tRSRP (dBm):  {}", s.rssi_dbm(), s.rsrp_dbm()));
      c.reply(fmt::format("TAC:           {:04X} ({})", net.tac(), net.tac()));
      c.reply(fmt::format("RSRQ (dB):     {:.1f}\t\tCell ID:     {:08X} ({})", s.rsrq_db(), net.cell_id(), net.cell_id()));
      c.reply(fmt::format("SINR (dB):     {:.1f}", s.sinr_db()));
    } else {
      c.reply("EMM state:     Deregistered\tNo Service");
    }
    return at::Outcome::ok();
  });
  // !IMPREF? -> preferred and current firmware / carrier configuration; a line per difference
  // (sierra-qdl.md: "fw version mismatch" after an update that did not complete).
  t.add("!IMPREF", [](AtCall& c) {
    if (c.kind() != CommandKind::kRead) return at::Outcome::error();
    const auto& cur = c.modem.firmware();
    const auto pref = c.modem.preferred_firmware();
    c.reply("!IMPREF: ");
    c.reply(fmt::format(" preferred fw version:    {}", pref.modem_version()));
    c.reply(fmt::format(" preferred carrier name:  {}", pref.carrier()));
    c.reply(fmt::format(" preferred config name:   {}", pref.carrier_config()));
    c.reply(fmt::format(" current fw version:      {}", cur.modem_version()));
    c.reply(fmt::format(" current carrier name:    {}", cur.carrier()));
    c.reply(fmt::format(" current config name:     {}", cur.carrier_config()));
    if (pref.modem_version() != cur.modem_version()) c.reply(" fw version mismatch");
    if (pref.carrier() != cur.carrier()) c.reply(" carrier name mismatch");
    if (pref.carrier_config() != cur.carrier_config()) c.reply(" config name mismatch");
    return at::Outcome::ok();
  });
  // !IMAGE? -> the stored images, modem (FW) then carrier (PRI), with the slot that runs.
  t.add("!IMAGE", [](AtCall& c) {
    if (c.kind() != CommandKind::kRead) return at::Outcome::error();
    const auto* store = c.modem.sierra_store();
    if (store == nullptr) return at::Outcome::error();
    const auto& st = store->state();
    const auto& sp = c.modem.profile().sierra();
    int slot = 0;
    int active = 0;
    c.reply("TYPE SLOT STATUS LRU FAILURES UNIQUE_ID        BUILD_ID");
    for (const auto& img : st.images()) {
      if (img.type() != sierra::kModemImage) continue;
      ++slot;
      if (img.build_id() == st.running().modem_build()) active = slot;
      c.reply(fmt::format("FW   {:<4} GOOD   {:<3} 0    0 0   {:<16} {}", slot, slot, img.unique_id(), img.build_id()));
    }
    c.reply(fmt::format("Max FW images: {}", sp.max_modem_images()));
    c.reply(fmt::format("Active FW image is at slot {}", active));
    c.reply("TYPE SLOT STATUS LRU FAILURES UNIQUE_ID        BUILD_ID");
    for (const auto& img : st.images()) {
      if (img.type() != sierra::kPriImage) continue;
      c.reply(fmt::format("PRI  FF   GOOD   0   0    0 0   {:<16} {}", img.unique_id(), img.build_id()));
    }
    c.reply(fmt::format("Max PRI images: {}", sp.max_pri_images()));
    return at::Outcome::ok();
  });
  // !PRIID? -> the running carrier configuration.
  t.add("!PRIID", [](AtCall& c) {
    if (c.kind() != CommandKind::kRead) return at::Outcome::error();
    const auto& fw = c.modem.firmware();
    std::string config = fw.carrier_config();  // "GENERIC_002.079_000"
    auto us = config.find('_');
    std::string version = us == std::string::npos ? config : config.substr(us + 1);
    c.reply("PRI Part Number: 9999999");
    c.reply(fmt::format("Revision: {}", version.substr(0, version.find('_'))));
    c.reply(fmt::format("Customer: {}", fw.carrier()));
    c.reply(fmt::format("Carrier PRI: 9999999_9999999_{}_00_{}", fw.version(), config));
    return at::Outcome::ok();
  });
  // !USBCOMP? -> configuration index, type and interface bitmask.
  t.add("!USBCOMP", [](AtCall& c) {
    if (c.kind() != CommandKind::kRead) return at::Outcome::error();
    const auto& d = c.modem.profile().at();
    c.reply("!USBCOMP: ");
    c.reply(fmt::format("Config Index: {}", d.usbcomp_config_index()));
    c.reply(fmt::format("Config Type:  {} (Generic)", d.usbcomp_config_type()));
    c.reply(fmt::format("Interface bitmask: {:08X} ({}) ", d.usbcomp_mask(), usbcomp_names(d.usbcomp_mask())));
    return at::Outcome::ok();
  });
  // !USBPID? -> the application and boot mode product ids.
  t.add("!USBPID", [](AtCall& c) {
    if (c.kind() != CommandKind::kRead) return at::Outcome::error();
    const auto* app = find_composition(c.modem.profile(), profile::APPLICATION);
    const auto* boot = find_composition(c.modem.profile(), profile::SIERRA_BOOT_HOLD);
    c.reply("!USBPID: ");
    c.reply("APP  BOOT");
    c.reply(fmt::format("{:04X} {:04X}", app != nullptr ? app->idproduct() : 0, boot != nullptr ? boot->idproduct() : 0));
    return at::Outcome::ok();
  });
  // !BOOTHOLD: reset into boot-and-hold (the boot PID, one interface) for a download.
  t.add("!BOOTHOLD", [](AtCall& c) {
    if (c.kind() != CommandKind::kAction) return at::Outcome::error();
    if (!c.modem.state().vendor_unlocked) return at::Outcome::error();
    c.modem.reset_into_boot_hold(fmt::format("AT!BOOTHOLD on {}", c.port.info().node_name));
    return at::Outcome::ok();
  });
  // !RESET: reset the module.
  t.add("!RESET", [](AtCall& c) {
    if (c.kind() != CommandKind::kAction) return at::Outcome::error();
    if (!c.modem.state().vendor_unlocked) return at::Outcome::error();
    c.modem.reset_after_reply(fmt::format("AT!RESET on {}", c.port.info().node_name));
    return at::Outcome::ok();
  });
}

}  // namespace modemu::emulator
