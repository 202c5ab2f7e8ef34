// WDA, wireless data administration (service 0x1a): the data format of the QMI interface's
// bulk endpoints (802.3 or raw IP, aggregation). CTL Set Data Format changes the same setting.
#include "emulator/modem.hpp"
#include "emulator/qmi/qmi_function.hpp"
#include "emulator/qmi/services.hpp"

namespace modemu::emulator {

namespace qmi = protocols::qmi;
using qmi::QmiError;

namespace {

// Link layer: 1 = 802.3, 2 = raw IP. Aggregation: 0 disabled ... 5 QMAP ... 9 QMAPv5.
void report_format(QmiFunction& f, qmi::Reply& r) {
  r.set(0x10, {0})
      .set(0x11, {f.setting("wda.link_layer", 1)})
      .set(0x12, {f.setting("wda.ul_aggregation", 0)})
      .set(0x13, {f.setting("wda.dl_aggregation", 0)})
      .set(0x15, {f.setting("wda.dl_max_datagrams", 1)})
      .set(0x16, {f.setting("wda.dl_max_size", 1504)})
      .set(0x17, {f.setting("wda.ul_max_datagrams", 1)})
      .set(0x18, {f.setting("wda.ul_max_size", 1504)});
}

}  // namespace

void register_wda_handlers(QmiHandlerTable& t) {
  t.add(kWda, 0x0020, [](QmiCall& c) {
    auto link = c.request.number(0x11);
    auto ul = c.request.number(0x12);
    auto dl = c.request.number(0x13);
    if ((link && *link != 1 && *link != 2) || (ul && *ul > 9) || (dl && *dl > 9)) {
      c.reply.fail(QmiError::kInvalidArgument);
      return;
    }
    auto& s = c.function.settings;
    if (link) s["wda.link_layer"] = *link;
    if (ul) s["wda.ul_aggregation"] = *ul;
    if (dl) s["wda.dl_aggregation"] = *dl;
    for (auto [tlv, key] : {std::pair<std::uint8_t, const char*>{0x15, "wda.dl_max_datagrams"}, {0x16, "wda.dl_max_size"},
                            {0x1b, "wda.ul_max_datagrams"}, {0x1c, "wda.ul_max_size"}}) {
      if (auto v = c.request.number(tlv)) s[key] = *v;
    }
    report_format(c.function, c.reply);
  });
  t.add(kWda, 0x0021, [](QmiCall& c) { report_format(c.function, c.reply); });
}

}  // namespace modemu::emulator
