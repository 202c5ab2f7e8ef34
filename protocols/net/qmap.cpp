#include "protocols/net/qmap.hpp"

#include <utility>

#include <fmt/format.h>

namespace modemu::protocols::net {

QmapTransfer parse_qmap(ByteView transfer) {
  QmapTransfer out;
  Reader r(transfer);
  while (r.remaining() >= kQmapHeaderSize) {
    std::size_t at = r.position();
    std::uint8_t flags = r.u8();
    std::uint8_t mux_id = r.u8();
    std::uint16_t length = r.be16();
    if (length > r.remaining()) {
      out.errors.push_back(fmt::format("offset {}: length {} runs past the transfer ({} bytes left); the rest is dropped",
                                       at, length, r.remaining()));
      return out;
    }
    ByteView body = r.take(length);
    QmapPacket p;
    p.command = (flags & kQmapCommandBit) != 0;
    p.pad_length = flags & kQmapPadMask;
    p.mux_id = mux_id;
    if (!p.command && (length == 0 || p.pad_length >= length)) {
      out.errors.push_back(fmt::format("offset {}: pad length {} leaves no packet in length {}; skipped", at,
                                       p.pad_length, length));
      continue;
    }
    p.payload = p.command ? body : body.first(length - p.pad_length);
    out.packets.push_back(p);
  }
  if (r.remaining() > 0) {
    out.errors.push_back(fmt::format("offset {}: {} bytes after the last packet, too few for a header",
                                     r.position(), r.remaining()));
  }
  return out;
}

Bytes build_qmap(std::uint8_t mux_id, ByteView packet, std::size_t align, bool command) {
  if (align == 0) align = 1;
  std::size_t pad = (align - packet.size() % align) % align;
  // The pad field has 6 bits; 65535 is the most the length field holds.
  if (pad > kQmapPadMask || packet.size() + pad > 0xffff) return {};
  Writer w;
  w.data().reserve(kQmapHeaderSize + packet.size() + pad);
  w.u8(static_cast<std::uint8_t>((command ? kQmapCommandBit : 0) | pad))
      .u8(mux_id)
      .be(packet.size() + pad, 2)
      .bytes(packet);
  w.data().resize(w.size() + pad, 0);
  return w.take();
}

std::size_t QmapAggregator::framed_size(std::size_t packet_size) {
  return kQmapHeaderSize + packet_size + (kAlign - packet_size % kAlign) % kAlign;
}

bool QmapAggregator::fits(std::size_t packet_size) const {
  return count_ < max_datagrams_ && transfer_.size() + framed_size(packet_size) <= max_size_;
}

bool QmapAggregator::add(std::uint8_t mux_id, ByteView packet) {
  if (!fits(packet.size()) && count_ != 0) return false;
  Bytes framed = build_qmap(mux_id, packet, kAlign);
  if (framed.empty()) return false;
  transfer_.insert(transfer_.end(), framed.begin(), framed.end());
  ++count_;
  return true;
}

Bytes QmapAggregator::take() {
  count_ = 0;
  return std::exchange(transfer_, {});
}

}  // namespace modemu::protocols::net
