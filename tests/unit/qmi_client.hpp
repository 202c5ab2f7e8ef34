#pragma once
// A QMI client on a modem's cdc-wdm port, for tests under virtual time: sends requests, collects
// the responses and indications the modem writes back.
#include <cstdint>
#include <string_view>
#include <vector>

#include "protocols/qmi/message.hpp"
#include "protocols/qmi/qmux.hpp"
#include "support.hpp"

namespace modemu::test {

// A QMI client on the modem's cdc-wdm0: sends requests, collects responses and indications.
struct QmiClientSim {
  AtClient raw;
  std::uint16_t txn = 0;
  explicit QmiClientSim(emulator::Modem& m) : raw(m, "cdc-wdm0") {}

  std::vector<protocols::qmi::Message> send(std::uint8_t service, std::uint8_t cid, std::uint16_t id,
                                 std::vector<protocols::qmi::Tlv> tlvs = {}) {
    protocols::qmi::Message m;
    m.service = service;
    m.client_id = cid;
    m.transaction = ++txn;
    m.message_id = id;
    m.tlvs = std::move(tlvs);
    auto bytes = protocols::qmi::encode(m);
    raw.out.clear();
    if (!raw.current()) raw.attach();
    raw.attached->from_host(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    return drain();
  }
  std::vector<protocols::qmi::Message> drain() {
    protocols::qmi::Framer f;
    f.push(modemu::protocols::as_bytes(raw.out));
    raw.out.clear();
    std::vector<protocols::qmi::Message> out;
    for (auto r = f.next(); r.outcome == protocols::qmi::Framer::Outcome::kFrame; r = f.next()) {
      out.push_back(*protocols::qmi::decode(r.frame).message);
    }
    return out;
  }
  std::uint8_t allocate(std::uint8_t service) {
    auto r = send(0, 0, 0x0022, {{0x01, {service}}});
    return r.at(0).find(0x01)->value[1];
  }
};

// The error code of a response's result TLV.
inline std::uint16_t error_of(const protocols::qmi::Message& m) {
  return static_cast<std::uint16_t>(m.find(0x02)->value[2] | (m.find(0x02)->value[3] << 8));
}

}  // namespace modemu::test
