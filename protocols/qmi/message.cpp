#include "protocols/qmi/message.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace modemu::protocols::qmi {
namespace {

Tlv result_tlv(QmiError error) {
  Writer w;
  w.le16(error == QmiError::kNone ? 0 : 1).le16(static_cast<std::uint16_t>(error));
  return Tlv{0x02, w.take()};
}

}  // namespace

std::optional<QmiError> Request::validate(const MessageDef& def, const Message& message, Request& out, std::string* why) {
  out.message_ = &message;
  out.fields_.clear();
  for (const Tlv& tlv : message.tlvs) {
    const TlvDef* t = def.find(MessageType::kRequest, tlv.type);
    if (t == nullptr) continue;
    std::string error;
    auto record = decode_tlv(*t, tlv.value, &error);
    if (!record) {
      if (why != nullptr) *why = error;
      return QmiError::kMalformedMessage;
    }
    out.fields_[tlv.type] = std::move(*record);
  }
  for (const TlvDef& t : def.request) {
    if (t.mandatory && !out.has(t.type)) {
      if (why != nullptr) *why = fmt::format("TLV 0x{:02x} ({}) is missing", t.type, t.name);
      return QmiError::kMissingArgument;
    }
  }
  return std::nullopt;
}

const Record* Request::get(std::uint8_t tlv) const {
  auto it = fields_.find(tlv);
  return it == fields_.end() ? nullptr : &it->second;
}

std::optional<std::uint64_t> Request::number(std::uint8_t tlv, std::size_t field) const {
  const Record* r = get(tlv);
  if (r == nullptr || field >= r->size()) return std::nullopt;
  return (*r)[field].number;
}

std::optional<std::string> Request::text(std::uint8_t tlv, std::size_t field) const {
  const Record* r = get(tlv);
  if (r == nullptr || field >= r->size()) return std::nullopt;
  return (*r)[field].text;
}

Reply::Reply(const MessageDef& def, const Message& request) : def_(def) {
  base_.service = request.service;
  base_.client_id = request.client_id;
  base_.type = MessageType::kResponse;
  base_.transaction = request.transaction;
  base_.message_id = request.message_id;
}

Reply& Reply::set(std::uint8_t tlv, Record values) {
  const TlvDef* t = def_.find(MessageType::kResponse, tlv);
  if (t == nullptr) {
    throw std::invalid_argument(fmt::format("{} response has no TLV 0x{:02x}", def_.name, tlv));
  }
  Bytes value = encode_tlv(*t, values);
  for (auto& existing : base_.tlvs) {
    if (existing.type == tlv) {
      existing.value = std::move(value);
      return *this;
    }
  }
  base_.tlvs.push_back(Tlv{tlv, std::move(value)});
  return *this;
}

Reply& Reply::fail(QmiError error) {
  error_ = error;
  return *this;
}

Message Reply::build() const {
  Message m = base_;
  m.tlvs.insert(m.tlvs.begin(), result_tlv(error_));
  return m;
}

Message unknown_command_reply(const Message& request) {
  Message m;
  m.service = request.service;
  m.client_id = request.client_id;
  m.type = MessageType::kResponse;
  m.transaction = request.transaction;
  m.message_id = request.message_id;
  m.tlvs.push_back(result_tlv(QmiError::kInvalidQmiCommand));
  return m;
}

Message build_indication(const MessageDef& def, std::uint8_t client_id, const std::map<std::uint8_t, Record>& tlvs) {
  Message m;
  m.service = def.service;
  m.client_id = client_id;
  m.type = MessageType::kIndication;
  m.transaction = 0;
  m.message_id = def.id;
  for (const auto& [type, record] : tlvs) {
    const TlvDef* t = def.find(MessageType::kIndication, type);
    if (t == nullptr) throw std::invalid_argument(fmt::format("{} indication has no TLV 0x{:02x}", def.name, type));
    m.tlvs.push_back(Tlv{type, encode_tlv(*t, record)});
  }
  return m;
}

}  // namespace modemu::protocols::qmi
