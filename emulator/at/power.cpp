// Power and functionality: 3GPP TS 27.007 section 8.2 (+CFUN).
#include <fmt/format.h>

#include "emulator/at/at_port.hpp"
#include "emulator/at/commands.hpp"
#include "emulator/modem.hpp"

namespace modemu::emulator {

namespace at = protocols::at;
using at::CommandKind;

void register_power_commands(AtCommandTable& t) {
  // +CFUN=[<fun>[,<rst>]]   +CFUN? -> +CFUN: <fun>   +CFUN=? -> +CFUN: (list of <fun>),(0-1)
  //   <fun> 0 minimum (radio and SIM off), 1 full, 4 radio off; <rst> 1 resets the module
  //   before setting <fun>: it leaves USB and enumerates again (usb-identities.md).
  t.add("+CFUN", [](AtCall& c) {
    switch (c.kind()) {
      case CommandKind::kTest:
        c.reply("+CFUN: (0,1,4),(0-1)");
        return at::Outcome::ok();
      case CommandKind::kRead:
        c.reply(fmt::format("+CFUN: {}", c.modem.state().functionality));
        return at::Outcome::ok();
      case CommandKind::kSet: {
        auto fun = c.arg(0).as_int(0, 4);
        std::optional<long> rst = 0;
        if (c.argc() > 1) rst = c.arg(1).as_int(0, 1);
        if (c.argc() > 2 || !fun || !rst || (*fun != 0 && *fun != 1 && *fun != 4)) {
          return at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
        }
        if (*rst == 1) {
          c.modem.reset_after_reply(fmt::format("AT+CFUN={},1 on {}", *fun, c.port.info().node_name));
          return at::Outcome::ok();
        }
        return to_outcome(c.modem.set_functionality(static_cast<int>(*fun)));
      }
      default:
        return at::Outcome::error();
    }
  });
}

}  // namespace modemu::emulator
