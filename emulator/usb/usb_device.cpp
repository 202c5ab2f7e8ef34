#include "emulator/usb/usb_device.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "emulator/profile.hpp"
#include "emulator/qmi/qmi_function.hpp"

namespace modemu::emulator {

namespace usb = protocols::usb;
using protocols::Bytes;

namespace {

// Bytes a port may hold for a host that does not read; beyond this the oldest are dropped.
constexpr std::size_t kMaxQueued = 256 * 1024;
// Packets the data path may hold for a host that does not read (its interface is down);
// beyond this new ones are dropped, as a modem's full buffer drops them.
constexpr std::size_t kMaxQueuedPackets = 512;

}  // namespace

UsbDevice::UsbDevice(Modem& modem) : modem_(modem) {
  modem_.add_observer(this);
  if (modem_.composition() != nullptr) on_plug(modem_);
}

UsbDevice::~UsbDevice() {
  modem_.remove_observer(this);
  for (auto& [n, f] : functions_) {
    if (f.port != nullptr) f.port->set_sink(nullptr);
    if (f.data != nullptr) f.data->set_sink(nullptr);
  }
}

void UsbDevice::set_listener(Listener* listener) { listener_ = listener; }

void UsbDevice::capture_to(const std::string& path) {
  auto file = std::make_unique<std::ofstream>(path, std::ios::binary | std::ios::trunc);
  if (!*file) throw std::runtime_error(fmt::format("cannot write --pcap {}", path));
  auto header = usb::pcap_file_header();
  file->write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
  pcap_ = std::move(file);
}

void UsbDevice::record(char event, usb::TransferType type, std::uint8_t endpoint, const Bytes& data, std::int32_t status,
                       std::uint32_t urb_length, std::optional<Bytes> setup) {
  if (!pcap_) return;
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
  usb::UsbmonRecord r;
  r.id = pcap_id_;
  if (event == 'C') ++pcap_id_;
  r.event = event;
  r.type = type;
  r.endpoint = endpoint;
  r.seconds = us / 1'000'000;
  r.microseconds = static_cast<std::int32_t>(us % 1'000'000);
  r.status = status;
  r.urb_length = urb_length;
  r.data = data;
  r.setup = std::move(setup);
  auto bytes = usb::pcap_record(r);
  pcap_->write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  pcap_->flush();
}

void UsbDevice::build(const profile::UsbComposition& c) {
  strings_.clear();
  auto add_string = [&](const std::string& s) -> std::uint8_t {
    if (s.empty()) return 0;
    strings_.push_back(s);
    return static_cast<std::uint8_t>(strings_.size());
  };
  device_ = usb::DeviceDescriptor{};
  device_.bcdUSB = static_cast<std::uint16_t>(c.bcdusb() != 0 ? c.bcdusb() : 0x0200);
  device_.bDeviceClass = static_cast<std::uint8_t>(c.bdeviceclass());
  device_.bDeviceSubClass = static_cast<std::uint8_t>(c.bdevicesubclass());
  device_.bDeviceProtocol = static_cast<std::uint8_t>(c.bdeviceprotocol());
  device_.bMaxPacketSize0 = static_cast<std::uint8_t>(c.bmaxpacketsize0());
  device_.idVendor = static_cast<std::uint16_t>(c.idvendor());
  device_.idProduct = static_cast<std::uint16_t>(c.idproduct());
  device_.bcdDevice = static_cast<std::uint16_t>(c.bcddevice());
  device_.iManufacturer = add_string(c.manufacturer());
  device_.iProduct = add_string(c.product());
  std::string serial = c.serial();
  if (serial == "{imei}") serial = modem_.profile().identity().imei();
  device_.iSerialNumber = add_string(serial);

  config_ = usb::ConfigurationDescriptor{};
  config_.bmAttributes = static_cast<std::uint8_t>(c.bmattributes());
  config_.bMaxPower = static_cast<std::uint8_t>(std::min<std::uint32_t>(c.max_power_ma() / 2, 255));
  endpoints_.clear();
  functions_.clear();
  in_queues_.clear();
  alternate_.clear();
  for (const auto& itf : c.interfaces()) {
    usb::InterfaceDescriptor d;
    d.bInterfaceNumber = static_cast<std::uint8_t>(itf.binterfacenumber());
    d.bAlternateSetting = static_cast<std::uint8_t>(itf.balternatesetting());
    d.bInterfaceClass = static_cast<std::uint8_t>(itf.binterfaceclass());
    d.bInterfaceSubClass = static_cast<std::uint8_t>(itf.binterfacesubclass());
    d.bInterfaceProtocol = static_cast<std::uint8_t>(itf.binterfaceprotocol());
    if (auto cs = protocols::parse_hex(itf.class_specific_hex())) d.class_specific = *cs;
    if (d.bAlternateSetting != 0) {
      // An interface with an alternate setting has setting 0 too, without endpoints (the
      // CDC data interface: USB 2.0 9.6.5).
      usb::InterfaceDescriptor zero = d;
      zero.bAlternateSetting = 0;
      config_.interfaces.push_back(zero);
    }
    Function& f = functions_[d.bInterfaceNumber];
    f.qmi = itf.function() == profile::QMI;
    // Boot loaders' pipes (Sahara, Sierra QDL): qcserial raises no DTR on them, and each reply is
    // a transfer of its own.
    f.packets = itf.function() == profile::SAHARA || itf.function() == profile::QDL;
    for (const auto& ep : itf.endpoints()) {
      usb::EndpointDescriptor e{static_cast<std::uint8_t>(ep.bendpointaddress()), static_cast<std::uint8_t>(ep.bmattributes()),
                                static_cast<std::uint16_t>(ep.wmaxpacketsize()), static_cast<std::uint8_t>(ep.binterval())};
      d.endpoints.push_back(e);
      endpoints_[e.bEndpointAddress] = Endpoint{e, d.bInterfaceNumber};
      bool in = (e.bEndpointAddress & 0x80) != 0;
      if ((e.bmAttributes & 3) == 3 && in) f.interrupt_in = e.bEndpointAddress;
      if ((e.bmAttributes & 3) == 2) (in ? f.bulk_in : f.bulk_out) = e.bEndpointAddress;
    }
    config_.interfaces.push_back(std::move(d));
  }
}

void UsbDevice::on_plug(Modem& modem) {
  build(*modem.composition());
  for (const auto& port : modem.ports()) {
    auto it = functions_.find(static_cast<std::uint8_t>(port->info().interface_number));
    if (it == functions_.end()) continue;
    Function& f = it->second;
    f.port = port.get();
    std::uint8_t number = it->first;
    port->set_sink([this, number](std::string_view bytes) {
      Function& fn = functions_.at(number);
      if (fn.qmi) {
        // One frame per response; the notification tells the host to fetch it.
        fn.responses.emplace_back(bytes.begin(), bytes.end());
        if (fn.interrupt_in != 0) queue_in(fn.interrupt_in, usb::response_available_notification(number));
      } else if (fn.bulk_in != 0 && fn.packets) {
        queue_in(fn.bulk_in, protocols::as_bytes(bytes), true);
      } else if (fn.bulk_in != 0 && fn.dtr) {
        queue_in(fn.bulk_in, protocols::as_bytes(bytes));
      }
    });
    auto* qmi = dynamic_cast<QmiPort*>(port.get());
    if (qmi != nullptr && f.bulk_in != 0) {
      f.data = &qmi->data_path();
      f.data->set_sink([this, endpoint = f.bulk_in](protocols::ByteView packet) {
        if (in_queues_[endpoint].size() >= kMaxQueuedPackets) return false;
        queue_in(endpoint, packet, true);
        return true;
      });
    }
  }
  connected_ = true;
  if (listener_ != nullptr) listener_->on_connect(*this);
}

void UsbDevice::on_unplug(Modem&) {
  for (auto& [n, f] : functions_) {
    if (f.port != nullptr) f.port->set_sink(nullptr);
    if (f.data != nullptr) f.data->set_sink(nullptr);
    f.port = nullptr;
    f.data = nullptr;
    f.responses.clear();
  }
  in_queues_.clear();
  configuration_value_ = 0;
  connected_ = false;
  if (listener_ != nullptr) listener_->on_disconnect(*this);
}

void UsbDevice::queue_in(std::uint8_t endpoint, protocols::ByteView bytes, bool whole) {
  auto& q = in_queues_[endpoint];
  if (whole || endpoint_type(endpoint) == 3) {
    q.emplace_back(bytes.begin(), bytes.end());  // notifications stay whole
  } else {
    if (q.empty()) q.emplace_back();
    q.back().insert(q.back().end(), bytes.begin(), bytes.end());
    if (q.back().size() > kMaxQueued) q.back().erase(q.back().begin(), q.back().end() - kMaxQueued);
  }
  if (listener_ != nullptr) listener_->on_data_ready(*this, endpoint);
}

void UsbDevice::rearm_interrupt(std::uint8_t endpoint) {
  for (auto& [number, f] : functions_) {
    if (!f.qmi || f.interrupt_in != endpoint) continue;
    auto& q = in_queues_[endpoint];
    q.clear();
    auto note = usb::response_available_notification(number);
    for (std::size_t i = 0; i < f.responses.size(); ++i) q.push_back(note);
  }
}

bool UsbDevice::has_data(std::uint8_t endpoint) const {
  auto it = in_queues_.find(endpoint);
  return it != in_queues_.end() && !it->second.empty() && !it->second.front().empty();
}

Bytes UsbDevice::read(std::uint8_t endpoint, std::size_t max) {
  auto it = in_queues_.find(endpoint);
  if (it == in_queues_.end() || it->second.empty()) return {};
  auto& front = it->second.front();
  Bytes out;
  if (front.size() <= max) {
    out = std::move(front);
    it->second.pop_front();
  } else {
    out.assign(front.begin(), front.begin() + static_cast<std::ptrdiff_t>(max));
    front.erase(front.begin(), front.begin() + static_cast<std::ptrdiff_t>(max));
  }
  auto type = endpoint_type(endpoint) == 3 ? usb::TransferType::kInterrupt : usb::TransferType::kBulk;
  record('S', type, endpoint, {}, -115, static_cast<std::uint32_t>(max));
  record('C', type, endpoint, out, 0, static_cast<std::uint32_t>(out.size()));
  return out;
}

bool UsbDevice::write(std::uint8_t endpoint, protocols::ByteView data) {
  auto it = endpoints_.find(endpoint);
  if (it == endpoints_.end() || (endpoint & 0x80) != 0) return false;
  if (pcap_) {  // no copy of every packet unless a capture wants it
    record('S', usb::TransferType::kBulk, endpoint, Bytes(data.begin(), data.end()), -115,
           static_cast<std::uint32_t>(data.size()));
    record('C', usb::TransferType::kBulk, endpoint, {}, 0, static_cast<std::uint32_t>(data.size()));
  }
  Function* f = function_for_interface(it->second.interface_number);
  if (f != nullptr && f->port != nullptr && !f->qmi) {
    f->port->from_host(protocols::as_chars(data));
  } else if (f != nullptr && f->data != nullptr) {
    f->data->from_host(data);  // packet data: one packet (frame) per transfer
  }
  return true;
}

UsbDevice::Function* UsbDevice::function_for_interface(std::uint16_t number) {
  auto it = functions_.find(static_cast<std::uint8_t>(number));
  return it == functions_.end() ? nullptr : &it->second;
}

std::string UsbDevice::string_for(std::uint8_t index) const {
  return index >= 1 && index <= strings_.size() ? strings_[index - 1] : std::string();
}

std::optional<Bytes> UsbDevice::descriptor(std::uint16_t value, std::uint16_t index) {
  std::uint8_t type = static_cast<std::uint8_t>(value >> 8);
  std::uint8_t number = static_cast<std::uint8_t>(value & 0xff);
  switch (type) {
    case usb::kDeviceType: return usb::serialize(device_);
    case usb::kConfigurationType:
      if (number != 0) return std::nullopt;
      return usb::serialize(config_, usb::Speed::kHigh);
    case usb::kDeviceQualifierType: return usb::device_qualifier(device_);
    case usb::kOtherSpeedConfigurationType:
      if (number != 0) return std::nullopt;
      return usb::serialize(config_, usb::Speed::kFull, usb::kOtherSpeedConfigurationType);
    case usb::kStringType:
      if (number == 0) return usb::string_descriptor_languages();
      if (number > strings_.size()) return std::nullopt;
      (void)index;  // one language
      return usb::string_descriptor(string_for(number));
    default: return std::nullopt;
  }
}

UsbDevice::ControlResult UsbDevice::control(const usb::SetupPacket& s, protocols::ByteView out) {
  ControlResult result;
  auto reply = [&](Bytes data) {
    if (data.size() > s.wLength) data.resize(s.wLength);
    result.data = std::move(data);
  };
  bool handled = true;
  if (s.type() == 0) {  // standard (USB 2.0 9.4)
    switch (s.bRequest) {
      case usb::kGetDescriptor:
        if (auto d = descriptor(s.wValue, s.wIndex)) reply(*d); else handled = false;
        break;
      case usb::kGetStatus:
        reply(Bytes{s.recipient() == 0 ? static_cast<std::uint8_t>((config_.bmAttributes & 0x40) ? 1 : 0) : std::uint8_t{0}, 0});
        break;
      case usb::kSetAddress:
      case usb::kClearFeature:
      case usb::kSetFeature:
        break;
      case usb::kSetConfiguration:
        if (s.wValue > 1) handled = false; else configuration_value_ = static_cast<std::uint8_t>(s.wValue);
        break;
      case usb::kGetConfiguration:
        reply(Bytes{configuration_value_});
        break;
      case usb::kSetInterface:
        alternate_[static_cast<std::uint8_t>(s.wIndex)] = static_cast<std::uint8_t>(s.wValue);
        break;
      case usb::kGetInterface:
        reply(Bytes{alternate_[static_cast<std::uint8_t>(s.wIndex)]});
        break;
      default:
        handled = false;
    }
  } else if (s.type() == 1 && s.recipient() == 1) {  // class, to an interface (CDC 1.1 6.2)
    Function* f = function_for_interface(s.wIndex & 0xff);
    if (f == nullptr) {
      handled = false;
    } else if (s.bRequest == usb::kSetControlLineState) {
      // option and qcserial raise DTR when a host program opens the tty and drop it when the
      // last one closes it.
      bool dtr = (s.wValue & 0x01) != 0;
      if (dtr && !f->dtr && f->port != nullptr && !f->qmi) {
        if (f->bulk_in != 0) in_queues_.erase(f->bulk_in);
        f->port->host_opened();
      }
      f->dtr = dtr;
    } else if (s.bRequest == usb::kSendEncapsulatedCommand && f->qmi && f->port != nullptr) {
      f->port->from_host(protocols::as_chars(out));
    } else if (s.bRequest == usb::kGetEncapsulatedResponse && f->qmi) {
      if (!f->responses.empty()) {
        reply(std::move(f->responses.front()));
        f->responses.pop_front();
      }
    } else if (s.bRequest == usb::kSetLineCoding || s.bRequest == usb::kGetLineCoding) {
      // Line coding means nothing on a USB modem port; answer as CDC ACM does.
      if (s.bRequest == usb::kGetLineCoding) reply(Bytes{0x00, 0xc2, 0x01, 0x00, 0x00, 0x00, 0x08});
    } else {
      handled = false;
    }
  } else {
    handled = false;
  }
  result.stall = !handled;
  Bytes setup = s.bytes();
  record('S', usb::TransferType::kControl, s.device_to_host() ? 0x80 : 0x00, s.device_to_host() ? Bytes{} : Bytes(out.begin(), out.end()),
         -115, s.wLength, setup);
  record('C', usb::TransferType::kControl, s.device_to_host() ? 0x80 : 0x00, result.data, result.stall ? -32 : 0,
         static_cast<std::uint32_t>(s.device_to_host() ? result.data.size() : out.size()));
  if (result.stall) {
    modem_.event("usb.stall", fmt::format("STALL for request {:02x} {:02x} value {:04x} index {:04x} length {}", s.bmRequestType,
                                          s.bRequest, s.wValue, s.wIndex, s.wLength));
  }
  return result;
}

}  // namespace modemu::emulator
