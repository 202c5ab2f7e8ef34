// SIM commands: 3GPP TS 27.007 sections 8.3 (+CPIN), 7.1 (+CNUM), 7.4 (+CLCK), 5.6 (+CIMI),
// and the ICCID reads both vendors offer.
#include <fmt/format.h>

#include "emulator/at/at_port.hpp"
#include "emulator/at/commands.hpp"
#include "emulator/modem.hpp"

namespace modemu::emulator {

namespace at = protocols::at;
using at::CommandKind;


AtHandler iccid_read(std::string prefix) {
  return [prefix = std::move(prefix)](AtCall& c) {
    if (c.kind() == CommandKind::kTest) return at::Outcome::ok();
    if (c.kind() != CommandKind::kAction && c.kind() != CommandKind::kRead) return at::Outcome::error();
    if (!c.modem.card_readable()) return to_outcome(c.modem.sim_access());
    c.reply(prefix + c.modem.profile().sim().iccid());
    return at::Outcome::ok();
  };
}

void register_sim_commands(AtCommandTable& t) {
  // +CPIN=<pin>[,<newpin>]   +CPIN? -> +CPIN: <code>   (27.007 8.3)
  t.add("+CPIN", [](AtCall& c) {
    switch (c.kind()) {
      case CommandKind::kTest:
        return at::Outcome::ok();
      case CommandKind::kRead: {
        ActionResult r = c.modem.sim_access();
        if (r == ActionResult::kOk) c.reply("+CPIN: READY");
        else if (r == ActionResult::kSimPinRequired) c.reply("+CPIN: SIM PIN");
        else if (r == ActionResult::kSimPukRequired) c.reply("+CPIN: SIM PUK");
        else return to_outcome(r);
        return at::Outcome::ok();
      }
      case CommandKind::kSet:
        if (c.argc() < 1 || c.arg(0).text.empty()) return at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
        return to_outcome(c.modem.enter_pin(c.arg(0).text));
      default:
        return at::Outcome::error();
    }
  });
  // +CIMI -> <IMSI>   (27.007 5.6)
  t.add("+CIMI", [](AtCall& c) {
    if (c.kind() == CommandKind::kTest) return at::Outcome::ok();
    if (c.kind() != CommandKind::kAction) return at::Outcome::error();
    if (ActionResult r = c.modem.sim_access(); r != ActionResult::kOk) return to_outcome(r);
    c.reply(c.modem.profile().sim().imsi());
    return at::Outcome::ok();
  });
  // +CCID -> +CCID: <ICCID>; +ICCID -> ICCID: <ICCID> (Sierra)
  t.add("+CCID", iccid_read("+CCID: "));
  t.add("+ICCID", iccid_read("ICCID: "));
  // +CNUM -> +CNUM: [<alpha>],<number>,<type>   (27.007 7.1)
  t.add("+CNUM", [](AtCall& c) {
    if (c.kind() == CommandKind::kTest) return at::Outcome::ok();
    if (c.kind() != CommandKind::kAction) return at::Outcome::error();
    if (ActionResult r = c.modem.sim_access(); r != ActionResult::kOk) return to_outcome(r);
    const auto& msisdn = c.modem.profile().sim().msisdn();
    if (!msisdn.empty()) c.reply(fmt::format("+CNUM: ,\"{}\",{}", msisdn, msisdn.starts_with('+') ? 145 : 129));
    return at::Outcome::ok();
  });
  // +CLCK=<fac>,<mode>[,<passwd>]: query (mode 2) of "SC" (SIM PIN) and the personalisation
  // facilities; locking and unlocking is not offered.   (27.007 7.4)
  t.add("+CLCK", [](AtCall& c) {
    if (c.kind() == CommandKind::kTest) {
      c.reply("+CLCK: (\"SC\",\"PN\",\"PU\",\"PP\",\"PC\",\"PF\")");
      return at::Outcome::ok();
    }
    if (c.kind() != CommandKind::kSet || c.argc() < 2) return at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
    const std::string& fac = c.arg(0).text;
    auto mode = c.arg(1).as_int(0, 2);
    bool known = fac == "SC" || fac == "PN" || fac == "PU" || fac == "PP" || fac == "PC" || fac == "PF";
    if (!known || !mode) return at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
    if (*mode != 2) return at::Outcome::cme_error(at::CmeError::kOperationNotSupported);
    if (ActionResult r = c.modem.sim_access(); r != ActionResult::kOk) return to_outcome(r);
    bool locked = fac == "SC" && c.modem.profile().sim().state() == profile::SIM_PIN;
    c.reply(fmt::format("+CLCK: {}", locked ? 1 : 0));
    return at::Outcome::ok();
  });
}

}  // namespace modemu::emulator
