#pragma once
// The USB/IP transport (transports.md section 2): modemu plays usbipd, the exporting side, and
// any Linux host with vhci_hcd attaches a modem over TCP:
//   modprobe vhci-hcd; usbip attach -r SERVER -b 1-1
// Each modem is exported under a bus id that stays the same for the life of the process
// ("1-1", "1-2", ... in the order given). `usbip list -r SERVER` lists the modems that are on
// the bus. An import binds the connection to the modem's UsbDevice; from then on it carries
// URBs: control transfers go to UsbDevice::control, bulk OUT to UsbDevice::write, and bulk and
// interrupt IN are held until the modem has data (short replies are fine).
//
// A reset, a power cut or a boot-mode change takes the modem off the bus: the server cannot
// re-plug a device over USB/IP, so it closes the connection (the host logs "vhci_hcd:
// connection closed" and a USB disconnect) and the host attaches again, to the new composition
// (examples/usbip-watchdog.sh does that on a router). An import while another connection holds
// the modem takes it over: a router that rebooted without closing its connection would
// otherwise find its modem busy forever.
//
// The wire format is protocols/usbip; UsbipSession is the per-connection state machine with no
// socket, which the fuzz target and the unit tests drive directly.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "emulator/usb/usb_device.hpp"
#include "protocols/usbip/usbip.hpp"

namespace modemu::gadget {

// The exported modems, by bus id, and which session holds each. It listens to the devices and
// passes what they say to the session that imported them.
class UsbipExports final : public emulator::UsbDevice::Listener {
 public:
  struct Entry {
    std::string busid;
    emulator::UsbDevice* device = nullptr;
    class UsbipSession* holder = nullptr;
  };

  // Bus ids "1-1", "1-2", ... in order.
  explicit UsbipExports(std::vector<emulator::UsbDevice*> devices);
  ~UsbipExports() override;
  UsbipExports(const UsbipExports&) = delete;
  UsbipExports& operator=(const UsbipExports&) = delete;
  Entry* find(const std::string& busid);
  Entry* find(const emulator::UsbDevice& device);
  std::vector<Entry>& entries() { return entries_; }
  // The device as OP_REP_DEVLIST / OP_REP_IMPORT describe it (its current composition).
  protocols::usbip::DeviceRecord record(const Entry& e) const;

  void on_connect(emulator::UsbDevice& device) override;
  void on_disconnect(emulator::UsbDevice& device) override;
  void on_data_ready(emulator::UsbDevice& device, std::uint8_t endpoint) override;

 private:
  std::vector<Entry> entries_;
};

// One connection: bytes in, bytes out, no socket.
class UsbipSession {
 public:
  using Sink = std::function<void(protocols::Bytes)>;
  // Called once when the session ends; the transport closes the connection after writing what
  // the sink was given.
  using Closer = std::function<void(const std::string& why)>;

  UsbipSession(UsbipExports& exports, Sink sink, Closer closer);
  ~UsbipSession();
  UsbipSession(const UsbipSession&) = delete;
  UsbipSession& operator=(const UsbipSession&) = delete;

  void receive(protocols::ByteView bytes);
  bool closed() const { return closed_; }
  UsbipExports::Entry* imported() const { return entry_; }

  // From the device this session imported.
  void data_ready(std::uint8_t endpoint);
  void device_gone();
  // Another connection imported the device.
  void taken_over();

 private:
  bool handle(protocols::usbip::Message& m);
  void operation(const protocols::usbip::OpRequest& op);
  void submit(protocols::usbip::CmdSubmit& c);
  void unlink(const protocols::usbip::CmdUnlink& u);
  void complete_pending(std::uint8_t endpoint);
  void close(const std::string& why);
  void event(const std::string& message);

  UsbipExports& exports_;
  Sink sink_;
  Closer closer_;
  std::vector<std::uint8_t> in_;
  protocols::usbip::Phase phase_ = protocols::usbip::Phase::kOperation;
  UsbipExports::Entry* entry_ = nullptr;
  bool closed_ = false;
  struct Pending {
    std::uint32_t seqnum;
    std::uint32_t length;
  };
  std::map<std::uint8_t, std::deque<Pending>> pending_;  // held IN URBs by endpoint address
  // Interrupt endpoints whose polling stopped (a URB unlinked, or none submitted yet): the next
  // URB re-announces every QMI response still waiting (UsbDevice::rearm_interrupt).
  std::set<std::uint8_t> rearm_;
  std::map<std::uint8_t, std::uint32_t> last_interrupt_;  // the latest URB on each interrupt IN endpoint
};

class UsbipServer {
 public:
  // `listen`: "HOST:PORT" ("127.0.0.1:3240"; port 0 picks one), also "tcp:HOST:PORT"; HOST
  // defaults to 127.0.0.1 (":3240"). Throws std::invalid_argument for a malformed address,
  // std::runtime_error when it cannot listen; both messages start with "usbip: ".
  UsbipServer(boost::asio::io_context& io, std::vector<emulator::UsbDevice*> devices, const std::string& listen);
  ~UsbipServer();
  UsbipServer(const UsbipServer&) = delete;
  UsbipServer& operator=(const UsbipServer&) = delete;

  // "127.0.0.1:3240", with the port actually bound.
  const std::string& address() const { return address_; }
  const std::string& busid(std::size_t index) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::string address_;
};

}  // namespace modemu::gadget
