#pragma once
// CRC-32 (IEEE 802.3, the zlib / PNG check: reflected 0x04C11DB7, init and final XOR 0xFFFFFFFF),
// in one piece or over pieces. modemu's firmware images and Sierra CWE headers use it.
#include <cstdint>

#include <boost/crc.hpp>

#include "protocols/common/bytes.hpp"

namespace modemu::protocols {

class Crc32 {
 public:
  Crc32& update(ByteView data) {
    crc_.process_bytes(data.data(), data.size());
    return *this;
  }
  std::uint32_t value() const { return crc_.checksum(); }

 private:
  boost::crc_32_type crc_;
};
inline std::uint32_t crc32(ByteView data) { return Crc32().update(data).value(); }

}  // namespace modemu::protocols
