// DMS, device management (service 2): identity, PIN status, operating mode, firmware.
#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "emulator/modem.hpp"
#include "emulator/profile.hpp"
#include "emulator/qmi/qmi_function.hpp"
#include "emulator/qmi/services.hpp"
#include "emulator/sierra/store.hpp"

namespace modemu::emulator {

namespace qmi = protocols::qmi;
using qmi::QmiError;

namespace {

// DMS operating modes (qmi.md).
enum OperatingMode : std::uint8_t {
  kOnline = 0, kLowPower = 1, kFactoryTest = 2, kOffline = 3, kReset = 4, kShuttingDown = 5,
  kPersistentLowPower = 6, kModeOnlyLowPower = 7,
};

// SWI USB composition 6: DM, NMEA, AT and QMI (rmnet), the profiles' application composition.
constexpr std::uint32_t kSwiComposition = 6;

// PIN states (DMS UIM Get PIN Status and UIM Get Card Status share them).
enum PinStatus : std::uint8_t { kPinNotInitialized = 0, kPinEnabledNotVerified = 1, kPinEnabledVerified = 2,
                                kPinDisabled = 3, kPinBlocked = 4 };

// A fixed-size unique id field: the text, NUL-padded to 16 bytes.
std::string unique_id(std::string text) {
  text.resize(16, '\0');
  return text;
}

// The text of a unique id field, without its NUL padding.
std::string unique_id_text(std::string_view field) {
  auto nul = field.find('\0');
  return std::string(field.substr(0, nul));
}

// "002.079_000" -> 2 << 16 | 79, the PRI version Get Stored Image Info reports.
std::uint32_t pri_version(std::string_view config) {
  std::uint32_t major = 0, minor = 0;
  auto dot = config.find('.');
  if (dot == std::string_view::npos) return 0;
  std::from_chars(config.data(), config.data() + dot, major);
  std::from_chars(config.data() + dot + 1, config.data() + config.size(), minor);
  return (major << 16) | (minor & 0xffff);
}

// F4 (field-failures.md): the stored-image information a router met with an empty version
// field ("Malformed image string: ['', '001.000_000']").
constexpr const char* kMalformedPri = "001.000_000";
constexpr const char* kMalformedBuild = "_001.000_000";

sierra::Store* store_or_fail(QmiCall& c) {
  auto* store = c.modem.sierra_store();
  if (store == nullptr) c.reply.fail(QmiError::kNotSupported);
  return store;
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

// Sierra's firmware messages (sierra-qdl.md): the module's firmware storage (emulator/sierra).
void register_dms_sierra_handlers(QmiHandlerTable& t) {
  // Get Firmware Preference -> 0x01 [{type (0 modem, 1 PRI), unique id, build id}]
  t.add(kDms, 0x0047, [](QmiCall& c) {
    auto* store = store_or_fail(c);
    if (store == nullptr) return;
    const auto& p = store->state().preference();
    c.reply.set(0x01, {std::vector<qmi::Record>{{sierra::kModemImage, unique_id(sierra::kModemUniqueId), p.modem_build()},
                                                {sierra::kPriImage, unique_id(p.pri_unique()), p.pri_build()}}});
  });
  // Set Firmware Preference: 0x01 [{type, unique id, build id}], 0x10 download override
  //   -> 0x01 the image types still to download (empty: the preferred images are stored).
  t.add(kDms, 0x0048, [](QmiCall& c) {
    auto* store = store_or_fail(c);
    if (store == nullptr) return;
    profile::SierraImagePair pref = store->state().preference();
    for (const auto& img : c.request.get(0x01)->at(0).items) {
      if (img[0].number == sierra::kModemImage) {
        pref.set_modem_build(img[2].text);
      } else if (img[0].number == sierra::kPriImage) {
        pref.set_pri_unique(unique_id_text(img[1].text));
        pref.set_pri_build(img[2].text);
      } else {
        c.reply.fail(QmiError::kInvalidArgument);
        return;
      }
    }
    std::string why;
    auto missing = store->set_preference(pref, &why);
    if (!missing) {
      c.modem.event("qmi.refused", "DMS Set Firmware Preference: " + why);
      c.reply.fail(QmiError::kInvalidArgument);
      return;
    }
    if (c.request.number(0x10).value_or(0) == 1) missing = std::vector<std::uint8_t>{sierra::kModemImage, sierra::kPriImage};
    std::vector<qmi::Record> types;
    for (auto type : *missing) types.push_back({type});
    c.modem.request_download(!missing->empty());
    c.reply.set(0x01, {types});
  });
  // List Stored Images -> 0x01 [{type, max images, running index, images [{storage index,
  //   failure count, unique id, build id}]}]
  t.add(kDms, 0x0049, [](QmiCall& c) {
    auto* store = store_or_fail(c);
    if (store == nullptr) return;
    const auto& st = store->state();
    const auto& sp = c.modem.profile().sierra();
    std::vector<qmi::Record> types;
    for (std::uint8_t type : {sierra::kModemImage, sierra::kPriImage}) {
      std::vector<qmi::Record> images;
      std::uint32_t running = 0xff;
      for (const auto& img : st.images()) {
        if (img.type() != type) continue;
        bool runs = type == sierra::kModemImage ? img.build_id() == st.running().modem_build()
                                                : img.unique_id() == st.running().pri_unique() &&
                                                      img.build_id() == st.running().pri_build();
        if (runs) running = static_cast<std::uint32_t>(images.size());
        images.push_back({static_cast<std::uint32_t>(images.size()), 0, unique_id(img.unique_id()), img.build_id()});
      }
      if (type == sierra::kPriImage && c.modem.sierra_image_info_malformed()) {
        images.push_back({static_cast<std::uint32_t>(images.size()), 0, unique_id(kMalformedPri), kMalformedBuild});
      }
      std::uint32_t max = type == sierra::kModemImage ? sp.max_modem_images() : sp.max_pri_images();
      types.push_back({type, max, running, images});
    }
    c.reply.set(0x01, {types});
  });
  // Get Stored Image Info: 0x01 {type, unique id, build id} -> 0x10 boot version (modem) or
  // 0x11 {PRI version, info} (carrier image)
  t.add(kDms, 0x004c, [](QmiCall& c) {
    auto* store = store_or_fail(c);
    if (store == nullptr) return;
    const qmi::Record& want = *c.request.get(0x01);
    std::string uid = unique_id_text(want[1].text);
    const std::string& build = want[2].text;
    if (c.modem.sierra_image_info_malformed() && uid == kMalformedPri && build == kMalformedBuild) {
      std::string info = kMalformedBuild;
      info.resize(32, '\0');
      c.reply.set(0x11, {0, info});
      return;
    }
    if (want[0].number == sierra::kModemImage && store->find_modem(build) != nullptr) {
      c.reply.set(0x10, {1, 0});
    } else if (const auto* pri = want[0].number == sierra::kPriImage ? store->find_pri(uid, build) : nullptr) {
      std::string info = pri->config();
      info.resize(32, '\0');
      c.reply.set(0x11, {pri_version(pri->unique_id()), info});
    } else {
      c.reply.fail(QmiError::kInvalidArgument);
    }
  });
  // Set Firmware ID: reset into boot-and-hold.
  t.add(kDms, 0x003e, [](QmiCall& c) {
    c.modem.reset_into_boot_hold(fmt::format("DMS Set Firmware ID on {}", c.function.name()));
  });
  // Get Boot Image Download Mode -> 0x10 mode (1 = boot-and-hold at the next reset)
  t.add(kDms, 0x004f, [](QmiCall& c) { c.reply.set(0x10, {c.modem.boot_hold_pending() ? 1 : 0}); });
  // Set Boot Image Download Mode: 0x01 mode (0 normal, 1 boot-and-hold: the module resets into it)
  t.add(kDms, 0x0050, [](QmiCall& c) {
    auto mode = *c.request.number(0x01);
    if (mode == 1) {
      c.modem.reset_into_boot_hold(fmt::format("DMS Set Boot Image Download Mode 1 on {}", c.function.name()));
    } else if (mode != 0) {
      c.reply.fail(QmiError::kInvalidArgument);
    }
  });
  // SWI Get Current Firmware -> model, versions, carrier of the running images
  t.add(kDms, 0x5556, [](QmiCall& c) {
    const auto& fw = c.modem.firmware();
    c.reply.set(0x10, {c.modem.profile().identity().model()})
        .set(0x11, {fw.version()})
        .set(0x12, {fw.version()})
        .set(0x14, {fw.modem_version()})
        .set(0x16, {fw.carrier_config()})
        .set(0x17, {fw.carrier()})
        .set(0x18, {fw.carrier_config()});
  });
  // SWI Get USB Composition -> 0x10 current (6 = DM, NMEA, AT, QMI), 0x11 supported
  t.add(kDms, 0x555b, [](QmiCall& c) {
    c.reply.set(0x10, {kSwiComposition}).set(0x11, {std::vector<qmi::Record>{{kSwiComposition}}});
  });
  // SWI Set USB Composition: 0x01 composition. The profile presents one composition; asking for
  // it again is accepted, any other is not supported.
  t.add(kDms, 0x555c, [](QmiCall& c) {
    if (*c.request.number(0x01) != kSwiComposition) c.reply.fail(QmiError::kNotSupported);
  });
}

}  // namespace modemu::emulator
