#include "gadget/functionfs/functionfs_gadget.hpp"

#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/usb/functionfs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <csignal>
#include <ctime>
#include <unistd.h>
#include <usbg/usbg.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <sstream>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <fmt/format.h>

#include "gadget/functionfs/ffs_layout.hpp"

namespace modemu::gadget {
namespace asio = boost::asio;
namespace fs = std::filesystem;
using protocols::Bytes;

namespace {

// Linux AIO through the raw system calls (no libaio): FunctionFS endpoint files complete
// asynchronous reads and writes this way, and signal each completion on an eventfd.
long aio_setup(unsigned n, aio_context_t* ctx) { return syscall(SYS_io_setup, n, ctx); }
long aio_destroy(aio_context_t ctx) { return syscall(SYS_io_destroy, ctx); }
long aio_submit(aio_context_t ctx, long n, iocb** cbs) { return syscall(SYS_io_submit, ctx, n, cbs); }
long aio_getevents(aio_context_t ctx, long min, long max, io_event* events, timespec* timeout) {
  return syscall(SYS_io_getevents, ctx, min, max, events, timeout);
}

constexpr std::size_t kBulkTransfer = 16384;  // bytes per bulk transfer, either way
constexpr unsigned kAioSlots = 256;  // every slot of every endpoint of a composition

std::string error_text(int e) { return std::strerror(e); }

std::vector<std::string> list_udcs() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/sys/class/udc", ec)) out.push_back(entry.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

struct Mount {
  std::string source, target, type;
};

std::vector<Mount> mounts() {
  std::vector<Mount> out;
  std::ifstream f("/proc/self/mounts");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream s(line);
    Mount m;
    s >> m.source >> m.target >> m.type;
    out.push_back(m);
  }
  return out;
}

std::string usbg_text(int rc) { return fmt::format("{} ({})", usbg_strerror(static_cast<usbg_error>(rc)), rc); }

}  // namespace

std::string gadget_name_for(const std::string& modem_id) {
  // A FunctionFS instance name is at most 40 bytes with its NUL (f_fs.c MAX_INST_NAME_LEN); the
  // instances are NAME_ifN.
  std::string id;
  for (char c : modem_id) id += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '-';
  return "modemu-" + id.substr(0, 26);
}

namespace {

// Transfers kept with the kernel per bulk endpoint: the host's driver queues several URBs
// (usbnet's receive queue, usb_wwan's reads) and each one completes only against a request of
// ours, so one at a time would cost a round trip through the controller per packet.
constexpr std::size_t kBulkSlots = 8;

struct Slot {
  Bytes buffer;
  iocb cb{};
  bool busy = false;  // with the kernel
};

struct Endpoint {
  std::uint8_t address = 0;  // the profile's
  std::size_t function = 0;
  int fd = -1;
  bool in = false;
  bool interrupt = false;
  bool zlp = false;  // a zero-length packet ends the transfer just queued
  std::uint16_t max_packet = 512;
  std::vector<Slot> slots;
  std::deque<Bytes> retry;  // IN data the kernel gave back (ESHUTDOWN), sent again first

  bool idle() const {
    for (const auto& s : slots) {
      if (s.busy) return false;
    }
    return retry.empty();
  }
  Slot* free_slot() {
    for (auto& s : slots) {
      if (!s.busy) return &s;
    }
    return nullptr;
  }
};

struct Function {
  ffs::Function layout;
  std::string instance;
  fs::path mount;
  bool mounted = false;
  std::unique_ptr<asio::posix::stream_descriptor> ep0;
  bool enabled = false;
  std::vector<std::size_t> endpoints;  // indexes into Build::endpoints, ep1..epN
};

// One gadget, from its creation in configfs to its removal.
struct Build {
  usbg_gadget* gadget = nullptr;
  bool bound = false;
  bool configured = false;
  std::vector<Function> functions;
  std::vector<Endpoint> endpoints;  // never resized once I/O starts: iocbs point into it
  std::map<std::uint8_t, std::size_t> by_address;
  aio_context_t aio = 0;
  std::unique_ptr<asio::posix::stream_descriptor> completions;
  std::uint64_t counter = 0;
};

}  // namespace

// ep0's data and status stages are synchronous in f_fs.c: the call waits until the host has
// completed the transfer. A host that abandons a control transfer and sends nothing more would
// hold the emulator there; a timer aimed at this thread interrupts the wait after a second
// (f_fs.c then dequeues the request and the call fails with EINTR).
class Ep0Deadline {
 public:
  Ep0Deadline() {
    static const int installed = [] {
      struct sigaction sa {};
      sa.sa_handler = [](int) {};
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = 0;  // no SA_RESTART: the interrupted call returns EINTR
      return sigaction(signal(), &sa, nullptr);
    }();
    sigevent sev{};
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = signal();
    sev._sigev_un._tid = static_cast<pid_t>(::syscall(SYS_gettid));
    ok_ = installed == 0 && timer_create(CLOCK_MONOTONIC, &sev, &timer_) == 0;
  }
  ~Ep0Deadline() {
    if (ok_) timer_delete(timer_);
  }
  Ep0Deadline(const Ep0Deadline&) = delete;
  Ep0Deadline& operator=(const Ep0Deadline&) = delete;

  // A real host finishes a control transfer's data and status stages within microseconds; a host
  // in an emulated machine under load can take seconds. The limit only catches a host that
  // abandoned the transfer.
  static constexpr int kSeconds = 5;

  template <typename F>
  ssize_t run(F&& call) {
    set(kSeconds);
    ssize_t rc = call();
    int saved = errno;
    set(0);
    errno = saved;
    return rc;
  }

 private:
  static int signal() { return SIGRTMIN + 4; }
  void set(int seconds) {
    if (!ok_) return;
    itimerspec t{};
    t.it_value.tv_sec = seconds;
    timer_settime(timer_, 0, &t, nullptr);
  }
  timer_t timer_{};
  bool ok_ = false;
};

struct FunctionFsGadget::Impl {
  Ep0Deadline deadline;
  asio::io_context& io;
  emulator::UsbDevice& device;
  Options options;
  usbg_state* state = nullptr;
  usbg_udc* udc = nullptr;
  std::string udc_name;
  std::shared_ptr<Build> build;

  Impl(asio::io_context& context, emulator::UsbDevice& d, Options o) : io(context), device(d), options(std::move(o)) {}

  void event(const std::string& text) { device.modem().event("usb.gadget", text); }

  void open_configfs() {
    // Checked before libusbgx, which prints its own line on stderr when the directory is absent.
    std::error_code missing;
    bool present = fs::is_directory(fs::path(options.configfs) / "usb_gadget", missing);
    int rc = present ? usbg_init(options.configfs.c_str(), &state) : USBG_ERROR_NOT_FOUND;
    if (rc == USBG_ERROR_NOT_FOUND) {
      throw GadgetError(fmt::format(
          "--transport gadget: no {}/usb_gadget: mount configfs (mount -t configfs none {}) and load "
          "libcomposite and usb_f_fs (modprobe libcomposite usb_f_fs)",
          options.configfs, options.configfs));
    }
    if (rc == USBG_ERROR_NO_ACCESS) {
      throw GadgetError(fmt::format("--transport gadget: no access to {}/usb_gadget: it needs root", options.configfs));
    }
    if (rc != USBG_SUCCESS) {
      throw GadgetError(fmt::format("--transport gadget: cannot read {}/usb_gadget: {}", options.configfs, usbg_text(rc)));
    }
    auto udcs = list_udcs();
    if (options.udc.empty()) {
      if (udcs.empty()) {
        throw GadgetError(
            "--transport gadget: no USB device controller in /sys/class/udc: this machine needs a device-mode "
            "port, or load dummy_hcd (modprobe dummy_hcd) or usbip-vudc (modprobe usbip-vudc)");
      }
      if (udcs.size() > 1) {
        std::string names;
        for (const auto& u : udcs) names += (names.empty() ? "" : ", ") + u;
        throw GadgetError(fmt::format("--transport gadget: several USB device controllers ({}): choose one with --udc NAME",
                                      names));
      }
      udc_name = udcs.front();
    } else {
      udc_name = options.udc;
    }
    udc = usbg_get_udc(state, udc_name.c_str());
    if (udc == nullptr) {
      std::string names;
      for (const auto& u : udcs) names += (names.empty() ? "" : ", ") + u;
      throw GadgetError(fmt::format("--udc {}: no such USB device controller in /sys/class/udc (there: {})", udc_name,
                                    names.empty() ? "none" : names));
    }
  }

  // A gadget of our name is ours: left by a run that was killed before it could clean up.
  void remove_leftover() {
    usbg_gadget* g = usbg_get_gadget(state, options.name.c_str());
    if (g != nullptr) usbg_disable_gadget(g);
    std::string prefix = options.name + "_if";
    for (const auto& m : mounts()) {
      if (m.type == "functionfs" && m.source.rfind(prefix, 0) == 0) {
        if (::umount2(m.target.c_str(), MNT_DETACH) != 0) {
          throw GadgetError(fmt::format("cannot unmount the FunctionFS {} left at {}: {}", m.source, m.target, error_text(errno)));
        }
      }
    }
    if (g != nullptr) {
      int rc = usbg_rm_gadget(g, USBG_RM_RECURSE);
      if (rc != USBG_SUCCESS) {
        throw GadgetError(fmt::format("cannot remove the gadget {} left by an earlier run: {}", options.name, usbg_text(rc)));
      }
      event(fmt::format("removed the gadget {} left by an earlier run", options.name));
    }
  }

  [[noreturn]] void fail(const std::string& what) {
    destroy();
    throw GadgetError(what);
  }

  void create() {
    auto b = std::make_shared<Build>();
    build = b;
    const auto& d = device.device_descriptor();
    const auto& config = device.configuration();
    usbg_gadget_attrs attrs{d.bcdUSB, d.bDeviceClass, d.bDeviceSubClass, d.bDeviceProtocol, d.bMaxPacketSize0,
                            d.idVendor, d.idProduct, d.bcdDevice};
    std::string manufacturer = device.string_for(d.iManufacturer), product = device.string_for(d.iProduct),
                serial = device.string_for(d.iSerialNumber);
    usbg_gadget_strs strs{manufacturer.data(), product.data(), serial.data()};
    int rc = usbg_create_gadget(state, options.name.c_str(), &attrs, &strs, &b->gadget);
    if (rc != USBG_SUCCESS) fail(fmt::format("cannot create the gadget {} in configfs: {}", options.name, usbg_text(rc)));
    usbg_config_attrs cattrs{config.bmAttributes, 0};
    usbg_config* c = nullptr;
    rc = usbg_create_config(b->gadget, 1, "c", &cattrs, nullptr, &c);
    if (rc == USBG_SUCCESS) rc = usbg_set_config_max_power(c, config.bMaxPower * 2);  // configfs: mA
    if (rc != USBG_SUCCESS) fail(fmt::format("cannot create the gadget's configuration: {}", usbg_text(rc)));

    for (auto& layout : ffs::split(config, options.interfaces)) {
      Function f;
      f.instance = fmt::format("{}_if{}", options.name, layout.interface_number);
      f.mount = options.mount_root / fmt::format("if{}", layout.interface_number);
      f.layout = std::move(layout);
      b->functions.push_back(std::move(f));
    }
    for (std::size_t i = 0; i < b->functions.size(); ++i) {
      Function& f = b->functions[i];
      usbg_function* uf = nullptr;
      rc = usbg_create_function(b->gadget, USBG_F_FFS, f.instance.c_str(), nullptr, &uf);
      if (rc != USBG_SUCCESS) {
        fail(fmt::format("cannot create the FunctionFS function {}: {} (is usb_f_fs loaded? modprobe usb_f_fs)", f.instance,
                         usbg_text(rc)));
      }
      rc = usbg_add_config_function(c, f.instance.c_str(), uf);
      if (rc != USBG_SUCCESS) fail(fmt::format("cannot add {} to the configuration: {}", f.instance, usbg_text(rc)));
      std::error_code ec;
      fs::create_directories(f.mount, ec);
      if (::mount(f.instance.c_str(), f.mount.c_str(), "functionfs", 0, nullptr) != 0) {
        fail(fmt::format("cannot mount FunctionFS {} on {}: {}", f.instance, f.mount.string(), error_text(errno)));
      }
      f.mounted = true;
      int ep0 = ::open((f.mount / "ep0").c_str(), O_RDWR | O_CLOEXEC);
      if (ep0 < 0) fail(fmt::format("cannot open {}: {}", (f.mount / "ep0").string(), error_text(errno)));
      f.ep0 = std::make_unique<asio::posix::stream_descriptor>(io, ep0);
      auto descs = ffs::descriptors(f.layout);
      auto strings = ffs::strings();
      if (::write(ep0, descs.data(), descs.size()) != static_cast<ssize_t>(descs.size())) {
        fail(fmt::format("FunctionFS refused the descriptors of interface {}: {}", f.layout.interface_number,
                         error_text(errno)));
      }
      if (::write(ep0, strings.data(), strings.size()) != static_cast<ssize_t>(strings.size())) {
        fail(fmt::format("FunctionFS refused the strings of interface {}: {}", f.layout.interface_number, error_text(errno)));
      }
      for (std::size_t n = 0; n < f.layout.endpoints.size(); ++n) {
        Endpoint e;
        e.address = f.layout.endpoints[n];
        e.function = i;
        e.in = (e.address & 0x80) != 0;
        auto it = device.endpoints().find(e.address);
        if (it != device.endpoints().end()) {
          e.interrupt = (it->second.descriptor.bmAttributes & 3) == 3;
          e.max_packet = it->second.descriptor.wMaxPacketSize;
        }
        auto path = f.mount / fmt::format("ep{}", n + 1);
        // O_NONBLOCK: a transfer on an endpoint the host has not enabled fails with EAGAIN
        // instead of waiting in the kernel.
        e.fd = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (e.fd < 0) fail(fmt::format("cannot open {}: {}", path.string(), error_text(errno)));
        e.slots.resize(e.interrupt ? 1 : kBulkSlots);
        f.endpoints.push_back(b->endpoints.size());
        b->by_address[e.address] = b->endpoints.size();
        b->endpoints.push_back(std::move(e));
      }
    }
    if (aio_setup(kAioSlots, &b->aio) != 0) fail(fmt::format("io_setup: {}", error_text(errno)));
    int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) fail(fmt::format("eventfd: {}", error_text(errno)));
    b->completions = std::make_unique<asio::posix::stream_descriptor>(io, efd);
    rc = usbg_enable_gadget(b->gadget, udc);
    if (rc != USBG_SUCCESS) {
      fail(fmt::format("cannot bind the gadget to {}: {} (is another gadget bound to it?)", udc_name, usbg_text(rc)));
    }
    b->bound = true;
    std::string layout, gaps;
    for (const auto& f : b->functions) {
      std::string& list = f.layout.placeholder ? gaps : layout;
      list += fmt::format("{}{}", list.empty() ? "" : " ", f.layout.interface_number);
    }
    if (!gaps.empty()) layout += fmt::format("; placeholders {}", gaps);
    device.modem().event("usb.gadget",
                         fmt::format("gadget {} {:04x}:{:04x} bound to {} (interfaces {})", options.name, d.idVendor,
                                     d.idProduct, udc_name, layout),
                         {{"udc", udc_name}, {"vid", fmt::format("{:04x}", d.idVendor)}, {"pid", fmt::format("{:04x}", d.idProduct)}});
    for (std::size_t i = 0; i < b->functions.size(); ++i) wait_ep0(b, i);
    wait_completions(b);
  }

  void destroy() {
    auto b = std::move(build);
    if (!b) return;
    if (b->gadget != nullptr && b->bound) usbg_disable_gadget(b->gadget);
    // Unbinding ended every transfer (ESHUTDOWN); io_destroy collects them.
    if (b->aio != 0) aio_destroy(b->aio);
    boost::system::error_code ec;
    if (b->completions) b->completions->close(ec);
    for (auto& e : b->endpoints) {
      if (e.fd >= 0) ::close(e.fd);
    }
    for (auto& f : b->functions) {
      if (f.ep0) f.ep0->close(ec);
      if (f.mounted && ::umount2(f.mount.c_str(), 0) != 0) ::umount2(f.mount.c_str(), MNT_DETACH);
      std::error_code fec;
      fs::remove(f.mount, fec);
    }
    if (b->gadget != nullptr) {
      int rc = usbg_rm_gadget(b->gadget, USBG_RM_RECURSE);
      if (rc != USBG_SUCCESS) event(fmt::format("cannot remove the gadget {}: {}", options.name, usbg_text(rc)));
    }
    if (b->bound) event(fmt::format("gadget {} unbound from {} and removed", options.name, udc_name));
  }

  // --- ep0: events and setup requests ---

  void wait_ep0(const std::shared_ptr<Build>& b, std::size_t fi) {
    std::weak_ptr<Build> weak = b;
    b->functions[fi].ep0->async_wait(asio::posix::stream_descriptor::wait_read,
                                     [this, weak, fi](const boost::system::error_code& ec) {
                                       auto live = weak.lock();
                                       if (!live || live != build || ec) return;
                                       read_ep0(live, fi);
                                     });
  }

  // Errors of an events read after which ep0 goes on: nothing queued, the deadline, a request
  // the host replaced (EIDRM), or one f_fs stalled (EL2HLT) or cut short (EOVERFLOW) because it
  // was still pending. Any other error ends this function's ep0 until the next build.
  static bool transient(int e) { return e == EAGAIN || e == EINTR || e == EIDRM || e == EL2HLT || e == EOVERFLOW; }

  void read_ep0(const std::shared_ptr<Build>& b, std::size_t fi) {
    std::array<std::uint8_t, ffs::kEventSize * 8> buf{};
    int fd = b->functions[fi].ep0->native_handle();
    // Bounded like the stages: the thread never waits on the host without a limit.
    ssize_t n = deadline.run([&] { return ::read(fd, buf.data(), buf.size()); });
    if (n < 0) {
      int e = errno;
      if (e != EAGAIN && e != EINTR) {
        event(fmt::format("reading events of interface {}: {}", b->functions[fi].layout.interface_number, error_text(e)));
      }
      if (transient(e)) wait_ep0(b, fi);
      return;
    }
    for (const auto& e : ffs::parse_events(protocols::ByteView(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0))) {
      handle(b, fi, e);
      if (b != build) return;  // the request made the modem leave the bus
    }
    wait_ep0(b, fi);
  }

  void handle(const std::shared_ptr<Build>& b, std::size_t fi, const ffs::Event& e) {
    Function& f = b->functions[fi];
    switch (e.type) {
      case ffs::EventType::kEnable: enable(b, fi); break;
      case ffs::EventType::kDisable:
      case ffs::EventType::kUnbind: f.enabled = false; break;
      case ffs::EventType::kSetup:
        setup(f, e.setup);
        if (b == build) rearm(b, fi);
        break;
      default: break;
    }
  }

  void setup(Function& f, const protocols::usb::SetupPacket& s) {
    int fd = f.ep0->native_handle();
    std::uint8_t none = 0;
    // A call in the wrong direction makes f_fs stall the request it holds and forget it (f_fs.c).
    auto stall = [&] { (void)!deadline.run([&] { return s.device_to_host() ? ::read(fd, &none, 0) : ::write(fd, &none, 0); }); };
    auto report = [&](const char* stage) {
      int e = errno;
      if (e == EIDRM) return;  // the host moved on to another request: f_fs cancelled this one
      event(fmt::format("ep0 {} of request {:02x} on interface {}: {}", stage, s.bRequest, f.layout.interface_number,
                        e == EINTR ? fmt::format("the host did not finish the transfer within {} s; the request is stalled",
                                                 Ep0Deadline::kSeconds)
                                   : error_text(e)));
      // An interrupted stage leaves the request pending in f_fs: the next events read would
      // stall it there (EL2HLT) or take the host's late data stage for events.
      if (e == EINTR) stall();
    };
    if (s.device_to_host()) {
      auto a = ffs::answer_setup(device, f.layout, s, {});
      if (a.stall) {
        stall();
        return;
      }
      if (a.data.size() > s.wLength) a.data.resize(s.wLength);
      if (deadline.run([&] { return ::write(fd, a.data.data(), a.data.size()); }) < 0) report("reply");
      return;
    }
    if (s.wLength == 0) {
      auto a = ffs::answer_setup(device, f.layout, s, {});
      if (a.stall) {
        stall();
        return;
      }
      // A zero-length read acknowledges the status stage.
      if (deadline.run([&] { return ::read(fd, &none, 0); }) < 0) report("status");
      return;
    }
    Bytes data(s.wLength);
    ssize_t n = deadline.run([&] { return ::read(fd, data.data(), data.size()); });
    if (n < 0) {
      report("data");
      return;
    }
    data.resize(static_cast<std::size_t>(n));
    ffs::answer_setup(device, f.layout, s, data);  // the status stage is done: a refusal shows as a usb.stall event
  }

  // A notification the host's driver lost (its interrupt URB unlinked as a client closed
  // cdc-wdm while the transfer completed) would strand the response behind it, and every later
  // response would come one request late. While the host talks to the function and no
  // notification is on its way, each waiting response is announced again (UsbDevice's rearm,
  // as usbredir does when QEMU restarts interrupt polling).
  void rearm(const std::shared_ptr<Build>& b, std::size_t fi) {
    for (std::size_t idx : b->functions[fi].endpoints) {
      Endpoint& e = b->endpoints[idx];
      if (!e.interrupt || !e.in || !e.idle() || device.has_data(e.address)) continue;
      device.rearm_interrupt(e.address);
      pump(b, idx);
    }
  }

  void enable(const std::shared_ptr<Build>& b, std::size_t fi) {
    Function& f = b->functions[fi];
    f.enabled = true;
    // The real interface number, as the host sees it (FUNCTIONFS_INTERFACE_REVMAP maps a real
    // number to the function's own index).
    int fd = f.ep0->native_handle();
    for (int real = 0; real < 32; ++real) {
      if (::ioctl(fd, FUNCTIONFS_INTERFACE_REVMAP, real) == 0) {
        if (real != f.layout.real_number) {
          event(fmt::format("interface {} is number {} on the bus", f.layout.interface_number, real));
          f.layout.real_number = static_cast<std::uint8_t>(real);
        }
        break;
      }
    }
    for (std::size_t idx : f.endpoints) {
      Endpoint& e = b->endpoints[idx];
      usb_endpoint_descriptor desc{};
      if (::ioctl(e.fd, FUNCTIONFS_ENDPOINT_DESC, &desc) == 0 && desc.wMaxPacketSize != 0) e.max_packet = desc.wMaxPacketSize;
      if (e.in) {
        pump(b, idx);
      } else {
        while (e.free_slot() != nullptr && submit_read(b, idx)) {
        }
      }
    }
    bool all = true;
    for (const auto& g : b->functions) all = all && g.enabled;
    if (all && !b->configured) {
      b->configured = true;
      event("the host configured the gadget");
    }
  }

  // --- endpoints ---

  // Hands `slot` of endpoint `idx` to the kernel; false when it refused.
  bool submit(const std::shared_ptr<Build>& b, std::size_t idx, Slot& slot, bool write) {
    Endpoint& e = b->endpoints[idx];
    slot.cb = iocb{};
    slot.cb.aio_data = (idx << 8) | static_cast<std::size_t>(&slot - e.slots.data());
    slot.cb.aio_lio_opcode = write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
    slot.cb.aio_fildes = static_cast<std::uint32_t>(e.fd);
    slot.cb.aio_buf = reinterpret_cast<std::uint64_t>(slot.buffer.data());
    slot.cb.aio_nbytes = slot.buffer.size();
    slot.cb.aio_flags = IOCB_FLAG_RESFD;
    slot.cb.aio_resfd = static_cast<std::uint32_t>(b->completions->native_handle());
    iocb* list[1] = {&slot.cb};
    if (aio_submit(b->aio, 1, list) != 1) {
      event(fmt::format("endpoint {:02x}: io_submit: {}", e.address, error_text(errno)));
      return false;
    }
    slot.busy = true;
    return true;
  }

  bool submit_read(const std::shared_ptr<Build>& b, std::size_t idx) {
    Endpoint& e = b->endpoints[idx];
    Slot* slot = e.free_slot();
    if (slot == nullptr) return false;
    slot->buffer.resize(e.interrupt ? 64 : kBulkTransfer);
    return submit(b, idx, *slot, false);
  }

  // IN: as long as a slot is free and there is something to send.
  void pump(const std::shared_ptr<Build>& b, std::size_t idx) {
    Endpoint& e = b->endpoints[idx];
    if (!b->functions[e.function].enabled) return;
    while (Slot* slot = e.free_slot()) {
      Bytes data;
      if (!e.retry.empty()) {
        data = std::move(e.retry.front());
        e.retry.pop_front();
      } else if (e.zlp) {
        // The transfer filled its last packet: a zero-length packet ends it, or the host's
        // larger read would wait for more (USB 2.0 5.8.3).
        e.zlp = false;
      } else {
        if (!device.connected()) return;
        data = device.read(e.address, e.interrupt ? 64 : kBulkTransfer);
        if (data.empty()) return;
        if (e.interrupt) {
          ffs::renumber_notification(data, b->functions[e.function].layout);
        } else if (e.max_packet != 0 && data.size() % e.max_packet == 0) {
          e.zlp = true;
        }
      }
      slot->buffer = std::move(data);
      if (!submit(b, idx, *slot, true)) {
        e.retry.push_front(std::move(slot->buffer));
        return;
      }
    }
  }

  void wait_completions(const std::shared_ptr<Build>& b) {
    std::weak_ptr<Build> weak = b;
    b->completions->async_read_some(asio::buffer(&b->counter, sizeof b->counter),
                                    [this, weak](const boost::system::error_code& ec, std::size_t) {
                                      auto live = weak.lock();
                                      if (!live || live != build) return;
                                      if (ec && ec != asio::error::would_block && ec != asio::error::try_again) return;
                                      collect(live);
                                    });
  }

  void collect(const std::shared_ptr<Build>& b) {
    std::array<io_event, kAioSlots> events{};
    timespec now{0, 0};
    for (;;) {
      long n = aio_getevents(b->aio, 0, static_cast<long>(events.size()), events.data(), &now);
      if (n <= 0) break;
      for (long i = 0; i < n; ++i) {
        complete(b, events[static_cast<std::size_t>(i)].data, events[static_cast<std::size_t>(i)].res);
        if (b != build) return;
      }
    }
    wait_completions(b);
  }

  void complete(const std::shared_ptr<Build>& b, std::uint64_t tag, long long res) {
    std::size_t idx = static_cast<std::size_t>(tag >> 8), n = static_cast<std::size_t>(tag & 0xff);
    if (idx >= b->endpoints.size() || n >= b->endpoints[idx].slots.size()) return;
    Endpoint& e = b->endpoints[idx];
    Slot& slot = e.slots[n];
    slot.busy = false;
    bool enabled = b->functions[e.function].enabled;
    if (e.in) {
      if (res < 0) {
        // usbnet selecting alternate setting 0 re-enables every endpoint of the function: what
        // was given back is sent again (transports.md section 3); after EAGAIN (not enabled),
        // at the next ENABLE.
        e.retry.push_back(std::move(slot.buffer));
        if (res != -ESHUTDOWN) return;
      }
      if (enabled) pump(b, idx);
      return;
    }
    if (res > 0 && device.connected()) device.write(e.address, protocols::ByteView(slot.buffer.data(), static_cast<std::size_t>(res)));
    if (b != build) return;
    if ((res >= 0 || res == -ESHUTDOWN) && b->functions[e.function].enabled) submit_read(b, idx);
  }
};

FunctionFsGadget::FunctionFsGadget(asio::io_context& io, emulator::UsbDevice& device, Options options)
    : impl_(std::make_unique<Impl>(io, device, std::move(options))) {
  if (impl_->options.name.empty()) impl_->options.name = gadget_name_for(device.modem().id());
  try {
    impl_->open_configfs();
    impl_->remove_leftover();
    std::error_code ec;
    fs::create_directories(impl_->options.mount_root, ec);
    if (ec) throw GadgetError(fmt::format("cannot make {}: {}", impl_->options.mount_root.string(), ec.message()));
    device.set_listener(this);
    if (device.connected()) impl_->create();
  } catch (...) {
    device.set_listener(nullptr);
    if (impl_->state != nullptr) usbg_cleanup(impl_->state);
    impl_->state = nullptr;
    throw;
  }
}

FunctionFsGadget::~FunctionFsGadget() {
  impl_->device.set_listener(nullptr);
  impl_->destroy();
  std::error_code ec;
  fs::remove(impl_->options.mount_root, ec);  // only when empty
  if (impl_->state != nullptr) usbg_cleanup(impl_->state);
}

const std::string& FunctionFsGadget::udc() const { return impl_->udc_name; }
const std::string& FunctionFsGadget::name() const { return impl_->options.name; }

void FunctionFsGadget::on_connect(emulator::UsbDevice&) {
  impl_->destroy();
  try {
    impl_->create();
  } catch (const GadgetError& e) {
    impl_->event(fmt::format("the gadget could not be built: {}", e.what()));
  }
}

void FunctionFsGadget::on_disconnect(emulator::UsbDevice&) { impl_->destroy(); }

void FunctionFsGadget::on_data_ready(emulator::UsbDevice&, std::uint8_t endpoint) {
  auto b = impl_->build;
  if (!b) return;
  auto it = b->by_address.find(endpoint);
  if (it != b->by_address.end()) impl_->pump(b, it->second);
}

}  // namespace modemu::gadget
