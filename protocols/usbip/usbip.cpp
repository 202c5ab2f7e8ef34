#include "protocols/usbip/usbip.hpp"

#include <fmt/format.h>

namespace modemu::protocols::usbip {

namespace {

Decoded need_more() { return Decoded{}; }

Decoded malformed(std::string error) {
  Decoded d;
  d.kind = Decoded::Kind::kMalformed;
  d.error = std::move(error);
  return d;
}

Decoded message(Message m, std::size_t consumed) {
  Decoded d;
  d.kind = Decoded::Kind::kMessage;
  d.message = std::move(m);
  d.consumed = consumed;
  return d;
}

// A NUL-padded text field: the text up to the first NUL.
std::string field_text(ByteView b) {
  std::string_view s = as_chars(b);
  return std::string(s.substr(0, s.find('\0')));
}

Decoded decode_operation(ByteView bytes) {
  if (bytes.size() < kOpHeaderSize) return need_more();
  Reader r(bytes);
  OpRequest op;
  op.version = r.be16();
  op.code = r.be16();
  r.be32();  // status: 0 in requests, not checked (usbip tools send 0)
  if (op.version != kVersion) {
    return malformed(fmt::format("operation header: protocol version {:04x}, expected {:04x}", op.version, kVersion));
  }
  switch (op.code) {
    case kOpReqDevlist: return message(op, kOpHeaderSize);
    case kOpReqImport: {
      if (bytes.size() < kOpHeaderSize + kBusIdSize) return need_more();
      op.busid = field_text(r.take(kBusIdSize));
      return message(op, kOpHeaderSize + kBusIdSize);
    }
    default: return malformed(fmt::format("operation header: unknown code {:04x} (only DEVLIST 8005 and IMPORT 8003)", op.code));
  }
}

Decoded decode_urb(ByteView bytes) {
  if (bytes.size() < kUrbHeaderSize) return need_more();
  Reader r(bytes);
  std::uint32_t command = r.be32();
  std::uint32_t seqnum = r.be32();
  std::uint32_t devid = r.be32();
  std::uint32_t direction = r.be32();
  std::uint32_t ep = r.be32();
  if (direction > kDirIn) return malformed(fmt::format("URB header seqnum {}: direction {} (0 out, 1 in)", seqnum, direction));
  if (ep > 15) return malformed(fmt::format("URB header seqnum {}: endpoint {} (0..15)", seqnum, ep));
  if (command == kCmdUnlink) {
    CmdUnlink u{seqnum, devid, direction, ep, r.be32()};
    return message(u, kUrbHeaderSize);  // 24 bytes of padding follow the unlink seqnum
  }
  if (command != kCmdSubmit) {
    return malformed(fmt::format("URB header seqnum {}: command {} (a client sends CMD_SUBMIT 1 or CMD_UNLINK 2)", seqnum, command));
  }
  CmdSubmit c;
  c.seqnum = seqnum;
  c.devid = devid;
  c.direction = direction;
  c.ep = ep;
  c.transfer_flags = r.be32();
  c.transfer_buffer_length = r.be32();
  c.start_frame = static_cast<std::int32_t>(r.be32());
  c.number_of_packets = r.be32();
  c.interval = static_cast<std::int32_t>(r.be32());
  c.setup = usb::SetupPacket::parse(r.take(8));
  if (c.transfer_buffer_length > kMaxTransferLength) {
    return malformed(fmt::format("CMD_SUBMIT seqnum {}: transfer_buffer_length {} exceeds {}", seqnum,
                                 c.transfer_buffer_length, kMaxTransferLength));
  }
  std::size_t iso = 0;
  if (c.number_of_packets != 0 && c.number_of_packets != 0xffffffff) {
    if (c.number_of_packets > kMaxIsoPackets) {
      return malformed(fmt::format("CMD_SUBMIT seqnum {}: number_of_packets {} exceeds {}", seqnum, c.number_of_packets,
                                   kMaxIsoPackets));
    }
    iso = c.number_of_packets * kIsoDescriptorSize;
  }
  std::size_t data = direction == kDirOut ? c.transfer_buffer_length : 0;
  std::size_t total = kUrbHeaderSize + data + iso;
  if (bytes.size() < total) return need_more();
  auto out = r.take(data);
  c.data.assign(out.begin(), out.end());
  return message(std::move(c), total);  // ISO descriptors are skipped: the modems have no ISO endpoint
}

void put_header(Writer& w, std::uint16_t code, std::uint32_t status) {
  w.be(kVersion, 2).be(code, 2).be(status, 4);
}

void put_device(Writer& w, const DeviceRecord& d) {
  w.padded(d.path, 256).padded(d.busid, kBusIdSize);
  w.be(d.busnum, 4).be(d.devnum, 4).be(d.speed, 4);
  w.be(d.idVendor, 2).be(d.idProduct, 2).be(d.bcdDevice, 2);
  w.u8(d.bDeviceClass).u8(d.bDeviceSubClass).u8(d.bDeviceProtocol);
  w.u8(d.bConfigurationValue).u8(d.bNumConfigurations).u8(static_cast<std::uint8_t>(d.interfaces.size()));
}

void put_urb_basic(Writer& w, std::uint32_t command, std::uint32_t seqnum, std::uint32_t devid, std::uint32_t direction,
                   std::uint32_t ep) {
  w.be(command, 4).be(seqnum, 4).be(devid, 4).be(direction, 4).be(ep, 4);
}

}  // namespace

Decoded decode(ByteView bytes, Phase phase) {
  return phase == Phase::kOperation ? decode_operation(bytes) : decode_urb(bytes);
}

Bytes encode_devlist_reply(const std::vector<DeviceRecord>& devices) {
  Writer w;
  put_header(w, kOpRepDevlist, kStOk);
  w.be(devices.size(), 4);
  for (const auto& d : devices) {
    put_device(w, d);
    for (const auto& i : d.interfaces) w.u8(i.bInterfaceClass).u8(i.bInterfaceSubClass).u8(i.bInterfaceProtocol).u8(0);
  }
  return w.take();
}

Bytes encode_import_reply(std::uint32_t status, const DeviceRecord* device) {
  Writer w;
  put_header(w, kOpRepImport, status);
  if (status == kStOk && device != nullptr) put_device(w, *device);
  return w.take();
}

Bytes encode_ret_submit(std::uint32_t seqnum, std::int32_t status, std::uint32_t actual_length, ByteView data) {
  Writer w;
  put_urb_basic(w, kRetSubmit, seqnum, 0, 0, 0);
  w.be(static_cast<std::uint32_t>(status), 4).be(actual_length, 4);
  w.be(0, 4).be(0, 4).be(0, 4);  // start_frame, number_of_packets, error_count
  w.be(0, 8);                    // padding
  w.bytes(data);
  return w.take();
}

Bytes encode_ret_unlink(std::uint32_t seqnum, std::int32_t status) {
  Writer w;
  put_urb_basic(w, kRetUnlink, seqnum, 0, 0, 0);
  w.be(static_cast<std::uint32_t>(status), 4);
  w.padded({}, 24);
  return w.take();
}

Bytes encode_op_request(std::uint16_t code, std::string_view busid) {
  Writer w;
  put_header(w, code, 0);
  if (code == kOpReqImport) w.padded(busid, kBusIdSize);
  return w.take();
}

Bytes encode_cmd_submit(const CmdSubmit& c) {
  Writer w;
  put_urb_basic(w, kCmdSubmit, c.seqnum, c.devid, c.direction, c.ep);
  w.be(c.transfer_flags, 4).be(c.transfer_buffer_length, 4).be(static_cast<std::uint32_t>(c.start_frame), 4);
  w.be(c.number_of_packets, 4).be(static_cast<std::uint32_t>(c.interval), 4);
  w.bytes(c.setup.bytes());
  if (!c.in()) w.bytes(c.data);
  return w.take();
}

Bytes encode_cmd_unlink(const CmdUnlink& c) {
  Writer w;
  put_urb_basic(w, kCmdUnlink, c.seqnum, c.devid, c.direction, c.ep);
  w.be(c.unlink_seqnum, 4).padded({}, 24);
  return w.take();
}

std::size_t decode_ret(ByteView bytes, bool in, std::variant<RetSubmit, RetUnlink>& out) {
  if (bytes.size() < kUrbHeaderSize) return 0;
  Reader r(bytes);
  std::uint32_t command = r.be32();
  std::uint32_t seqnum = r.be32();
  r.take(12);  // devid, direction, ep
  std::int32_t status = static_cast<std::int32_t>(r.be32());
  if (command == kRetUnlink) {
    out = RetUnlink{seqnum, status};
    return kUrbHeaderSize;
  }
  if (command != kRetSubmit) return 0;
  RetSubmit s{seqnum, status, r.be32(), {}};
  std::size_t data = in ? s.actual_length : 0;
  if (bytes.size() < kUrbHeaderSize + data) return 0;
  r.take(20);  // start_frame, number_of_packets, error_count, padding
  auto d = r.take(data);
  s.data.assign(d.begin(), d.end());
  out = std::move(s);
  return kUrbHeaderSize + data;
}

}  // namespace modemu::protocols::usbip
