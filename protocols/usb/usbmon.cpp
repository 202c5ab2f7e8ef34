#include "protocols/usb/usbmon.hpp"

namespace modemu::protocols::usb {

Bytes pcap_file_header() {
  Writer w;
  w.le32(0xa1b2c3d4).le16(2).le16(4).le32(0).le32(0).le32(0x40000).le32(220);
  return w.take();
}

Bytes pcap_record(const UsbmonRecord& r) {
  Writer h;
  h.le(r.id, 8).u8(static_cast<std::uint8_t>(r.event)).u8(static_cast<std::uint8_t>(r.type)).u8(r.endpoint).u8(r.device);
  h.le16(r.bus);
  // flag_setup: 0 when a setup packet follows, '-' otherwise; flag_data: 0 when data follows,
  // '<' for an IN submission and '>' for an OUT completion, which carry none.
  h.u8(r.setup ? 0 : '-');
  bool in = (r.endpoint & 0x80) != 0;
  std::uint8_t flag_data = !r.data.empty() ? 0 : (r.event == 'S' ? (in ? '<' : '>') : (in ? '<' : '>'));
  h.u8(flag_data);
  h.le(static_cast<std::uint64_t>(r.seconds), 8).le32(static_cast<std::uint32_t>(r.microseconds));
  h.le32(static_cast<std::uint32_t>(r.status)).le32(r.urb_length).le32(static_cast<std::uint32_t>(r.data.size()));
  if (r.setup && r.setup->size() == 8) {
    h.bytes(*r.setup);
  } else {
    h.le(0, 8);
  }
  h.le32(static_cast<std::uint32_t>(r.interval)).le32(0).le32(0).le32(0);  // interval, start_frame, xfer_flags, ndesc
  h.bytes(r.data);
  Writer w;
  w.le32(static_cast<std::uint32_t>(r.seconds)).le32(static_cast<std::uint32_t>(r.microseconds));
  w.le32(static_cast<std::uint32_t>(h.size())).le32(static_cast<std::uint32_t>(h.size()));
  w.bytes(h.data());
  return w.take();
}

}  // namespace modemu::protocols::usb
