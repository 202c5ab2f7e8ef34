#pragma once
// The FunctionFS gadget transport (transports.md section 3): the modem becomes a real USB device
// on a device-mode controller (a board's UDC, or dummy_hcd / usbip-vudc on one machine). The
// gadget is made in configfs with libusbgx: the composition's identity and strings, one
// configuration, and one FunctionFS function per interface. modemu mounts each function's
// FunctionFS, writes its descriptors, and serves ep0's setup requests (the CDC class requests,
// QMI's encapsulated commands among them) and the bulk and interrupt endpoints through Linux
// AIO completed on an eventfd, so that no endpoint ever blocks the io_context.
// A mode change or a reset unbinds the UDC, builds the gadget again with the new composition
// and binds it: the host sees a disconnect and a new device. Runs as root (configfs, mount).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>

#include <boost/asio/io_context.hpp>

#include "emulator/usb/usb_device.hpp"

namespace modemu::gadget {

class GadgetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class FunctionFsGadget final : public emulator::UsbDevice::Listener {
 public:
  struct Options {
    std::string udc;                        // empty: the only UDC in /sys/class/udc
    std::set<std::uint8_t> interfaces;      // empty: every interface of each composition
    std::filesystem::path mount_root;       // where the FunctionFS instances are mounted
    std::string name;                       // configfs gadget name: "modemu-" + the modem id
    std::string configfs = "/sys/kernel/config";
  };

  // Checks configfs and the UDC, removes a gadget of the same name left by an earlier run
  // (killed without cleaning up), and from then on follows the device. Throws GadgetError with
  // what is missing and how to fix it.
  FunctionFsGadget(boost::asio::io_context& io, emulator::UsbDevice& device, Options options);
  ~FunctionFsGadget() override;
  FunctionFsGadget(const FunctionFsGadget&) = delete;
  FunctionFsGadget& operator=(const FunctionFsGadget&) = delete;

  const std::string& udc() const;
  const std::string& name() const;

  void on_connect(emulator::UsbDevice& device) override;
  void on_disconnect(emulator::UsbDevice& device) override;
  void on_data_ready(emulator::UsbDevice& device, std::uint8_t endpoint) override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// "modemu-" and the modem id, shortened to what a FunctionFS instance name allows.
std::string gadget_name_for(const std::string& modem_id);

}  // namespace modemu::gadget
