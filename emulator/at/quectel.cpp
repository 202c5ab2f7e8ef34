// Quectel extensions (Quectel EC2x/EG2x/EG12 AT Commands Manual; at-commands.md).
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "emulator/at/at_port.hpp"
#include "emulator/at/commands.hpp"
#include "emulator/modem.hpp"

namespace modemu::emulator {

namespace at = protocols::at;
using at::CommandKind;

namespace {

// Quectel's sub-command names are case-insensitive ("usbnet", "USBNET").
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

// Quectel <DL_bandwidth>/<UL_bandwidth> code: 0 = 1.4 MHz, 1 = 3, 2 = 5, 3 = 10, 4 = 15, 5 = 20.
int bandwidth_code(std::uint32_t mhz) {
  switch (mhz) {
    case 3: return 1;
    case 5: return 2;
    case 10: return 3;
    case 15: return 4;
    case 20: return 5;
    default: return 0;
  }
}

// Quectel reports <SINR> in 1/5 dB steps offset by 20 dB: 0..250 for -20..+30 dB.
int sinr_code(double sinr_db) { return std::clamp(static_cast<int>(std::lround((sinr_db + 20.0) * 5.0)), 0, 250); }

}  // namespace

void register_quectel_commands(AtCommandTable& t) {
  // +QGMR -> <full revision>, e.g. EG12EAPAR01A12M4G_01.001.01.001
  t.add("+QGMR", [](AtCall& c) {
    if (c.kind() == CommandKind::kTest) return at::Outcome::ok();
    if (c.kind() != CommandKind::kAction) return at::Outcome::error();
    c.reply(c.modem.firmware().full_revision());
    return at::Outcome::ok();
  });
  // +QCCID -> +QCCID: <ICCID>
  t.add("+QCCID", iccid_read("+QCCID: "));
  // +QCFG="usbnet"[,<net>]     -> +QCFG: "usbnet",<net>   (applies after AT+CFUN=1,1)
  // +QCFG="nwscanmode"[,<m>]   -> +QCFG: "nwscanmode",<m>
  t.add("+QCFG", [](AtCall& c) {
    if (c.kind() == CommandKind::kTest) {
      c.reply("+QCFG: \"usbnet\",(0-3)");
      c.reply("+QCFG: \"nwscanmode\",(0-3),(0,1)");
      return at::Outcome::ok();
    }
    if (c.kind() != CommandKind::kSet || c.argc() < 1) return at::Outcome::error();
    std::string item = lower(c.arg(0).text);
    if (item == "usbnet") {
      if (c.argc() == 1) {
        c.reply(fmt::format("+QCFG: \"usbnet\",{}", c.modem.state().usbnet));
        return at::Outcome::ok();
      }
      auto value = c.arg(1).as_int(0, 3);
      if (!value || c.argc() > 2) return at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
      return to_outcome(c.modem.set_usbnet(static_cast<std::uint32_t>(*value)));
    }
    if (item == "nwscanmode") {
      if (c.argc() == 1) {
        c.reply("+QCFG: \"nwscanmode\",0");
        return at::Outcome::ok();
      }
      return c.arg(1).as_int(0, 3) ? at::Outcome::ok() : at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
    }
    return at::Outcome::error();
  });
  // +QENG="servingcell" -> +QENG: "servingcell",<state>,"LTE",<is_tdd>,<MCC>,<MNC>,<cellID>,
  //   <PCID>,<earfcn>,<freq_band_ind>,<UL_bandwidth>,<DL_bandwidth>,<TAC>,<RSRP>,<RSRQ>,<RSSI>,
  //   <SINR>,<srxlev>
  t.add("+QENG", [](AtCall& c) {
    if (c.kind() == CommandKind::kTest) {
      c.reply("+QENG: \"servingcell\",\"neighbourcell\"");
      return at::Outcome::ok();
    }
    if (c.kind() != CommandKind::kSet || c.argc() != 1) return at::Outcome::error();
    std::string what = lower(c.arg(0).text);
    if (what != "servingcell") return at::Outcome::error();
    if (!c.modem.radio_on()) {
      c.reply("+QENG: \"servingcell\",\"SEARCH\"");
      return at::Outcome::ok();
    }
    if (!c.modem.registered()) {
      c.reply("+QENG: \"servingcell\",\"LIMSRV\"");
      return at::Outcome::ok();
    }
    const auto& net = c.modem.network();
    const auto& s = c.modem.state().signal;
    bool connected = std::any_of(c.modem.state().contexts.begin(), c.modem.state().contexts.end(),
                                 [](const auto& kv) { return kv.second.active; });
    c.reply(fmt::format("+QENG: \"servingcell\",\"{}\",\"LTE\",\"FDD\",{},{},{:X},{},{},{},{},{},{:X},{},{},{},{},{}",
                        connected ? "CONNECT" : "NOCONN", net.mcc(), net.mnc(), net.cell_id(), net.pci(), net.earfcn(),
                        net.band(), bandwidth_code(net.bandwidth_mhz()), bandwidth_code(net.bandwidth_mhz()), net.tac(),
                        s.rsrp_dbm(), static_cast<int>(std::lround(s.rsrq_db())), s.rssi_dbm(), sinr_code(s.sinr_db()),
                        std::max(0, s.rsrp_dbm() + 124)));
    return at::Outcome::ok();
  });
  // +QNWINFO -> +QNWINFO: <Act>,<oper>,<band>,<channel>  or  +QNWINFO: No Service
  t.add("+QNWINFO", [](AtCall& c) {
    if (c.kind() == CommandKind::kTest) return at::Outcome::ok();
    if (c.kind() != CommandKind::kAction) return at::Outcome::error();
    if (!c.modem.registered()) {
      c.reply("+QNWINFO: No Service");
      return at::Outcome::ok();
    }
    const auto& net = c.modem.network();
    c.reply(fmt::format("+QNWINFO: \"FDD LTE\",\"{}{}\",\"LTE BAND {}\",{}", net.mcc(), net.mnc(), net.band(), net.earfcn()));
    return at::Outcome::ok();
  });
  // +QSIMSTAT? -> +QSIMSTAT: <enable>,<inserted status>   +QSIMSTAT=<enable>
  t.add("+QSIMSTAT", [](AtCall& c) {
    switch (c.kind()) {
      case CommandKind::kTest:
        c.reply("+QSIMSTAT: (0,1)");
        return at::Outcome::ok();
      case CommandKind::kRead:
        c.reply(fmt::format("+QSIMSTAT: 0,{}", c.modem.state().sim == profile::SIM_ABSENT ? 0 : 1));
        return at::Outcome::ok();
      case CommandKind::kSet:
        return c.arg(0).as_int(0, 1) ? at::Outcome::ok() : at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
      default:
        return at::Outcome::error();
    }
  });
  // +QINISTAT -> +QINISTAT: <status>  (bit 0 CPIN READY, bit 1 SMS done, bit 2 phonebook done)
  t.add("+QINISTAT", [](AtCall& c) {
    if (c.kind() == CommandKind::kTest) return at::Outcome::ok();
    if (c.kind() != CommandKind::kAction) return at::Outcome::error();
    c.reply(fmt::format("+QINISTAT: {}", c.modem.sim_access() == ActionResult::kOk ? 7 : 0));
    return at::Outcome::ok();
  });
  // +QSPN -> +QSPN: <FNN>,<SNN>,<SPN>,<alphabet>,<RPLMN>
  t.add("+QSPN", [](AtCall& c) {
    if (c.kind() == CommandKind::kTest) return at::Outcome::ok();
    if (c.kind() != CommandKind::kAction) return at::Outcome::error();
    if (!c.modem.registered()) return at::Outcome::cme_error(at::CmeError::kNoNetworkService);
    const auto& net = c.modem.network();
    c.reply(fmt::format("+QSPN: \"{}\",\"{}\",\"{}\",0,\"{}{}\"", net.operator_long(), net.operator_short(),
                        c.modem.profile().sim().spn(), net.mcc(), net.mnc()));
    return at::Outcome::ok();
  });
  // +QCSQ -> +QCSQ: <sysmode>,<rssi>,<rsrp>,<sinr>,<rsrq>   or  +QCSQ: "NOSERVICE"
  t.add("+QCSQ", [](AtCall& c) {
    if (c.kind() == CommandKind::kTest) return at::Outcome::ok();
    if (c.kind() != CommandKind::kAction) return at::Outcome::error();
    if (!c.modem.registered()) {
      c.reply("+QCSQ: \"NOSERVICE\"");
      return at::Outcome::ok();
    }
    const auto& s = c.modem.state().signal;
    c.reply(fmt::format("+QCSQ: \"LTE\",{},{},{},{}", s.rssi_dbm(), s.rsrp_dbm(), sinr_code(s.sinr_db()),
                        static_cast<int>(std::lround(s.rsrq_db()))));
    return at::Outcome::ok();
  });
  // +QPOWD[=<n>]: power down (0 immediately, 1 normally); prints POWERED DOWN after OK.
  t.add("+QPOWD", [](AtCall& c) {
    if (c.kind() == CommandKind::kTest) {
      c.reply("+QPOWD: (0,1)");
      return at::Outcome::ok();
    }
    if (c.kind() == CommandKind::kSet && !c.arg(0).as_int(0, 1)) {
      return at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
    }
    if (c.kind() != CommandKind::kSet && c.kind() != CommandKind::kAction) return at::Outcome::error();
    c.port.urc("POWERED DOWN");
    c.modem.power_off_after_reply(fmt::format("AT+QPOWD on {}", c.port.info().node_name));
    return at::Outcome::ok();
  });
}

}  // namespace modemu::emulator
