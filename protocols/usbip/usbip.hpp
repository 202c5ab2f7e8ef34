#pragma once
// The USB/IP wire protocol as Linux's usbip tools and vhci_hcd speak it (protocol version
// 0x0111), server side: decode what a client sends, encode the replies. Pure: bytes in,
// messages out. Facts measured against the kernel and usbip 2.0 are in shared
// transports.md section 2; the layout follows the kernel's Documentation/usb/usbip_protocol
// except where that document is wrong (its OP_REP_IMPORT offset table is off by one byte).
//
// Every header field is big-endian; only the 8-byte SETUP packet is in USB (little-endian) order.
// A connection starts in the "operation" phase (OP_REQ_DEVLIST, OP_REQ_IMPORT, 8-byte common
// header); after a successful import the same connection carries URB commands (48-byte headers,
// the OUT data after CMD_SUBMIT).
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocols/common/bytes.hpp"
#include "protocols/usb/descriptors.hpp"

namespace modemu::protocols::usbip {

inline constexpr std::uint16_t kVersion = 0x0111;
inline constexpr std::uint16_t kOpReqDevlist = 0x8005, kOpRepDevlist = 0x0005;
inline constexpr std::uint16_t kOpReqImport = 0x8003, kOpRepImport = 0x0003;
inline constexpr std::uint32_t kCmdSubmit = 1, kCmdUnlink = 2, kRetSubmit = 3, kRetUnlink = 4;
inline constexpr std::uint32_t kDirOut = 0, kDirIn = 1;
// OP_REP status values (usbip tools' ST_*).
inline constexpr std::uint32_t kStOk = 0, kStNotAvailable = 1, kStDevBusy = 2, kStNoDev = 4;
// Sizes on the wire.
inline constexpr std::size_t kOpHeaderSize = 8, kBusIdSize = 32, kDeviceRecordSize = 312, kUrbHeaderSize = 48,
                             kIsoDescriptorSize = 16;
// The kernel's enum usb_device_speed: USB_SPEED_HIGH.
inline constexpr std::uint32_t kSpeedHigh = 3;
// URB status values as the kernel's errno (RET_SUBMIT, RET_UNLINK).
inline constexpr std::int32_t kStatusOk = 0, kStatusStall = -32 /* EPIPE */, kStatusUnlinked = -104 /* ECONNRESET */;
// Limits that catch garbage lengths: a transfer (usb_wwan asks 4096, Firehose payloads reach
// 1 MiB) and the kernel's USBIP_MAX_ISO_PACKETS.
inline constexpr std::uint32_t kMaxTransferLength = 16 * 1024 * 1024;
inline constexpr std::uint32_t kMaxIsoPackets = 1024;

// --- what a client sends ---

struct OpRequest {
  std::uint16_t version = kVersion;
  std::uint16_t code = 0;
  std::string busid;  // OP_REQ_IMPORT only, up to the first NUL
};

struct CmdSubmit {
  std::uint32_t seqnum = 0;
  std::uint32_t devid = 0;
  std::uint32_t direction = kDirOut;
  std::uint32_t ep = 0;  // endpoint number without the direction bit
  std::uint32_t transfer_flags = 0;
  std::uint32_t transfer_buffer_length = 0;
  std::int32_t start_frame = 0;
  std::uint32_t number_of_packets = 0;  // ISO packets; 0 or 0xffffffff when not ISO
  std::int32_t interval = 0;
  usb::SetupPacket setup;  // control transfers (ep 0)
  Bytes data;              // OUT data (transfer_buffer_length bytes)

  bool in() const { return direction == kDirIn; }
  // The endpoint address as in descriptors: number plus 0x80 for IN.
  std::uint8_t address() const { return static_cast<std::uint8_t>((ep & 0x0f) | (in() ? 0x80 : 0)); }
};

struct CmdUnlink {
  std::uint32_t seqnum = 0;
  std::uint32_t devid = 0;
  std::uint32_t direction = 0;
  std::uint32_t ep = 0;
  std::uint32_t unlink_seqnum = 0;
};

using Message = std::variant<OpRequest, CmdSubmit, CmdUnlink>;

enum class Phase { kOperation, kUrb };

// The framer's three outcomes (DESIGN.md): more bytes needed, one message (and how many bytes it
// took), or the stream is malformed beyond recovery (USB/IP has no resynchronisation: the
// connection is closed), with a message saying what and where.
struct Decoded {
  enum class Kind { kNeedMore, kMessage, kMalformed } kind = Kind::kNeedMore;
  Message message;
  std::size_t consumed = 0;
  std::string error;
};

// Decodes the first message of `bytes` in `phase`.
Decoded decode(ByteView bytes, Phase phase);

// --- what the server sends ---

// One exported device as OP_REP_DEVLIST and OP_REP_IMPORT describe it (struct usbip_usb_device).
struct DeviceRecord {
  std::string path;   // sysfs-like path, shown by `usbip list -r`
  std::string busid;  // "1-1"
  std::uint32_t busnum = 1;
  std::uint32_t devnum = 1;
  std::uint32_t speed = kSpeedHigh;
  std::uint16_t idVendor = 0, idProduct = 0, bcdDevice = 0;
  std::uint8_t bDeviceClass = 0, bDeviceSubClass = 0, bDeviceProtocol = 0;
  std::uint8_t bConfigurationValue = 1, bNumConfigurations = 1;
  struct Interface {
    std::uint8_t bInterfaceClass = 0, bInterfaceSubClass = 0, bInterfaceProtocol = 0;
  };
  std::vector<Interface> interfaces;  // one per interface number (alternate setting 0)

  std::uint32_t devid() const { return (busnum << 16) | devnum; }
};

Bytes encode_devlist_reply(const std::vector<DeviceRecord>& devices);
// status kStOk carries the device record; any other status only the header.
Bytes encode_import_reply(std::uint32_t status, const DeviceRecord* device);
// RET_SUBMIT: devid, direction and ep are 0 as the kernel's stub sends them; `data` is the IN
// data (empty for OUT), `actual_length` what was transferred in either direction.
Bytes encode_ret_submit(std::uint32_t seqnum, std::int32_t status, std::uint32_t actual_length, ByteView data = {});
Bytes encode_ret_unlink(std::uint32_t seqnum, std::int32_t status);

// --- the client side, for tests, seeds and benchmarks ---
Bytes encode_op_request(std::uint16_t code, std::string_view busid = {});
Bytes encode_cmd_submit(const CmdSubmit& c);
Bytes encode_cmd_unlink(const CmdUnlink& c);

// What a client receives, decoded (tests and the fuzz seeds' checks).
struct RetSubmit {
  std::uint32_t seqnum = 0;
  std::int32_t status = 0;
  std::uint32_t actual_length = 0;
  Bytes data;
};
struct RetUnlink {
  std::uint32_t seqnum = 0;
  std::int32_t status = 0;
};
// Decodes one RET_SUBMIT / RET_UNLINK at the start of `bytes`; `in` says whether the URB it
// answers was IN (then its data follows). Returns the bytes consumed, 0 when incomplete or
// malformed.
std::size_t decode_ret(ByteView bytes, bool in, std::variant<RetSubmit, RetUnlink>& out);

}  // namespace modemu::protocols::usbip
