// UIM, the SIM card (service 0x0b): card and application status, SIM power, slot status.
#include <algorithm>
#include <functional>
#include <optional>
#include <string_view>

#include "emulator/modem.hpp"
#include "emulator/qmi/qmi_function.hpp"
#include "emulator/qmi/services.hpp"

namespace modemu::emulator {

namespace qmi = protocols::qmi;
using qmi::QmiError;

namespace {

// Card state 0 absent, 1 present, 2 error; application (USIM = 2) state 1 detected,
// 2 PIN1 required, 3 PUK1 required, 7 ready; PIN state 1 enabled-not-verified,
// 2 enabled-verified, 3 disabled, 4 blocked.
constexpr std::uint8_t kCardAbsent = 0, kCardPresent = 1, kCardError = 2;
constexpr std::uint8_t kAppUsim = 2;
constexpr std::uint8_t kAppDetected = 1, kAppPinRequired = 2, kAppPukRequired = 3, kAppIllegal = 6, kAppReady = 7;
constexpr std::uint8_t kCardErrorPowerDown = 1, kCardErrorNoAtr = 3;
constexpr std::uint16_t kNoIndex = 0xffff;

// The USIM application identifier (ETSI TS 101 220: RID A0 00 00 00 87, application 1002).
const std::vector<std::uint8_t> kUsimAid = {0xa0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02, 0xff,
                                            0xff, 0xff, 0xff, 0x89, 0x06, 0x19, 0x00, 0x00};

qmi::Record card_status(const Modem& m) {
  const auto& s = m.state();
  std::vector<qmi::Record> cards;
  std::uint16_t gw_index = kNoIndex;
  if (s.sim == profile::SIM_ABSENT) {
    cards.push_back({kCardAbsent, 0, 0, 0, 0, std::vector<qmi::Record>{}});
  } else if (s.sim == profile::SIM_ERROR || s.functionality == 0 || !s.sim_powered) {
    std::uint8_t error = s.sim == profile::SIM_ERROR ? kCardErrorNoAtr : kCardErrorPowerDown;
    cards.push_back({kCardError, 0, 0, 0, error, std::vector<qmi::Record>{}});
  } else {
    std::uint8_t app_state = kAppReady;
    std::uint8_t pin1 = m.pin_enabled() ? 2 : 3;
    if (!s.ready || s.sim == profile::SIM_BUSY) {
      app_state = kAppDetected;
    } else if (s.sim == profile::SIM_PIN) {
      app_state = kAppPinRequired;
      pin1 = 1;
    } else if (s.sim == profile::SIM_PUK) {
      app_state = kAppPukRequired;
      pin1 = 4;
    } else if (s.sim == profile::SIM_ILLEGAL) {
      app_state = kAppIllegal;
    }
    std::vector<qmi::Record> aid;
    for (std::uint8_t b : kUsimAid) aid.push_back({b});
    // perso state 2 = ready, perso feature 11 = unknown; "UPIN replaces PIN1" off.
    std::vector<qmi::Record> apps{{kAppUsim, app_state, 2, 11, 0, 0, aid, 0, pin1, pin1 == 4 ? 0 : 3, 10, 1, 3, 10}};
    cards.push_back({kCardPresent, 0, 0, 0, 0, apps});
    gw_index = 0x0000;  // slot 0, application 0
  }
  return {gw_index, kNoIndex, kNoIndex, kNoIndex, cards};
}

// Digits as a card stores them: BCD, low nibble first, padded with 'F' to `bytes`.
std::vector<std::uint8_t> bcd(const std::string& digits, std::size_t bytes) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < bytes * 2; i += 2) {
    unsigned lo = i < digits.size() ? static_cast<unsigned>(digits[i] - '0') : 0xf;
    unsigned hi = i + 1 < digits.size() ? static_cast<unsigned>(digits[i + 1] - '0') : 0xf;
    out.push_back(static_cast<std::uint8_t>((hi << 4) | lo));
  }
  return out;
}

// The ICCID as Get Slot Status lists it: one record a byte.
std::vector<qmi::Record> iccid_bcd(const std::string& iccid) {
  std::vector<qmi::Record> out;
  for (std::uint8_t b : bcd(iccid, (iccid.size() + 1) / 2)) out.push_back({b});
  return out;
}

// What the card status was when last reported, to report changes only.
std::uint64_t card_status_digest(const Modem& m) {
  auto bytes = qmi::encode_tlv(qmi::find_message(kUim, 0x0032)->indication[0], card_status(m));
  return std::hash<std::string_view>{}(protocols::as_chars(bytes));
}

// Elementary files as the card stores them (3GPP TS 31.102 / 51.011): what Read Transparent
// returns. Nothing for files the emulated card does not have.
std::optional<std::vector<std::uint8_t>> elementary_file(const Modem& m, std::uint16_t id) {
  const auto& sim = m.profile().sim();
  switch (id) {
    case 0x2fe2:  // EF_ICCID: 10 bytes, BCD, low nibble first
      return bcd(sim.iccid(), 10);
    case 0x6f07: {  // EF_IMSI: length, then "9" (IMSI, odd count) or "1" with the first digit, then BCD
      const std::string& imsi = sim.imsi();
      std::vector<std::uint8_t> out{8, static_cast<std::uint8_t>(((imsi[0] - '0') << 4) | (imsi.size() % 2 ? 0x9 : 0x1))};
      auto rest = bcd(imsi.substr(1), 7);
      out.insert(out.end(), rest.begin(), rest.end());
      return out;
    }
    case 0x6fad:  // EF_AD: operation mode, 2 bytes of information, MNC length
      return std::vector<std::uint8_t>{0x00, 0x00, 0x00, static_cast<std::uint8_t>(m.network().mnc().size())};
    case 0x6f46: {  // EF_SPN: display condition, name padded with 0xFF to 16 bytes
      std::vector<std::uint8_t> out{0x00};
      for (char ch : sim.spn().substr(0, 16)) out.push_back(static_cast<std::uint8_t>(ch));
      out.resize(17, 0xff);
      return out;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

void register_uim_handlers(QmiHandlerTable& t) {
  // Read Transparent: 0x02 {file id, path}, 0x03 {offset, length} -> 0x10 status words,
  //   0x11 the bytes. 6A 82 (file not found) for files the card does not have.
  t.add(kUim, 0x0020, [](QmiCall& c) {
    if (c.modem.sim_access() != ActionResult::kOk) {
      c.reply.fail(QmiError::kUimUninitialized);
      return;
    }
    auto file = elementary_file(c.modem, static_cast<std::uint16_t>(*c.request.number(0x02, 0)));
    if (!file) {
      c.reply.set(0x10, {0x6a, 0x82});
      return;
    }
    std::size_t offset = *c.request.number(0x03, 0);
    std::size_t length = *c.request.number(0x03, 1);
    if (offset > file->size()) {
      c.reply.set(0x10, {0x6b, 0x00});  // wrong offset
      return;
    }
    std::size_t n = length == 0 ? file->size() - offset : std::min(length, file->size() - offset);
    std::vector<qmi::Record> bytes;
    for (std::size_t i = 0; i < n; ++i) bytes.push_back({(*file)[offset + i]});
    c.reply.set(0x10, {0x90, 0x00}).set(0x11, {bytes});
  });
  // Register Events: 0x01 mask (bit 0 card status) -> 0x10 the mask now in force
  t.add(kUim, 0x002e, [](QmiCall& c) {
    auto mask = *c.request.number(0x01);
    c.function.client(kUim, c.request.message().client_id)->settings["uim.events"] = mask;
    c.function.settings["uim.card_status_digest"] = card_status_digest(c.modem);
    c.reply.set(0x10, {mask & 0x1});
  });
  t.add(kUim, 0x002f, [](QmiCall& c) { c.reply.set(0x10, card_status(c.modem)); });
  // Power Off / On SIM: 0x01 slot (1 is the only one)
  for (std::uint16_t id : {std::uint16_t{0x0030}, std::uint16_t{0x0031}}) {
    t.add(kUim, id, [id](QmiCall& c) {
      if (*c.request.number(0x01) != 1) {
        c.reply.fail(QmiError::kInvalidArgument);
        return;
      }
      c.reply.fail(to_qmi_error(c.modem.set_sim_power(id == 0x0031)));
    });
  }
  // Get Slot Status -> 0x10 physical slots [{card state (1 absent, 2 present), slot state
  //   (1 active), logical slot, ICCID}], 0x11 slot information [{protocol 2 = UICC, ...}]
  t.add(kUim, 0x0047, [](QmiCall& c) {
    bool present = c.modem.state().sim != profile::SIM_ABSENT;
    auto iccid = present ? iccid_bcd(c.modem.profile().sim().iccid()) : std::vector<qmi::Record>{};
    std::vector<qmi::Record> atr;
    if (present) {
      for (unsigned b : {0x3bu, 0x9fu, 0x96u, 0x80u, 0x1fu, 0xc7u, 0x80u, 0x31u, 0xe0u, 0x73u, 0xfeu, 0x21u, 0x13u, 0x57u}) atr.push_back({b});
    }
    c.reply.set(0x10, {std::vector<qmi::Record>{{present ? 2 : 1, 1, 1, iccid}}})
        .set(0x11, {std::vector<qmi::Record>{{present ? 2 : 0, present ? 1 : 0, atr, 0}}});
  });
}

void uim_model_changed(QmiFunction& f, ModelChange change) {
  if (change != ModelChange::kSim && change != ModelChange::kFunctionality) return;
  const qmi::MessageDef* def = qmi::find_message(kUim, 0x0032);
  qmi::Record status = card_status(f.modem());
  // Only a change of the card status is reported (CFUN=4, for one, leaves the card alone).
  std::uint64_t digest = card_status_digest(f.modem());
  if (f.setting("uim.card_status_digest", 0) == digest) return;
  f.settings["uim.card_status_digest"] = digest;
  for (QmiClient* c : f.clients(kUim)) {
    if ((c->setting("uim.events", 0) & 0x1) == 0) continue;
    f.indicate(qmi::build_indication(*def, c->id, {{0x10, status}}));
  }
}

}  // namespace modemu::emulator
