// DMS, device management (service 2): identity, PIN status, operating mode, firmware.
#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "emulator/modem.hpp"
#include "emulator/profile.hpp"
#include "emulator/qmi/qmi_function.hpp"
#include "emulator/qmi/services.hpp"

namespace modemu::emulator {

namespace qmi = protocols::qmi;
using qmi::QmiError;

namespace {

// DMS operating modes (qmi.md).
enum OperatingMode : std::uint8_t {
  kOnline = 0, kLowPower = 1, kFactoryTest = 2, kOffline = 3, kReset = 4, kShuttingDown = 5,
  kPersistentLowPower = 6, kModeOnlyLowPower = 7,
};

// PIN states (DMS UIM Get PIN Status and UIM Get Card Status share them).
enum PinStatus : std::uint8_t { kPinNotInitialized = 0, kPinEnabledNotVerified = 1, kPinEnabledVerified = 2,
                                kPinDisabled = 3, kPinBlocked = 4 };

// A fixed-size unique id field: the text, NUL-padded to 16 bytes.
std::string unique_id(std::string text) {
  text.resize(16, '\0');
  return text;
}

// Sierra keeps a modem image ("?_?" unique id, "<version>_?" build) and a carrier (PRI) image
// ("<config number>" unique id, "<version>_<carrier>" build): the running pair comes from the
// firmware catalogue entry.
struct SierraImages {
  std::string modem_build, pri_unique, pri_build;
  std::uint32_t pri_version = 0;  // "002.079" -> major 2 << 16 | minor 79
};

SierraImages sierra_images(const Modem& m) {
  const auto& fw = m.firmware();
  std::string config = fw.carrier_config();                 // "GENERIC_002.079_000"
  auto us = config.find('_');
  std::string pri_unique = us == std::string::npos ? config : config.substr(us + 1);
  std::uint32_t major = 0, minor = 0;
  auto dot = pri_unique.find('.');
  if (dot != std::string::npos) {
    std::from_chars(pri_unique.data(), pri_unique.data() + dot, major);
    std::from_chars(pri_unique.data() + dot + 1, pri_unique.data() + pri_unique.size(), minor);
  }
  return {fw.modem_version() + "_?", pri_unique, fw.modem_version() + "_" + fw.carrier(), (major << 16) | minor};
}

}  // namespace

void register_dms_handlers(QmiHandlerTable& t) {
  // Get Capabilities -> 0x01 {max tx, max rx, data service (3 = simultaneous CS+PS),
  //   SIM (2 = supported), radio interfaces (4 GSM, 5 UMTS, 8 LTE)}
  t.add(kDms, 0x0020, [](QmiCall& c) {
    const auto& q = c.modem.profile().qmi();
    c.reply.set(0x01, {q.max_tx_bps(), q.max_rx_bps(), 3, 2, std::vector<qmi::Record>{{4}, {5}, {8}}});
  });
  t.add(kDms, 0x0021, [](QmiCall& c) { c.reply.set(0x01, {c.modem.profile().identity().manufacturer()}); });
  t.add(kDms, 0x0022, [](QmiCall& c) { c.reply.set(0x01, {c.modem.profile().identity().model()}); });
  // Get Revision: the same text as AT+CGMR.
  t.add(kDms, 0x0023, [](QmiCall& c) {
    c.reply.set(0x01, {expand_template(c.modem.profile().at().cgmr(), c.modem.profile(), c.modem.firmware())});
  });
  t.add(kDms, 0x0024, [](QmiCall& c) {
    if (ActionResult r = c.modem.sim_access(); r != ActionResult::kOk) {
      c.reply.fail(to_qmi_error(r));
      return;
    }
    c.reply.set(0x01, {c.modem.profile().sim().msisdn()});
  });
  // Get IDs -> 0x10 ESN ("0" on a GSM/LTE module), 0x11 IMEI, 0x13 IMEI SV
  t.add(kDms, 0x0025, [](QmiCall& c) {
    const auto& id = c.modem.profile().identity();
    c.reply.set(0x10, {"0"}).set(0x11, {id.imei()});
    if (!id.imei_sv().empty()) c.reply.set(0x13, {id.imei_sv()});
  });
  // Get Power State -> 0x01 {flags (bit 0 external power), battery level}
  t.add(kDms, 0x0026, [](QmiCall& c) { c.reply.set(0x01, {1, 100}); });
  // UIM Get PIN Status -> 0x11 PIN1, 0x12 PIN2: {status, verify left, unblock left}
  t.add(kDms, 0x002b, [](QmiCall& c) {
    if (!c.modem.card_readable()) {
      c.reply.fail(QmiError::kUimUninitialized);
      return;
    }
    ActionResult r = c.modem.sim_access();
    std::uint8_t pin1 = r == ActionResult::kSimPukRequired ? kPinBlocked
                        : r == ActionResult::kSimPinRequired ? kPinEnabledNotVerified
                        : c.modem.pin_enabled() ? kPinEnabledVerified : kPinDisabled;
    c.reply.set(0x11, {pin1, pin1 == kPinBlocked ? 0 : 3, 10}).set(0x12, {kPinEnabledNotVerified, 3, 10});
  });
  t.add(kDms, 0x002c, [](QmiCall& c) { c.reply.set(0x01, {c.modem.profile().qmi().hardware_revision()}); });
  // Get Operating Mode -> 0x01 mode [, 0x10 offline reason], 0x11 hardware restricted
  t.add(kDms, 0x002d, [](QmiCall& c) {
    if (c.modem.offline()) {
      c.reply.set(0x01, {kOffline}).set(0x10, {0});
    } else {
      c.reply.set(0x01, {c.modem.state().functionality == 1 ? kOnline : kLowPower});
    }
    c.reply.set(0x11, {0});
  });
  // Set Operating Mode: 0x01 mode. Offline is left only by a reset (INVALID_TRANSITION);
  // online and low power are AT+CFUN=1 and AT+CFUN=4.
  t.add(kDms, 0x002e, [](QmiCall& c) {
    auto mode = *c.request.number(0x01);
    switch (mode) {
      case kOnline:
        c.reply.fail(to_qmi_error(c.modem.set_functionality(1)));
        break;
      case kLowPower:
      case kPersistentLowPower:
      case kModeOnlyLowPower:
        c.reply.fail(to_qmi_error(c.modem.set_functionality(4)));
        break;
      case kOffline:
        c.reply.fail(to_qmi_error(c.modem.set_offline()));
        break;
      case kReset:
        c.modem.reset_after_reply(fmt::format("DMS Set Operating Mode reset on {}", c.function.name()));
        break;
      case kShuttingDown:
        c.modem.power_off_after_reply(fmt::format("DMS Set Operating Mode shutting down on {}", c.function.name()));
        break;
      case kFactoryTest:
        c.reply.fail(QmiError::kNotSupported);
        break;
      default:
        c.reply.fail(QmiError::kInvalidArgument);
    }
  });
  // UIM Get ICCID: readable while a PIN is still required.
  t.add(kDms, 0x003c, [](QmiCall& c) {
    if (!c.modem.card_readable()) {
      c.reply.fail(QmiError::kUimUninitialized);
      return;
    }
    c.reply.set(0x01, {c.modem.profile().sim().iccid()});
  });
  t.add(kDms, 0x0043, [](QmiCall& c) {
    if (ActionResult r = c.modem.sim_access(); r != ActionResult::kOk) {
      c.reply.fail(to_qmi_error(r));
      return;
    }
    c.reply.set(0x01, {c.modem.profile().sim().imsi()});
  });
  // Get Band Capabilities -> 0x01 legacy mask, 0x10 LTE mask (bit n-1 = band n), 0x12 LTE bands
  t.add(kDms, 0x0045, [](QmiCall& c) {
    c.reply.set(0x01, {0}).set(0x10, {lte_band_mask(c.modem)})
        .set(0x12, {std::vector<qmi::Record>{{c.modem.network().band()}}});
  });
  t.add(kDms, 0x0051, [](QmiCall& c) { c.reply.set(0x01, {c.modem.firmware().version()}); });
}

// Sierra's firmware messages: the running images as the firmware catalogue describes them.
void register_dms_sierra_handlers(QmiHandlerTable& t) {
  // Get Firmware Preference -> 0x01 [{type (0 modem, 1 PRI), unique id, build id}]
  t.add(kDms, 0x0047, [](QmiCall& c) {
    SierraImages img = sierra_images(c.modem);
    c.reply.set(0x01, {std::vector<qmi::Record>{{0, unique_id("?_?"), img.modem_build},
                                                {1, unique_id(img.pri_unique), img.pri_build}}});
  });
  // List Stored Images -> 0x01 [{type, max images, running index, images [...]}]
  t.add(kDms, 0x0049, [](QmiCall& c) {
    SierraImages img = sierra_images(c.modem);
    std::vector<qmi::Record> modem_images{{0, 0, unique_id("?_?"), img.modem_build}};
    std::vector<qmi::Record> pri_images{{0, 0, unique_id(img.pri_unique), img.pri_build}};
    c.reply.set(0x01, {std::vector<qmi::Record>{{0, 4, 0, modem_images}, {1, 50, 0, pri_images}}});
  });
  // Get Stored Image Info: 0x01 {type, unique id, build id} -> 0x10 boot version (modem) or
  // 0x11 PRI version (carrier image)
  t.add(kDms, 0x004c, [](QmiCall& c) {
    SierraImages img = sierra_images(c.modem);
    const qmi::Record& want = *c.request.get(0x01);
    std::string build = want[2].text;
    if (want[0].number == 0 && build == img.modem_build) {
      c.reply.set(0x10, {1, 0});
    } else if (want[0].number == 1 && build == img.pri_build) {
      std::string info = c.modem.firmware().carrier_config();
      info.resize(32, '\0');
      c.reply.set(0x11, {img.pri_version, info});
    } else {
      c.reply.fail(QmiError::kInvalidArgument);
    }
  });
  // SWI Get Current Firmware -> model, versions, carrier of the running images
  t.add(kDms, 0x5556, [](QmiCall& c) {
    const auto& fw = c.modem.firmware();
    c.reply.set(0x10, {c.modem.profile().identity().model()})
        .set(0x12, {fw.version()})
        .set(0x14, {fw.modem_version()})
        .set(0x16, {fw.carrier_config()})
        .set(0x17, {fw.carrier()})
        .set(0x18, {fw.carrier_config()});
  });
  // SWI Get USB Composition -> 0x10 current (6 = DM, NMEA, AT, QMI), 0x11 supported
  t.add(kDms, 0x555b, [](QmiCall& c) {
    c.reply.set(0x10, {6}).set(0x11, {std::vector<qmi::Record>{{6}, {8}, {9}, {14}}});
  });
}

}  // namespace modemu::emulator
