#pragma once
// The receiving side of QFirehose's usb2tcp framing (usb2tcp_server.hpp): bytes as the socket
// delivers them in, whole frames' payloads out. Each frame is `u32 tag 0x12345678, u32 length`
// (little-endian) and `length` bytes of payload; zero-length frames carry nothing and are
// skipped. A wrong tag or a length beyond kUsb2TcpMaxFrame breaks the stream: the connection
// must be closed. Kept apart from the sockets so that it can be fuzzed (tests/fuzz).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace modemu::gadget {

inline constexpr std::uint32_t kUsb2TcpTag = 0x12345678;
// Frames larger than this close the connection as a framing error. Firehose payloads go up to
// 1 MiB (eMMC/UFS MaxPayloadSizeToTargetInBytes); the limit only catches garbage lengths.
inline constexpr std::size_t kUsb2TcpMaxFrame = 32 * 1024 * 1024;
inline constexpr std::size_t kUsb2TcpFrameHeader = 8;

class Usb2TcpFrameReader {
 public:
  // Reads go straight into the buffer; large reads keep a 1 MiB Firehose payload to a few
  // system calls. The buffer grows to hold the largest frame seen (up to kUsb2TcpMaxFrame).
  static constexpr std::size_t kReadBuffer = 1024 * 1024;
  static constexpr std::size_t kMinRead = 64 * 1024;  // less room than this at the end: compact first

  explicit Usb2TcpFrameReader(std::size_t buffer = kReadBuffer) : rx_(buffer) {}

  // Where the next read from the socket goes (never empty), and how much of it arrived.
  std::span<char> space() { return {rx_.data() + end_, rx_.size() - end_}; }
  void commit(std::size_t n) { end_ += std::min(n, rx_.size() - end_); }

  enum class Result { kFrame, kNeedMore, kError };
  // kFrame: `payload` is the next frame's (valid until the next call of next() or space());
  // kNeedMore: no whole frame is buffered; kError: `error` says how the framing broke.
  Result next(std::string_view& payload, std::string& error);
  std::size_t buffered() const { return end_ - begin_; }

 private:
  void compact();
  std::vector<char> rx_;
  std::size_t begin_ = 0;  // received bytes not yet framed are rx_[begin_, end_)
  std::size_t end_ = 0;
};

}  // namespace modemu::gadget
