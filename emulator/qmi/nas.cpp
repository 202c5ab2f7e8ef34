// NAS, network access (service 3): registration, serving system, signal, and their indications.
#include <algorithm>
#include <charconv>
#include <cmath>

#include "emulator/modem.hpp"
#include "emulator/qmi/qmi_function.hpp"
#include "emulator/qmi/services.hpp"

namespace modemu::emulator {

namespace qmi = protocols::qmi;
using qmi::QmiError;

namespace {

constexpr std::uint8_t kRadioLte = 8;
constexpr std::uint8_t kDataCapabilityLte = 0x0b;

std::uint16_t to_u16(const std::string& digits) {
  std::uint16_t v = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), v);
  return v;
}

// NAS registration state: 0 not registered, 1 registered, 2 searching, 3 denied, 4 unknown.
std::uint8_t registration_state(const Modem& m) {
  switch (m.state().registration) {
    case RegStatus::kHome:
    case RegStatus::kRoaming: return 1;
    case RegStatus::kSearching: return 2;
    case RegStatus::kDenied: return 3;
    case RegStatus::kUnknown: return 4;
    default: return 0;
  }
}

// The serving-system TLVs, shared by the response and the indication (whose ids for LAC, CID
// and TAC differ: `cid_tlv`, `tac_tlv`).
std::map<std::uint8_t, qmi::Record> serving_system(const Modem& m, std::uint8_t cid_tlv, std::uint8_t tac_tlv) {
  std::map<std::uint8_t, qmi::Record> tlvs;
  bool reg = m.registered();
  std::vector<qmi::Record> radios;
  if (reg) radios.push_back({kRadioLte});
  // attach states: 1 attached, 2 detached; network type 2 = 3GPP
  tlvs[0x01] = {registration_state(m), reg ? 1 : 2, reg ? 1 : 2, reg ? 2 : 0, radios};
  if (reg) {
    const auto& net = m.network();
    tlvs[0x10] = {m.state().registration == RegStatus::kRoaming ? 0 : 1};  // 0 = roaming ON
    tlvs[0x11] = {std::vector<qmi::Record>{{kDataCapabilityLte}}};
    tlvs[0x12] = {to_u16(net.mcc()), to_u16(net.mnc()), net.operator_long()};
    tlvs[cid_tlv] = {net.cell_id()};
    tlvs[tac_tlv] = {net.tac()};
  }
  return tlvs;
}

// System info TLVs: LTE service status, and the LTE system info while registered.
std::map<std::uint8_t, qmi::Record> system_info(const Modem& m) {
  std::map<std::uint8_t, qmi::Record> tlvs;
  // service status: 0 none, 1 limited, 2 available
  std::uint8_t status = m.registered() ? 2 : m.state().registration == RegStatus::kDenied ? 1 : 0;
  tlvs[0x14] = {status, status, 1};
  if (m.registered()) {
    const auto& net = m.network();
    std::string mnc = net.mnc();
    if (mnc.size() == 2) mnc.push_back('\xff');  // a two-digit MNC is padded with 0xFF
    bool roaming = m.state().registration == RegStatus::kRoaming;
    tlvs[0x19] = {1, 3, 1, 3, 1, roaming ? 1 : 0, 1, 0, 0, 0, 1, net.cell_id(), 0, 0, 0, 1, net.mcc(), mnc, 1, net.tac()};
  }
  return tlvs;
}

qmi::Record lte_signal(const Modem& m) {
  const auto& s = m.state().signal;
  return {s.rssi_dbm(), static_cast<int>(std::lround(s.rsrq_db())), s.rsrp_dbm(),
          static_cast<int>(std::lround(s.sinr_db() * 10.0))};  // SNR in 0.1 dB
}

void indicate_to(QmiFunction& f, std::uint16_t id, const std::string& setting, bool by_default,
                 const std::map<std::uint8_t, qmi::Record>& tlvs) {
  const qmi::MessageDef* def = qmi::find_message(kNas, id);
  for (QmiClient* c : f.clients(kNas)) {
    if (c->setting(setting, by_default ? 1 : 0) == 0) continue;
    f.indicate(qmi::build_indication(*def, c->id, tlvs));
  }
}

}  // namespace

void register_nas_handlers(QmiHandlerTable& t) {
  // Register Indications: each TLV turns one indication on or off for this client.
  t.add(kNas, 0x0003, [](QmiCall& c) {
    QmiClient* client = c.function.client(kNas, c.request.message().client_id);
    for (auto [tlv, key] : {std::pair<std::uint8_t, const char*>{0x13, "nas.serving_system"}, {0x18, "nas.system_info"},
                            {0x19, "nas.signal_info"}, {0x21, "nas.network_reject"}}) {
      if (auto on = c.request.number(tlv)) client->settings[key] = *on;
    }
  });
  // Get Signal Strength -> 0x01 {strength dBm, radio}, 0x10/0x11 lists, 0x16 RSRQ,
  //   0x17 SNR (0.1 dB), 0x18 RSRP. DEVICE_NOT_READY while the radio is off.
  t.add(kNas, 0x0020, [](QmiCall& c) {
    if (!c.modem.radio_on()) {
      c.reply.fail(QmiError::kDeviceNotReady);
      return;
    }
    if (!c.modem.registered()) {
      c.reply.fail(QmiError::kNoNetworkFound);
      return;
    }
    const auto& s = c.modem.state().signal;
    c.reply.set(0x01, {s.rssi_dbm(), kRadioLte})
        .set(0x10, {std::vector<qmi::Record>{{s.rssi_dbm(), kRadioLte}}})
        .set(0x11, {std::vector<qmi::Record>{{-s.rssi_dbm(), kRadioLte}}})
        .set(0x16, {static_cast<int>(std::lround(s.rsrq_db())), kRadioLte})
        .set(0x17, {static_cast<int>(std::lround(s.sinr_db() * 10.0))})
        .set(0x18, {s.rsrp_dbm()});
  });
  // Initiate Network Register: 0x01 action (1 automatic, 2 manual), 0x10 manual PLMN.
  t.add(kNas, 0x0022, [](QmiCall& c) {
    if (!c.modem.radio_on()) {
      c.reply.fail(QmiError::kDeviceNotReady);
      return;
    }
    auto action = c.request.number(0x01).value_or(1);
    if (action == 2) {
      const auto* plmn = c.request.get(0x10);
      const auto& net = c.modem.network();
      if (plmn == nullptr) {
        c.reply.fail(QmiError::kMissingArgument);
      } else if ((*plmn)[0].number != to_u16(net.mcc()) || (*plmn)[1].number != to_u16(net.mnc())) {
        c.reply.fail(QmiError::kNoNetworkFound);
      }
    } else if (action != 1) {
      c.reply.fail(QmiError::kInvalidArgument);
    }
  });
  t.add(kNas, 0x0024, [](QmiCall& c) {
    for (auto& [tlv, record] : serving_system(c.modem, 0x1d, 0x24)) c.reply.set(tlv, record);
  });
  // Get Home Network -> 0x01 {MCC, MNC, description} of the SIM's home network
  t.add(kNas, 0x0025, [](QmiCall& c) {
    if (c.modem.sim_access() != ActionResult::kOk) {
      c.reply.fail(QmiError::kUimUninitialized);
      return;
    }
    const auto& imsi = c.modem.profile().sim().imsi();
    std::size_t mnc_len = c.modem.network().mnc().size();
    c.reply.set(0x01, {to_u16(imsi.substr(0, 3)), to_u16(imsi.substr(3, mnc_len)), c.modem.profile().sim().spn()})
        .set(0x12, {1, mnc_len == 3 ? 1 : 0});
  });
  // Get System Selection Preference -> modes (GSM 1<<2, UMTS 1<<3, LTE 1<<4), bands,
  // automatic network selection.
  t.add(kNas, 0x0034, [](QmiCall& c) {
    c.reply.set(0x10, {0}).set(0x11, {(1u << 2) | (1u << 3) | (1u << 4)}).set(0x12, {0})
        .set(0x15, {lte_band_mask(c.modem)}).set(0x16, {0});
  });
  t.add(kNas, 0x0050, [](QmiCall&) {});
  t.add(kNas, 0x006c, [](QmiCall&) {});
  t.add(kNas, 0x004d, [](QmiCall& c) {
    for (auto& [tlv, record] : system_info(c.modem)) c.reply.set(tlv, record);
  });
  // Get Signal Info -> 0x14 LTE {RSSI, RSRQ, RSRP, SNR (0.1 dB)} while registered on LTE
  t.add(kNas, 0x004f, [](QmiCall& c) {
    if (!c.modem.radio_on()) {
      c.reply.fail(QmiError::kDeviceNotReady);
      return;
    }
    if (c.modem.registered()) c.reply.set(0x14, lte_signal(c.modem));
  });
}

void nas_model_changed(QmiFunction& f, ModelChange change) {
  if (change == ModelChange::kRegistration) {
    // Serving system indications are on unless a client turned them off; system info ones on
    // request (Register Indications).
    indicate_to(f, 0x0024, "nas.serving_system", true, serving_system(f.modem(), 0x1e, 0x25));
    indicate_to(f, 0x004e, "nas.system_info", false, system_info(f.modem()));
  }
  if ((change == ModelChange::kRegistration || change == ModelChange::kSignal) && f.modem().registered()) {
    indicate_to(f, 0x0051, "nas.signal_info", false, {{0x14, lte_signal(f.modem())}});
  }
}

}  // namespace modemu::emulator
