#include "protocols/qmi/qmux.hpp"

#include <algorithm>
#include <stdexcept>

namespace modemu::protocols::qmi {

const Tlv* Message::find(std::uint8_t tlv_type) const {
  for (const auto& t : tlvs) {
    if (t.type == tlv_type) return &t;
  }
  return nullptr;
}

Bytes encode(const Message& m) {
  Writer w;
  w.u8(kQmuxMarker);
  w.le16(0);  // length, patched below
  w.u8(m.type == MessageType::kRequest ? 0x00 : 0x80);
  w.u8(m.service);
  w.u8(m.client_id);
  if (m.is_ctl()) {
    std::uint8_t flags = m.type == MessageType::kResponse ? 0x01 : m.type == MessageType::kIndication ? 0x02 : 0x00;
    w.u8(flags);
    w.u8(static_cast<std::uint8_t>(m.transaction));
  } else {
    std::uint8_t flags = m.type == MessageType::kResponse ? 0x02 : m.type == MessageType::kIndication ? 0x04 : 0x00;
    w.u8(flags);
    w.le16(m.transaction);
  }
  w.le16(m.message_id);
  std::size_t tlv_length_at = w.size();
  w.le16(0);
  std::size_t tlv_start = w.size();
  for (const auto& t : m.tlvs) {
    if (t.value.size() > 0xffff) throw std::length_error("QMI TLV longer than 65535 bytes");
    w.u8(t.type);
    w.le16(static_cast<std::uint16_t>(t.value.size()));
    w.bytes(t.value);
  }
  std::size_t tlv_length = w.size() - tlv_start;
  if (tlv_length > 0xffff || w.size() - 1 > 0xffff) throw std::length_error("QMI message longer than 65535 bytes");
  w.patch_le(tlv_length_at, tlv_length, 2);
  w.patch_le(1, w.size() - 1, 2);
  return w.take();
}

Decoded decode(ByteView frame) {
  Reader r(frame);
  if (r.u8() != kQmuxMarker) return {std::nullopt, DecodeError{"no QMUX marker"}};
  std::size_t length = r.le16();
  if (!r.ok() || length + 1 != frame.size()) return {std::nullopt, DecodeError{"QMUX length does not match the frame"}};
  std::uint8_t qmux_flags = r.u8();
  Message m;
  m.service = r.u8();
  m.client_id = r.u8();
  std::uint8_t flags = r.u8();
  if (m.is_ctl()) {
    m.transaction = r.u8();
    m.type = (flags & 0x02) ? MessageType::kIndication : (flags & 0x01) ? MessageType::kResponse : MessageType::kRequest;
  } else {
    m.transaction = r.le16();
    m.type = (flags & 0x04) ? MessageType::kIndication : (flags & 0x02) ? MessageType::kResponse : MessageType::kRequest;
  }
  (void)qmux_flags;
  m.message_id = r.le16();
  std::size_t tlv_length = r.le16();
  if (!r.ok()) return {std::nullopt, DecodeError{"truncated QMI header"}};
  if (tlv_length != r.remaining()) return {std::nullopt, DecodeError{"TLV length does not match the frame"}};
  while (r.remaining() > 0) {
    Tlv t;
    t.type = r.u8();
    std::size_t len = r.le16();
    ByteView value = r.take(len);
    if (!r.ok()) return {std::nullopt, DecodeError{"TLV runs past the end of the message"}};
    t.value.assign(value.begin(), value.end());
    m.tlvs.push_back(std::move(t));
  }
  return {std::move(m), std::nullopt};
}

void Framer::push(ByteView bytes) {
  // Compact before growing so a long session does not keep what it has consumed.
  if (start_ > 0 && start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  } else if (start_ > 4096) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(start_));
    start_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

Framer::Result Framer::next() {
  Result result;
  std::size_t available = buffer_.size() - start_;
  if (available == 0) return result;
  if (buffer_[start_] != kQmuxMarker) {
    auto from = buffer_.begin() + static_cast<std::ptrdiff_t>(start_);
    auto marker = std::find(from, buffer_.end(), kQmuxMarker);
    result.outcome = Outcome::kLostSync;
    result.dropped = static_cast<std::size_t>(marker - from);
    start_ += result.dropped;
    return result;
  }
  if (available < 3) return result;
  std::size_t length = buffer_[start_ + 1] | (static_cast<std::size_t>(buffer_[start_ + 2]) << 8);
  if (length < kMinLength) {
    // Too short for any QMI message: this marker did not start a frame. Skip it alone.
    result.outcome = Outcome::kMalformed;
    result.dropped = 1;
    start_ += 1;
    return result;
  }
  if (available < length + 1) return result;
  result.outcome = Outcome::kFrame;
  auto begin = buffer_.begin() + static_cast<std::ptrdiff_t>(start_);
  result.frame.assign(begin, begin + static_cast<std::ptrdiff_t>(length + 1));
  start_ += length + 1;
  return result;
}

void Framer::clear() {
  buffer_.clear();
  start_ = 0;
}

}  // namespace modemu::protocols::qmi
