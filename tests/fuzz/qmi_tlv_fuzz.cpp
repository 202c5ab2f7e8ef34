// Fuzz target: the schema-driven TLV decoder and request validation (protocols/qmi/schema.hpp,
// message.hpp). The first two bytes choose a message of the schema; the rest are its TLVs.
#include <cstdint>

#include "protocols/qmi/message.hpp"
#include "protocols/qmi/schema.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace modemu::protocols;
  const auto& all = qmi::messages();
  if (size < 2) return 0;
  const qmi::MessageDef& def = all[(data[0] | (data[1] << 8)) % all.size()];
  Reader r(ByteView(data + 2, size - 2));
  qmi::Message m;
  m.service = def.service;
  m.message_id = def.id;
  while (r.remaining() >= 3) {
    qmi::Tlv t;
    t.type = r.u8();
    std::size_t len = r.le16() % 512;
    ByteView v = r.take(len < r.remaining() ? len : r.remaining());
    t.value.assign(v.begin(), v.end());
    m.tlvs.push_back(std::move(t));
  }
  qmi::Request request;
  std::string why;
  (void)qmi::Request::validate(def, m, request, &why);
  // Decoding every TLV as a response and an indication too exercises every layout.
  for (const auto& t : m.tlvs) {
    for (auto type : {qmi::MessageType::kResponse, qmi::MessageType::kIndication}) {
      if (const qmi::TlvDef* td = def.find(type, t.type)) {
        if (auto record = qmi::decode_tlv(*td, t.value)) {
          if (qmi::encode_tlv(*td, *record) != t.value) __builtin_trap();  // decode/encode agree
          (void)qmi::format_record(*td, *record, true);
        }
      }
    }
  }
  m.type = qmi::MessageType::kResponse;
  (void)qmi::describe(m);
  return 0;
}
