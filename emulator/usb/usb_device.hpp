#pragma once
// The modem's USB face (DESIGN.md: one UsbDevice interface between the modem and every
// transport). It follows the modem's plug and unplug, builds the descriptors of the current
// composition from the profile, answers control requests, and moves bytes between endpoints
// and the modem's ports:
//   - serial functions (DM, NMEA, AT): bulk OUT -> port, port -> bulk IN queue;
//   - QMI: SEND_ENCAPSULATED_COMMAND -> port; the port's frames wait for
//     GET_ENCAPSULATED_RESPONSE, each announced by RESPONSE_AVAILABLE on the interrupt endpoint
//     (qmi.md "Over USB"); the bulk endpoints carry packet data: bulk OUT -> the port's
//     DataPath, its packets -> the bulk IN queue, one packet per transfer;
//   - anything unknown STALLs.
// A transport is a Listener: it hears of connect, disconnect, and data waiting on an endpoint.
#include <cstdint>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emulator/modem.hpp"
#include "protocols/usb/descriptors.hpp"
#include "protocols/usb/usbmon.hpp"

namespace modemu::emulator {

class UsbDevice final : public DeviceObserver {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void on_connect(UsbDevice& device) = 0;
    virtual void on_disconnect(UsbDevice& device) = 0;
    // Data (or a notification) is waiting on an IN endpoint.
    virtual void on_data_ready(UsbDevice& device, std::uint8_t endpoint) = 0;
  };

  struct ControlResult {
    bool stall = false;
    protocols::Bytes data;  // IN data (at most wLength bytes)
  };

  struct Endpoint {
    protocols::usb::EndpointDescriptor descriptor;
    std::uint8_t interface_number = 0;
  };

  explicit UsbDevice(Modem& modem);
  ~UsbDevice() override;
  UsbDevice(const UsbDevice&) = delete;
  UsbDevice& operator=(const UsbDevice&) = delete;

  Modem& modem() { return modem_; }
  void set_listener(Listener* listener);
  bool connected() const { return connected_; }
  protocols::usb::Speed speed() const { return protocols::usb::Speed::kHigh; }

  // The current composition, for transports that announce it (usbredir, USB/IP).
  const protocols::usb::DeviceDescriptor& device_descriptor() const { return device_; }
  const protocols::usb::ConfigurationDescriptor& configuration() const { return config_; }
  const std::map<std::uint8_t, Endpoint>& endpoints() const { return endpoints_; }
  // The text of string descriptor `index` ("" for 0 or an unknown index).
  std::string string_for(std::uint8_t index) const;

  // A control transfer on endpoint 0. `out` is the data stage of host-to-device requests.
  ControlResult control(const protocols::usb::SetupPacket& setup, protocols::ByteView out = {});
  // Host-to-device data on a bulk or interrupt OUT endpoint; false = STALL (no such endpoint).
  bool write(std::uint8_t endpoint, protocols::ByteView data);
  // Device-to-host data waiting on an IN endpoint, at most `max` bytes (interrupt endpoints
  // give one notification at a time). Empty when nothing waits.
  protocols::Bytes read(std::uint8_t endpoint, std::size_t max);
  bool has_data(std::uint8_t endpoint) const;
  // The host (re)started polling an interrupt endpoint: notifications it may have dropped while
  // it was not polling (QEMU drops them on every cdc-wdm close, transports.md) are announced
  // again, one per QMI response still waiting, so no response is stranded behind another.
  void rearm_interrupt(std::uint8_t endpoint);
  bool is_in_endpoint(std::uint8_t endpoint) const { return endpoints_.count(endpoint) != 0 && (endpoint & 0x80); }

  // usbmon pcap of every transfer, for Wireshark / tshark. Throws when the file cannot be made.
  void capture_to(const std::string& path);

  // DeviceObserver
  void on_plug(Modem& modem) override;
  void on_unplug(Modem& modem) override;

 private:
  struct Function {
    Port* port = nullptr;
    bool qmi = false;
    // The bootloader's bulk pipe (SAHARA): every output is one transfer, kept whole (Sahara and
    // Firehose hosts read one packet or document per transfer), and it flows without DTR, as
    // usbfs clients (qdl, QFirehose) never raise it.
    bool packets = false;
    std::uint8_t bulk_in = 0, bulk_out = 0, interrupt_in = 0;
    // A serial function's output goes out only while the host holds the port open (DTR up, CDC
    // SET_CONTROL_LINE_STATE): what the module says with nobody listening is lost, as on the
    // real module, and never reaches the next program that opens the tty.
    bool dtr = false;
    std::deque<protocols::Bytes> responses;  // QMI: frames for GET_ENCAPSULATED_RESPONSE
    class DataPath* data = nullptr;          // QMI: the interface's packet data (wwan0)
  };

  void build(const profile::UsbComposition& c);
  std::optional<protocols::Bytes> descriptor(std::uint16_t value, std::uint16_t index);
  Function* function_for_interface(std::uint16_t number);
  // 2 bulk, 3 interrupt, 0 unknown endpoint.
  std::uint8_t endpoint_type(std::uint8_t endpoint) const {
    auto it = endpoints_.find(endpoint);
    return it == endpoints_.end() ? 0 : static_cast<std::uint8_t>(it->second.descriptor.bmAttributes & 3);
  }
  void queue_in(std::uint8_t endpoint, protocols::ByteView bytes, bool whole = false);
  void record(char event, protocols::usb::TransferType type, std::uint8_t endpoint, const protocols::Bytes& data,
              std::int32_t status, std::uint32_t urb_length, std::optional<protocols::Bytes> setup = std::nullopt);

  Modem& modem_;
  Listener* listener_ = nullptr;
  bool connected_ = false;
  protocols::usb::DeviceDescriptor device_;
  protocols::usb::ConfigurationDescriptor config_;
  std::vector<std::string> strings_;  // index 1.. -> text
  std::map<std::uint8_t, Endpoint> endpoints_;
  std::map<std::uint8_t, Function> functions_;  // by interface number
  std::map<std::uint8_t, std::deque<protocols::Bytes>> in_queues_;
  std::uint8_t configuration_value_ = 0;
  std::map<std::uint8_t, std::uint8_t> alternate_;
  std::unique_ptr<std::ofstream> pcap_;
  std::uint64_t pcap_id_ = 1;
};

}  // namespace modemu::emulator
