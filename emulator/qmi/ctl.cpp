// CTL, the control service (service 0): versions, client ids, data format, sync, and libqmi's
// proxy open. qmi.md "Message ids worth serving".
#include <fmt/format.h>

#include "emulator/modem.hpp"
#include "emulator/qmi/qmi_function.hpp"
#include "emulator/qmi/services.hpp"

namespace modemu::emulator {

namespace qmi = protocols::qmi;

namespace {

bool serves(const Modem& modem, std::uint64_t service) {
  for (const auto& s : modem.profile().qmi().services()) {
    if (s.service() == service) return true;
  }
  return false;
}

}  // namespace

void register_ctl_handlers(QmiHandlerTable& t) {
  // Get Version Info -> 0x01 services [{service, major, minor}]
  t.add(kCtl, 0x0021, [](QmiCall& c) {
    std::vector<qmi::Record> list;
    for (const auto& s : c.modem.profile().qmi().services()) list.push_back({s.service(), s.major(), s.minor()});
    c.reply.set(0x01, {list});
  });
  // Allocate CID: 0x01 service -> 0x01 {service, cid}
  t.add(kCtl, 0x0022, [](QmiCall& c) {
    auto service = *c.request.number(0x01);
    if (service == kCtl || !serves(c.modem, service)) {
      c.reply.fail(qmi::QmiError::kInvalidArgument);
      return;
    }
    auto id = c.function.allocate_client(static_cast<std::uint8_t>(service), c.session);
    if (!id) {
      c.reply.fail(qmi::QmiError::kClientIdsExhausted);
      return;
    }
    c.reply.set(0x01, {service, *id});
  });
  // Release CID: 0x01 {service, cid} -> 0x01 {service, cid}
  t.add(kCtl, 0x0023, [](QmiCall& c) {
    auto service = *c.request.number(0x01, 0);
    auto id = *c.request.number(0x01, 1);
    if (!c.function.release_client(static_cast<std::uint8_t>(service), static_cast<std::uint8_t>(id))) {
      c.reply.fail(qmi::QmiError::kInvalidClientId);
    }
    c.reply.set(0x01, {service, id});
  });
  // Set Data Format: 0x01 QoS header presence, 0x10 link protocol -> 0x10 link protocol
  t.add(kCtl, 0x0026, [](QmiCall& c) {
    auto protocol = c.request.number(0x10).value_or(1);  // 1 = 802.3
    if (protocol != 1 && protocol != 2) {
      c.reply.fail(qmi::QmiError::kInvalidArgument);
      return;
    }
    c.function.settings["wda.link_layer"] = protocol;  // the same setting as WDA's: the data path reads it
    c.reply.set(0x10, {protocol});
  });
  // Sync: the host starts afresh; the client ids it held are released.
  t.add(kCtl, 0x0027, [](QmiCall& c) { c.function.release_clients(c.session); });
  // Internal Proxy Open (libqmi's qmi-proxy): 0x01 device path. Accepted for any path: the
  // path names the host's device node and is never opened here.
  t.add(kCtl, 0xff00, [](QmiCall& c) {
    c.modem.event("qmi.proxy", fmt::format("{}: proxy open for {}", c.session.name(), *c.request.text(0x01)));
  });
}

}  // namespace modemu::emulator
