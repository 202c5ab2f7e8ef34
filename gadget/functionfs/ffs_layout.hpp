#pragma once
// What the FunctionFS gadget writes to and reads from the kernel, without any I/O: the split of
// a composition into one FunctionFS function per interface, each function's descriptor and
// string blobs (FunctionFS v2 format, full and high speed: include/uapi/linux/usb/functionfs.h),
// the ep0 event records, and the answer to a setup request forwarded to the UsbDevice.
// Kept apart from the transport so that unit tests and the fuzz target drive it directly.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "emulator/usb/usb_device.hpp"
#include "protocols/usb/descriptors.hpp"

namespace modemu::gadget::ffs {

// One FunctionFS function: one interface of the composition (every alternate setting of it).
struct Function {
  std::uint8_t interface_number = 0;  // the profile's number (what UsbDevice knows)
  std::uint8_t real_number = 0;       // the number the host sees: the function's place in the configuration
  std::vector<protocols::usb::InterfaceDescriptor> settings;
  // The profile's endpoint addresses in descriptor order: FunctionFS names their files ep1..epN.
  std::vector<std::uint8_t> endpoints;
  bool placeholder = false;  // keeps a number free of the profile's interfaces (no endpoints)
};

// The placeholder's vendor-specific subclass and protocol, which no Linux driver matches.
inline constexpr std::uint8_t kPlaceholderSubClass = 0xfe;

// The functions of `config`, in interface order, keeping only `only` when it names at least one
// interface of the composition (a reduced composition for controllers with few endpoints, such
// as dummy_hcd); otherwise all of them. The kernel's composite driver numbers interfaces 0, 1,
// ... in configuration order, so a placeholder function fills each gap below the highest
// interface kept: every interface keeps the profile's number on the bus.
std::vector<Function> split(const protocols::usb::ConfigurationDescriptor& config, const std::set<std::uint8_t>& only);

// The v2 descriptor blob of a function: FS and HS sets with FunctionFS-local interface numbers.
// CDC functional descriptors are left out: f_fs.c refuses class-specific interface descriptors
// other than HID and CCID ("unknown descriptor"), and option / qmi_wwan do not need them.
protocols::Bytes descriptors(const Function& f);
// The strings blob: no strings (the gadget's strings are set in configfs).
protocols::Bytes strings();

// ep0 events (struct usb_functionfs_event: 8 setup bytes, type, 3 pad bytes).
enum class EventType : std::uint8_t { kBind = 0, kUnbind = 1, kEnable = 2, kDisable = 3, kSetup = 4, kSuspend = 5, kResume = 6 };
struct Event {
  EventType type = EventType::kBind;
  protocols::usb::SetupPacket setup;  // kSetup only
};
inline constexpr std::size_t kEventSize = 12;
// Whole records from what a read of ep0 returned; unknown types are dropped, a trailing partial
// record is ignored (the kernel only returns whole ones).
std::vector<Event> parse_events(protocols::ByteView bytes);

// What to do with ep0 after a setup request: stall, acknowledge (OUT, data already read or
// none), or send `data` (IN, possibly empty).
struct SetupAnswer {
  bool stall = false;
  protocols::Bytes data;
};
// A setup request that reached function `f` (wIndex FunctionFS-local for interface recipients),
// answered by `device` as if addressed to the profile's interface number.
SetupAnswer answer_setup(emulator::UsbDevice& device, const Function& f, protocols::usb::SetupPacket setup,
                         protocols::ByteView out);

// A CDC notification from UsbDevice names the profile's interface; the host must see the real
// one (CDC 1.1 6.3: wIndex is the interface).
void renumber_notification(protocols::Bytes& notification, const Function& f);

}  // namespace modemu::gadget::ffs
