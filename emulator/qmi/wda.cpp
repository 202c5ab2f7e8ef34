// WDA, wireless data administration (service 0x1a): the data format of the QMI interface's
// bulk endpoints (802.3 or raw IP, aggregation). CTL Set Data Format changes the same setting.
#include <algorithm>

#include "emulator/modem.hpp"
#include "emulator/qmi/qmi_function.hpp"
#include "emulator/qmi/services.hpp"
#include "protocols/net/qmap.hpp"

namespace modemu::emulator {

namespace qmi = protocols::qmi;
using qmi::QmiError;

namespace {

// What this modem aggregates at most under QMAP, whatever the host asks for: the host then
// sizes its receive buffers (qmi_wwan: the MTU of wwan0) from the values the reply reports.
constexpr std::uint64_t kMaxDatagrams = 32;
constexpr std::uint64_t kMaxSize = 16384;
// Without aggregation: one packet per transfer.
constexpr std::uint64_t kSingleSize = 1504;

// Link layer: 1 = 802.3, 2 = raw IP. Aggregation: 0 disabled, 5 QMAP; this modem does no other.
void report_format(QmiFunction& f, qmi::Reply& r) {
  r.set(0x10, {0})
      .set(0x11, {f.setting("wda.link_layer", 1)})
      .set(0x12, {f.setting("wda.ul_aggregation", 0)})
      .set(0x13, {f.setting("wda.dl_aggregation", 0)})
      .set(0x15, {f.setting("wda.dl_max_datagrams", 1)})
      .set(0x16, {f.setting("wda.dl_max_size", kSingleSize)})
      .set(0x17, {f.setting("wda.ul_max_datagrams", 1)})
      .set(0x18, {f.setting("wda.ul_max_size", kSingleSize)});
}

// One direction's aggregation: the protocol the modem will use for `asked` (QMAP or none) and
// the limits, the host's wishes capped at the modem's.
void negotiate(std::map<std::string, std::uint64_t>& s, const char* dir, std::optional<std::uint64_t> asked,
               std::optional<std::uint64_t> datagrams, std::optional<std::uint64_t> size) {
  std::string key = std::string("wda.") + dir;
  std::uint64_t protocol = asked.value_or(setting_or(s, key + "_aggregation", 0));
  if (protocol != protocols::net::kAggregationQmap) protocol = 0;
  s[key + "_aggregation"] = protocol;
  if (protocol == 0) {
    s[key + "_max_datagrams"] = 1;
    s[key + "_max_size"] = kSingleSize;
    return;
  }
  s[key + "_max_datagrams"] = std::clamp<std::uint64_t>(datagrams.value_or(kMaxDatagrams), 1, kMaxDatagrams);
  s[key + "_max_size"] = std::clamp<std::uint64_t>(size.value_or(kMaxSize), kSingleSize, kMaxSize);
}

}  // namespace

void register_wda_handlers(QmiHandlerTable& t) {
  // Set Data Format: 0x11 link layer, 0x12 / 0x13 UL / DL aggregation protocol, 0x15 / 0x16 DL
  // max datagrams / size, 0x1b / 0x1c UL max datagrams / size. The reply says what the modem
  // uses: an aggregation protocol it does not speak comes back as 0 (disabled).
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
    negotiate(s, "dl", dl, c.request.number(0x15), c.request.number(0x16));
    negotiate(s, "ul", ul, c.request.number(0x1b), c.request.number(0x1c));
    report_format(c.function, c.reply);
  });
  t.add(kWda, 0x0021, [](QmiCall& c) { report_format(c.function, c.reply); });
}

}  // namespace modemu::emulator
