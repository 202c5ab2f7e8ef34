#include "gadget/usb2tcp/usb2tcp_frames.hpp"

#include <cstring>

#include <fmt/format.h>

#include "protocols/common/bytes.hpp"

namespace modemu::gadget {

void Usb2TcpFrameReader::compact() {
  std::size_t available = end_ - begin_;
  if (begin_ != 0) std::memmove(rx_.data(), rx_.data() + begin_, available);
  begin_ = 0;
  end_ = available;
}

Usb2TcpFrameReader::Result Usb2TcpFrameReader::next(std::string_view& payload, std::string& error) {
  for (;;) {
    std::size_t available = end_ - begin_;
    std::size_t wanted = kUsb2TcpFrameHeader;
    if (available >= kUsb2TcpFrameHeader) {
      protocols::Reader r(protocols::as_bytes(std::string_view(rx_.data() + begin_, kUsb2TcpFrameHeader)));
      std::uint32_t tag = r.le32();
      std::uint32_t length = r.le32();
      if (tag != kUsb2TcpTag) {
        error = fmt::format("framing error: a frame starts with tag 0x{:08x}, not 0x{:08x}", tag, kUsb2TcpTag);
        return Result::kError;
      }
      if (length > kUsb2TcpMaxFrame) {
        error = fmt::format("framing error: frame length {} exceeds the limit of {} bytes", length, kUsb2TcpMaxFrame);
        return Result::kError;
      }
      wanted = kUsb2TcpFrameHeader + length;
      if (available >= wanted) {
        begin_ += wanted;
        if (length == 0) continue;  // a zero-length packet: no data for the port
        payload = std::string_view(rx_.data() + begin_ - length, length);
        return Result::kFrame;
      }
    }
    // Not a whole frame: make room for it so that it arrives in one piece, and keep enough room
    // at the end for a large read.
    if (begin_ == end_) {
      begin_ = end_ = 0;
    } else if (rx_.size() - begin_ < wanted || rx_.size() - end_ < kMinRead) {
      compact();
    }
    if (rx_.size() < wanted) rx_.resize(wanted);
    return Result::kNeedMore;
  }
}

}  // namespace modemu::gadget
