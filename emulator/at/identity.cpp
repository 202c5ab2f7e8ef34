// Identification commands: 3GPP TS 27.007 section 5 and ITU-T V.250 6.1.
#include "emulator/at/at_port.hpp"
#include "emulator/at/commands.hpp"
#include "emulator/modem.hpp"
#include "emulator/profile.hpp"

namespace modemu::emulator {

namespace at = protocols::at;
using at::CommandKind;

namespace {

// +CGMI / +GMI, +CGMM / +GMM: action and test forms only (27.007 5.1, 5.2).
AtHandler text_reply(std::string (*value)(const Modem&)) {
  return [value](AtCall& c) {
    if (c.kind() == CommandKind::kTest) return at::Outcome::ok();
    if (c.kind() != CommandKind::kAction) return at::Outcome::error();
    c.reply(value(c.modem));
    return at::Outcome::ok();
  };
}

std::string manufacturer(const Modem& m) { return m.profile().identity().manufacturer(); }
std::string model(const Modem& m) { return m.profile().identity().model(); }
std::string revision(const Modem& m) { return expand_template(m.profile().at().cgmr(), m.profile(), m.firmware()); }
std::string imei(const Modem& m) { return m.profile().identity().imei(); }

}  // namespace

void register_identity_commands(AtCommandTable& t) {
  // ATI[<value>]  (V.250 6.1.3): identification text, as the profile's dialect writes it.
  t.add("I", [](AtCall& c) {
    if (c.argc() > 0 && c.arg(0).as_int(0, 0) == std::nullopt) return at::Outcome::error();
    for (const auto& line : c.modem.profile().at().ati()) {
      c.reply(expand_template(line, c.modem.profile(), c.modem.firmware()));
    }
    return at::Outcome::ok();
  });
  // +CGMI  -> <manufacturer>
  t.add("+CGMI", text_reply(manufacturer));
  t.add("+GMI", text_reply(manufacturer));
  // +CGMM  -> <model>
  t.add("+CGMM", text_reply(model));
  t.add("+GMM", text_reply(model));
  // +CGMR  -> <revision>
  t.add("+CGMR", text_reply(revision));
  t.add("+GMR", text_reply(revision));
  // +CGSN[=<snt>]  -> <sn>   (27.007 5.4; snt 0 = IMEI as serial number, 1 = "+CGSN: <imei>")
  t.add("+CGSN", [](AtCall& c) {
    if (c.kind() == CommandKind::kTest) {
      c.reply("+CGSN: (0-3)");
      return at::Outcome::ok();
    }
    if (c.kind() == CommandKind::kAction) {
      c.reply(imei(c.modem));
      return at::Outcome::ok();
    }
    if (c.kind() != CommandKind::kSet || c.argc() != 1) return at::Outcome::error();
    auto snt = c.arg(0).as_int(0, 3);
    if (!snt) return at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
    const auto& id = c.modem.profile().identity();
    switch (*snt) {
      case 0: c.reply(id.imei()); break;
      case 1: c.reply("+CGSN: \"" + id.imei() + "\""); break;
      case 2: c.reply("+CGSN: \"" + id.imei().substr(0, 14) + id.imei_sv() + "\""); break;
      default: c.reply("+CGSN: \"" + id.imei_sv() + "\""); break;
    }
    return at::Outcome::ok();
  });
  t.add("+GSN", text_reply(imei));
  // +GCAP -> +GCAP: <list>  (V.250 6.1.9)
  t.add("+GCAP", [](AtCall& c) {
    if (c.kind() != CommandKind::kAction) return at::Outcome::error();
    c.reply("+GCAP: +CGSM");
    return at::Outcome::ok();
  });
}

}  // namespace modemu::emulator
