#pragma once
// QMAP version 1 (Qualcomm MAP, WDA aggregation protocol 5): the multiplexing of several data
// sessions on one pair of bulk endpoints, each packet behind a 4-byte header (qmi.md, WDA Set
// Data Format; the rmnet documentation of the Linux kernel describes the same header):
//
//   u8  cd (bit 7: command, else data), reserved (bit 6), pad length (bits 5..0)
//   u8  mux id      the session (the host binds it with WDS Bind Mux Data Port)
//   u16 length      big-endian: the packet and its padding, without this header
//
// Several such packets follow each other in one bulk transfer (aggregation). What a host
// accepts was checked against the behaviour of Linux qmi_wwan's qmimux receive path: it walks
// a transfer header by header, takes `length - pad` bytes of IP, skips command packets and
// packets whose padding is not shorter than their length, stops at a length that runs past the
// transfer, and ignores fewer than a header's worth of bytes at the end.
#include <cstdint>
#include <string>
#include <vector>

#include "protocols/common/bytes.hpp"

namespace modemu::protocols::net {

inline constexpr std::size_t kQmapHeaderSize = 4;
inline constexpr std::uint8_t kQmapCommandBit = 0x80;
inline constexpr std::uint8_t kQmapPadMask = 0x3f;
// WDA's data aggregation protocol numbers (TLVs 0x12 / 0x13): 5 = QMAP (v1).
inline constexpr std::uint32_t kAggregationQmap = 5;

struct QmapPacket {
  bool command = false;
  std::uint8_t pad_length = 0;
  std::uint8_t mux_id = 0;
  ByteView payload;  // the packet without its padding (a view into the transfer)
};

struct QmapTransfer {
  std::vector<QmapPacket> packets;  // in order; command packets included (command = true)
  // What was skipped or cut, each with its offset in the transfer ("" entries never appear).
  std::vector<std::string> errors;
};

// Splits one bulk transfer into its packets. Never fails as a whole: what cannot be read is
// reported in `errors` and the rest of the transfer, where it can still be found, is used.
QmapTransfer parse_qmap(ByteView transfer);

// One packet with its header; `align` pads the packet to a multiple of that many bytes (1: no
// padding). Packets longer than 65535 bytes with their padding cannot be framed: empty result.
Bytes build_qmap(std::uint8_t mux_id, ByteView packet, std::size_t align = 1, bool command = false);

// Downlink aggregation: packets are appended to one transfer until it holds `max_datagrams`
// packets or the next one would pass `max_size` bytes (headers and padding included), as WDA
// Set Data Format negotiated them (TLVs 0x15 / 0x16). Padding aligns each packet to 4 bytes,
// as modems send it.
class QmapAggregator {
 public:
  static constexpr std::size_t kAlign = 4;

  QmapAggregator(std::size_t max_datagrams, std::size_t max_size)
      : max_datagrams_(max_datagrams == 0 ? 1 : max_datagrams), max_size_(max_size) {}
  // The size one packet takes in a transfer.
  static std::size_t framed_size(std::size_t packet_size);
  // Whether `packet_size` more bytes of IP fit in the transfer being built.
  bool fits(std::size_t packet_size) const;
  // Appends a packet; false (and nothing appended) when it does not fit: take() first. A packet
  // that does not fit even an empty transfer is appended alone (the caller decides whether to
  // send it).
  bool add(std::uint8_t mux_id, ByteView packet);
  bool empty() const { return count_ == 0; }
  std::size_t count() const { return count_; }
  std::size_t size() const { return transfer_.size(); }
  // The transfer built so far; the aggregator is empty after.
  Bytes take();

 private:
  std::size_t max_datagrams_;
  std::size_t max_size_;
  Bytes transfer_;
  std::size_t count_ = 0;
};

}  // namespace modemu::protocols::net
