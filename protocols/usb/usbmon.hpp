#pragma once
// Writing USB transfers as a pcap of Linux usbmon records (LINKTYPE_USB_LINUX_MMAPPED, 220):
// the format Wireshark and tshark read as they read a capture of /dev/usbmonN. Each record is a
// 64-byte header (include/uapi/linux/usb/... mon_bin_hdr layout, host byte order) and its data.
#include <cstdint>
#include <optional>

#include "protocols/common/bytes.hpp"

namespace modemu::protocols::usb {

enum class TransferType : std::uint8_t { kIsochronous = 0, kInterrupt = 1, kControl = 2, kBulk = 3 };

struct UsbmonRecord {
  std::uint64_t id = 0;   // pairs a submission with its completion
  char event = 'S';       // 'S' submit, 'C' complete, 'E' error
  TransferType type = TransferType::kBulk;
  std::uint8_t endpoint = 0;  // with bit 7 for IN
  std::uint8_t device = 1;
  std::uint16_t bus = 1;
  std::optional<Bytes> setup;  // control submissions
  std::int64_t seconds = 0;
  std::int32_t microseconds = 0;
  std::int32_t status = 0;     // -115 (EINPROGRESS) on submissions, 0 or -EPIPE on completion
  std::uint32_t urb_length = 0;
  Bytes data;
  std::int32_t interval = 0;
};

// The pcap file header for usbmon records.
Bytes pcap_file_header();
// One pcap record (record header + usbmon header + data).
Bytes pcap_record(const UsbmonRecord& r);

}  // namespace modemu::protocols::usb
