#include "protocols/usb/descriptors.hpp"

#include <set>
#include <stdexcept>

namespace modemu::protocols::usb {

EndpointDescriptor at_speed(const EndpointDescriptor& e, Speed speed) {
  if (speed == Speed::kHigh) return e;
  EndpointDescriptor fs = e;
  if ((e.bmAttributes & 0x03) == 2) {
    fs.wMaxPacketSize = e.wMaxPacketSize > 64 ? 64 : e.wMaxPacketSize;  // full-speed bulk: 8..64
    fs.bInterval = 0;
  } else if ((e.bmAttributes & 0x03) == 3) {
    // High speed: 2^(bInterval-1) microframes of 125 us; full speed: bInterval frames of 1 ms.
    unsigned microframes = 1u << (e.bInterval > 0 ? e.bInterval - 1 : 0);
    unsigned frames = microframes / 8;
    fs.bInterval = static_cast<std::uint8_t>(frames < 1 ? 1 : frames > 255 ? 255 : frames);
    if (fs.wMaxPacketSize > 64) fs.wMaxPacketSize = 64;
  }
  return fs;
}

Bytes serialize(const DeviceDescriptor& d) {
  Writer w;
  w.u8(18).u8(kDeviceType).le16(d.bcdUSB).u8(d.bDeviceClass).u8(d.bDeviceSubClass).u8(d.bDeviceProtocol);
  w.u8(d.bMaxPacketSize0).le16(d.idVendor).le16(d.idProduct).le16(d.bcdDevice);
  w.u8(d.iManufacturer).u8(d.iProduct).u8(d.iSerialNumber).u8(d.bNumConfigurations);
  return w.take();
}

Bytes serialize(const ConfigurationDescriptor& c, Speed speed, std::uint8_t type) {
  Writer w;
  std::set<std::uint8_t> numbers;
  for (const auto& i : c.interfaces) numbers.insert(i.bInterfaceNumber);
  w.u8(9).u8(type).le16(0).u8(static_cast<std::uint8_t>(numbers.size())).u8(c.bConfigurationValue);
  w.u8(c.iConfiguration).u8(c.bmAttributes).u8(c.bMaxPower);
  for (const auto& i : c.interfaces) {
    w.u8(9).u8(kInterfaceType).u8(i.bInterfaceNumber).u8(i.bAlternateSetting);
    w.u8(static_cast<std::uint8_t>(i.endpoints.size())).u8(i.bInterfaceClass).u8(i.bInterfaceSubClass);
    w.u8(i.bInterfaceProtocol).u8(i.iInterface);
    w.bytes(i.class_specific);
    for (const auto& raw : i.endpoints) {
      EndpointDescriptor e = at_speed(raw, speed);
      w.u8(7).u8(kEndpointType).u8(e.bEndpointAddress).u8(e.bmAttributes).le16(e.wMaxPacketSize).u8(e.bInterval);
    }
  }
  if (w.size() > 0xffff) throw std::length_error("configuration descriptor longer than 65535 bytes");
  w.patch_le(2, w.size(), 2);  // wTotalLength
  return w.take();
}

Bytes device_qualifier(const DeviceDescriptor& d) {
  Writer w;
  w.u8(10).u8(kDeviceQualifierType).le16(d.bcdUSB).u8(d.bDeviceClass).u8(d.bDeviceSubClass).u8(d.bDeviceProtocol);
  w.u8(d.bMaxPacketSize0).u8(d.bNumConfigurations).u8(0);
  return w.take();
}

Bytes string_descriptor_languages() {
  Writer w;
  w.u8(4).u8(kStringType).le16(0x0409);
  return w.take();
}

Bytes string_descriptor(std::string_view text) {
  // Decode UTF-8 to code points, write UTF-16LE (surrogate pairs beyond the BMP).
  Writer body;
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    std::uint32_t cp = 0xfffd;
    std::size_t len = 1;
    if (c < 0x80) {
      cp = c;
    } else if ((c >> 5) == 0x6 && i + 1 < text.size()) {
      cp = ((c & 0x1fu) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3fu);
      len = 2;
    } else if ((c >> 4) == 0xe && i + 2 < text.size()) {
      cp = ((c & 0x0fu) << 12) | ((static_cast<unsigned char>(text[i + 1]) & 0x3fu) << 6) |
           (static_cast<unsigned char>(text[i + 2]) & 0x3fu);
      len = 3;
    } else if ((c >> 3) == 0x1e && i + 3 < text.size()) {
      cp = ((c & 0x07u) << 18) | ((static_cast<unsigned char>(text[i + 1]) & 0x3fu) << 12) |
           ((static_cast<unsigned char>(text[i + 2]) & 0x3fu) << 6) | (static_cast<unsigned char>(text[i + 3]) & 0x3fu);
      len = 4;
    }
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      body.le16(static_cast<std::uint16_t>(0xd800 + (cp >> 10))).le16(static_cast<std::uint16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      body.le16(static_cast<std::uint16_t>(cp));
    }
    if (body.size() > 252) break;  // bLength is one byte
  }
  Writer w;
  w.u8(static_cast<std::uint8_t>(2 + body.size())).u8(kStringType).bytes(body.data());
  return w.take();
}

Bytes SetupPacket::bytes() const {
  Writer w;
  w.u8(bmRequestType).u8(bRequest).le16(wValue).le16(wIndex).le16(wLength);
  return w.take();
}

SetupPacket SetupPacket::parse(ByteView eight) {
  Reader r(eight);
  SetupPacket s;
  s.bmRequestType = r.u8();
  s.bRequest = r.u8();
  s.wValue = r.le16();
  s.wIndex = r.le16();
  s.wLength = r.le16();
  return s;
}

Bytes response_available_notification(std::uint8_t interface_number) {
  Writer w;
  w.u8(0xa1).u8(0x01).le16(0).le16(interface_number).le16(0);
  return w.take();
}

}  // namespace modemu::protocols::usb
