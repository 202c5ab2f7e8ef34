// Network service commands: 3GPP TS 27.007 sections 7.2 (+CREG), 7.3 (+COPS), 8.5 (+CSQ),
// 8.69 (+CESQ), 10.1.20 (+CGREG), 10.1.22 (+CEREG).
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

// 27.007 8.5 <rssi>: 0 = -113 dBm or less, 31 = -51 dBm or more, 99 unknown.
int csq_rssi(const Modem& m) {
  if (!m.radio_on()) return 99;
  return std::clamp((m.state().signal.rssi_dbm() + 113) / 2, 0, 31);
}

AtHandler registration(RegReport which) {
  // +CREG=[<n>]   +CREG? -> +CREG: <n>,<stat>[,<lac>,<ci>[,<AcT>]]   +CREG=? -> +CREG: (0-2)
  return [which](AtCall& c) {
    switch (c.kind()) {
      case CommandKind::kTest:
        c.reply(fmt::format("{}: (0-2)", reg_prefix(which)));
        return at::Outcome::ok();
      case CommandKind::kRead: {
        int n = c.port.reg_n(which);
        c.reply(fmt::format("{}: {},{}", reg_prefix(which), n, reg_fields(c.modem, n)));
        return at::Outcome::ok();
      }
      case CommandKind::kAction:
        c.port.set_reg_n(which, 0);
        return at::Outcome::ok();
      case CommandKind::kSet: {
        auto n = c.argc() == 1 ? c.arg(0).as_int(0, 2) : std::nullopt;
        if (!n) return at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
        c.port.set_reg_n(which, static_cast<int>(*n));
        return at::Outcome::ok();
      }
      default:
        return at::Outcome::error();
    }
  };
}

std::string operator_in_format(const Modem& m, int format) {
  const auto& net = m.network();
  if (format == 1) return net.operator_short();
  if (format == 2) return net.mcc() + net.mnc();
  return net.operator_long();
}

}  // namespace

void register_network_commands(AtCommandTable& t) {
  // +CSQ -> +CSQ: <rssi>,<ber>
  t.add("+CSQ", [](AtCall& c) {
    if (c.kind() == CommandKind::kTest) {
      c.reply("+CSQ: (0-31,99),(0-7,99)");
      return at::Outcome::ok();
    }
    if (c.kind() != CommandKind::kAction) return at::Outcome::error();
    c.reply(fmt::format("+CSQ: {},99", csq_rssi(c.modem)));
    return at::Outcome::ok();
  });
  // +CESQ -> +CESQ: <rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>
  //   <rsrq> 0..34: (rsrq_db + 20) * 2; <rsrp> 0..97: rsrp_dbm + 141; 255 / 99 = not known.
  t.add("+CESQ", [](AtCall& c) {
    if (c.kind() == CommandKind::kTest) {
      c.reply("+CESQ: (0-63,99),(0-7,99),(0-96,255),(0-49,255),(0-34,255),(0-97,255)");
      return at::Outcome::ok();
    }
    if (c.kind() != CommandKind::kAction) return at::Outcome::error();
    const auto& s = c.modem.state().signal;
    bool lte = c.modem.radio_on() && c.modem.network().rat() == profile::LTE;
    int rsrq = lte ? std::clamp(static_cast<int>(std::lround((s.rsrq_db() + 20.0) * 2.0)), 0, 34) : 255;
    int rsrp = lte ? std::clamp(s.rsrp_dbm() + 141, 0, 97) : 255;
    c.reply(fmt::format("+CESQ: 99,99,255,255,{},{}", rsrq, rsrp));
    return at::Outcome::ok();
  });
  t.add("+CREG", registration(RegReport::kCreg));
  t.add("+CGREG", registration(RegReport::kCgreg));
  t.add("+CEREG", registration(RegReport::kCereg));
  // +COPS=[<mode>[,<format>[,<oper>[,<AcT>]]]]
  // +COPS? -> +COPS: <mode>[,<format>,<oper>[,<AcT>]]
  // +COPS=? -> +COPS: [list of (<stat>,long,short,numeric[,<AcT>])],,(modes),(formats)
  t.add("+COPS", [](AtCall& c) {
    const auto& net = c.modem.network();
    switch (c.kind()) {
      case CommandKind::kRead:
        if (c.modem.registered()) {
          c.reply(fmt::format("+COPS: 0,{},\"{}\",{}", c.port.cops_format,
                              operator_in_format(c.modem, c.port.cops_format), access_technology(c.modem)));
        } else {
          c.reply("+COPS: 0");
        }
        return at::Outcome::ok();
      case CommandKind::kTest: {
        if (!c.modem.radio_on()) return at::Outcome::cme_error(at::CmeError::kNoNetworkService);
        // <stat> 2 = current operator, 1 = available.
        c.reply(fmt::format("+COPS: ({},\"{}\",\"{}\",\"{}{}\",{}),,(0-4),(0-2)", c.modem.registered() ? 2 : 1,
                            net.operator_long(), net.operator_short(), net.mcc(), net.mnc(), access_technology(c.modem)));
        return at::Outcome::ok();
      }
      case CommandKind::kAction:
        return at::Outcome::ok();
      case CommandKind::kSet: {
        auto mode = c.arg(0).omitted ? std::optional<long>(0) : c.arg(0).as_int(0, 4);
        if (!mode) return at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
        std::optional<long> format = 0;
        if (c.argc() > 1 && !c.arg(1).omitted) format = c.arg(1).as_int(0, 2);
        if (!format) return at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
        if (*mode == 3) {  // set the format only
          c.port.cops_format = static_cast<int>(*format);
          return at::Outcome::ok();
        }
        if (*mode == 1 || *mode == 4) {  // manual selection: the one network the profile serves
          if (c.argc() < 3) return at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
          if (c.arg(2).text != operator_in_format(c.modem, static_cast<int>(*format))) {
            return at::Outcome::cme_error(at::CmeError::kNoNetworkService);
          }
        }
        if (c.argc() > 1) c.port.cops_format = static_cast<int>(*format);
        return at::Outcome::ok();
      }
      default:
        return at::Outcome::error();
    }
  });
}

}  // namespace modemu::emulator
