#include "gadget/functionfs/ffs_layout.hpp"

namespace modemu::gadget::ffs {

namespace usb = protocols::usb;
using protocols::Bytes;

namespace {

// include/uapi/linux/usb/functionfs.h
constexpr std::uint32_t kDescriptorsMagicV2 = 3, kStringsMagic = 2;
constexpr std::uint32_t kHasFsDesc = 1, kHasHsDesc = 2;

void write_set(protocols::Writer& w, const Function& f, usb::Speed speed, std::uint32_t& count) {
  for (const auto& i : f.settings) {
    w.u8(9).u8(usb::kInterfaceType).u8(0).u8(i.bAlternateSetting).u8(static_cast<std::uint8_t>(i.endpoints.size()));
    w.u8(i.bInterfaceClass).u8(i.bInterfaceSubClass).u8(i.bInterfaceProtocol).u8(0);
    ++count;
    for (const auto& raw : i.endpoints) {
      usb::EndpointDescriptor e = usb::at_speed(raw, speed);
      w.u8(7).u8(usb::kEndpointType).u8(e.bEndpointAddress).u8(e.bmAttributes).le16(e.wMaxPacketSize).u8(e.bInterval);
      ++count;
    }
  }
}

}  // namespace

std::vector<Function> split(const usb::ConfigurationDescriptor& config, const std::set<std::uint8_t>& only) {
  bool any = false;
  for (const auto& i : config.interfaces) any = any || only.count(i.bInterfaceNumber) != 0;
  std::vector<Function> out;
  for (const auto& i : config.interfaces) {
    if (any && only.count(i.bInterfaceNumber) == 0) continue;
    // The kernel numbers a configuration's interfaces 0, 1, 2, ...: an interface without
    // endpoints that no driver claims keeps each gap (Sierra's 0 2 3 8 10, or the interfaces a
    // reduced composition leaves out), so that every interface has its own number on the bus
    // and drivers that match by number (qcserial, qmi_wwan) find theirs.
    while ((out.empty() ? 0 : out.back().interface_number + 1) < i.bInterfaceNumber) {
      Function gap;
      gap.interface_number = static_cast<std::uint8_t>(out.empty() ? 0 : out.back().interface_number + 1);
      gap.placeholder = true;
      usb::InterfaceDescriptor d;
      d.bInterfaceNumber = gap.interface_number;
      d.bInterfaceClass = 0xff;
      d.bInterfaceSubClass = kPlaceholderSubClass;
      d.bInterfaceProtocol = kPlaceholderSubClass;
      gap.settings.push_back(d);
      out.push_back(std::move(gap));
    }
    if (out.empty() || out.back().interface_number != i.bInterfaceNumber) {
      Function f;
      f.interface_number = i.bInterfaceNumber;
      out.push_back(std::move(f));
    }
    Function& f = out.back();
    f.settings.push_back(i);
    for (const auto& e : i.endpoints) {
      bool seen = false;
      for (auto a : f.endpoints) seen = seen || a == e.bEndpointAddress;
      if (!seen) f.endpoints.push_back(e.bEndpointAddress);
    }
  }
  for (std::size_t n = 0; n < out.size(); ++n) out[n].real_number = static_cast<std::uint8_t>(n);
  return out;
}

Bytes descriptors(const Function& f) {
  protocols::Writer body;
  std::uint32_t fs = 0, hs = 0;
  write_set(body, f, usb::Speed::kFull, fs);
  write_set(body, f, usb::Speed::kHigh, hs);
  protocols::Writer w;
  Bytes b = body.take();
  w.le32(kDescriptorsMagicV2).le32(static_cast<std::uint32_t>(12 + 8 + b.size())).le32(kHasFsDesc | kHasHsDesc);
  w.le32(fs).le32(hs).bytes(b);
  return w.take();
}

Bytes strings() {
  protocols::Writer w;
  w.le32(kStringsMagic).le32(16).le32(0).le32(0);
  return w.take();
}

std::vector<Event> parse_events(protocols::ByteView bytes) {
  std::vector<Event> out;
  for (std::size_t at = 0; at + kEventSize <= bytes.size(); at += kEventSize) {
    std::uint8_t type = bytes[at + 8];
    if (type > static_cast<std::uint8_t>(EventType::kResume)) continue;
    Event e;
    e.type = static_cast<EventType>(type);
    if (e.type == EventType::kSetup) e.setup = usb::SetupPacket::parse(bytes.subspan(at, 8));
    out.push_back(e);
  }
  return out;
}

SetupAnswer answer_setup(emulator::UsbDevice& device, const Function& f, usb::SetupPacket s, protocols::ByteView out) {
  SetupAnswer a;
  if (f.placeholder) {
    a.stall = true;
    return a;
  }
  if (s.recipient() == 1) {
    // f_fs.c rewrote wIndex to the function's own interface index; each function has one.
    if ((s.wIndex & 0xff) != 0) {
      a.stall = true;
      return a;
    }
    s.wIndex = f.interface_number;
  } else if (s.recipient() == 2) {
    // ...and endpoint indexes to the endpoint file number (1-based).
    std::size_t n = s.wIndex & 0x0f;
    if (n == 0 || n > f.endpoints.size()) {
      a.stall = true;
      return a;
    }
    s.wIndex = f.endpoints[n - 1];
  }
  if (!device.connected()) {
    a.stall = true;
    return a;
  }
  auto r = device.control(s, s.device_to_host() ? protocols::ByteView{} : out);
  a.stall = r.stall;
  a.data = std::move(r.data);
  return a;
}

void renumber_notification(Bytes& n, const Function& f) {
  // bmRequestType 0xa1: class, interface recipient, device to host (CDC 1.1 6.3).
  if (n.size() >= 8 && n[0] == 0xa1 && n[4] == f.interface_number && n[5] == 0) n[4] = f.real_number;
}

}  // namespace modemu::gadget::ffs
