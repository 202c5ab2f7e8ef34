#pragma once
// USB descriptors as tables with the USB 2.0 specification's field names (section 9.6), and the
// one serializer that turns them into bytes, per speed, computing wTotalLength and
// bNumInterfaces itself (STYLE.md, QEMU hw/usb's habit).
#include <cstdint>
#include <string_view>
#include <vector>

#include "protocols/common/bytes.hpp"

namespace modemu::protocols::usb {

enum class Speed { kFull, kHigh };

// Descriptor types (USB 2.0 table 9-5).
inline constexpr std::uint8_t kDeviceType = 1, kConfigurationType = 2, kStringType = 3, kInterfaceType = 4,
                              kEndpointType = 5, kDeviceQualifierType = 6, kOtherSpeedConfigurationType = 7;

struct EndpointDescriptor {
  std::uint8_t bEndpointAddress = 0;
  std::uint8_t bmAttributes = 2;       // 2 bulk, 3 interrupt
  std::uint16_t wMaxPacketSize = 512;  // high-speed value
  std::uint8_t bInterval = 0;          // high-speed value (2^(bInterval-1) microframes)
};

struct InterfaceDescriptor {
  std::uint8_t bInterfaceNumber = 0;
  std::uint8_t bAlternateSetting = 0;
  std::uint8_t bInterfaceClass = 0xff;
  std::uint8_t bInterfaceSubClass = 0xff;
  std::uint8_t bInterfaceProtocol = 0xff;
  std::uint8_t iInterface = 0;
  Bytes class_specific;  // functional descriptors written between the interface and its endpoints
  std::vector<EndpointDescriptor> endpoints;
};

struct DeviceDescriptor {
  std::uint16_t bcdUSB = 0x0200;
  std::uint8_t bDeviceClass = 0;
  std::uint8_t bDeviceSubClass = 0;
  std::uint8_t bDeviceProtocol = 0;
  std::uint8_t bMaxPacketSize0 = 64;
  std::uint16_t idVendor = 0;
  std::uint16_t idProduct = 0;
  std::uint16_t bcdDevice = 0;
  std::uint8_t iManufacturer = 0;
  std::uint8_t iProduct = 0;
  std::uint8_t iSerialNumber = 0;
  std::uint8_t bNumConfigurations = 1;
};

struct ConfigurationDescriptor {
  std::uint8_t bConfigurationValue = 1;
  std::uint8_t iConfiguration = 0;
  std::uint8_t bmAttributes = 0xa0;
  std::uint8_t bMaxPower = 250;  // in 2 mA units
  std::vector<InterfaceDescriptor> interfaces;  // every alternate setting, in order
};

Bytes serialize(const DeviceDescriptor& d);
// The configuration with its interfaces, functional descriptors and endpoints at `speed`
// (full speed: bulk 64 bytes, interrupt interval in frames). `type` lets the same routine write
// the other-speed configuration. Throws std::length_error beyond 65535 bytes.
Bytes serialize(const ConfigurationDescriptor& c, Speed speed, std::uint8_t type = kConfigurationType);
// Device qualifier of a high-speed capable device (USB 2.0 9.6.2).
Bytes device_qualifier(const DeviceDescriptor& d);
// String descriptor 0 (the language list: US English) and UTF-16LE strings from ASCII/UTF-8.
Bytes string_descriptor_languages();
Bytes string_descriptor(std::string_view text);

// The endpoint as seen at `speed`.
EndpointDescriptor at_speed(const EndpointDescriptor& e, Speed speed);

// SETUP packet (USB 2.0 9.3).
struct SetupPacket {
  std::uint8_t bmRequestType = 0;
  std::uint8_t bRequest = 0;
  std::uint16_t wValue = 0;
  std::uint16_t wIndex = 0;
  std::uint16_t wLength = 0;

  bool device_to_host() const { return (bmRequestType & 0x80) != 0; }
  std::uint8_t type() const { return (bmRequestType >> 5) & 0x03; }  // 0 standard, 1 class, 2 vendor
  std::uint8_t recipient() const { return bmRequestType & 0x1f; }    // 0 device, 1 interface, 2 endpoint
  Bytes bytes() const;
  static SetupPacket parse(ByteView eight_bytes);
};

// Standard requests (USB 2.0 table 9-4) and the CDC ones the modems use (CDC 1.1 6.2).
inline constexpr std::uint8_t kGetStatus = 0x00, kClearFeature = 0x01, kSetFeature = 0x03, kSetAddress = 0x05,
                              kGetDescriptor = 0x06, kSetDescriptor = 0x07, kGetConfiguration = 0x08,
                              kSetConfiguration = 0x09, kGetInterface = 0x0a, kSetInterface = 0x0b;
inline constexpr std::uint8_t kSendEncapsulatedCommand = 0x00, kGetEncapsulatedResponse = 0x01,
                              kSetLineCoding = 0x20, kGetLineCoding = 0x21, kSetControlLineState = 0x22;
// CDC notification RESPONSE_AVAILABLE (CDC 1.1 6.3.1), 8 bytes on the interrupt endpoint.
Bytes response_available_notification(std::uint8_t interface_number);

}  // namespace modemu::protocols::usb
