#include "gadget/local/pty_transport.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

namespace modemu::gadget {
namespace fs = std::filesystem;
namespace asio = boost::asio;

namespace {

// What a port may hold for a host that does not read: beyond this the oldest output is dropped,
// as a real module's output is lost when nobody drains the tty.
constexpr std::size_t kMaxPending = 64 * 1024;

void make_raw(int fd) {
  termios t{};
  if (::tcgetattr(fd, &t) != 0) return;
  ::cfmakeraw(&t);
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  ::tcsetattr(fd, TCSANOW, &t);
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
}

}  // namespace

struct PtyTransport::Pty {
  Pty(asio::io_context& io, emulator::Port& p) : port(&p), master(io) {}
  emulator::Port* port;
  asio::posix::stream_descriptor master;
  int slave = -1;
  int watch = -1;
  std::string slave_path;
  fs::path link;
  std::string pending;
  int clients = 0;  // host programs holding the port open (inotify IN_OPEN / IN_CLOSE)
  bool writing = false;
  bool dropped_reported = false;
  std::array<char, 4096> buffer{};
};

PtyTransport::PtyTransport(asio::io_context& io, emulator::Modem& modem, fs::path dev_dir)
    : io_(io), modem_(modem), dev_dir_(std::move(dev_dir)), inotify_(io), alive_(std::make_shared<bool>(true)) {
  std::error_code ec;
  fs::create_directories(dev_dir_, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot create --dev-dir {}: {}", dev_dir_.string(), ec.message()));
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) fail("inotify_init1");
  inotify_.assign(fd);
  start_inotify_read();
  modem_.add_observer(this);
  if (modem_.composition() != nullptr) on_plug(modem_);
}

PtyTransport::~PtyTransport() {
  *alive_ = false;
  modem_.remove_observer(this);
  close_all();
  boost::system::error_code ec;
  inotify_.close(ec);
}

void PtyTransport::on_plug(emulator::Modem& modem) {
  std::string summary;
  for (const auto& port : modem.ports()) {
    const auto& info = port->info();
    // Serial functions and the QMI control channel (raw QMUX, as qmicli --device-open-qmi
    // and uqmi read it) become ptys; network functions have no node.
    if (!info.node_name.starts_with("tty") && !info.node_name.starts_with("cdc-wdm")) continue;
    auto pty = std::make_unique<Pty>(io_, *port);
    int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (master < 0) fail("posix_openpt");
    pty->master.assign(master);
    char name[128] = {};
    if (::grantpt(master) != 0 || ::unlockpt(master) != 0 || ::ptsname_r(master, name, sizeof name) != 0) {
      fail("preparing a pseudo-terminal");
    }
    pty->slave_path = name;
    // Holding the slave open keeps its raw settings and spares the master EIO while no client
    // has the port open.
    pty->slave = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (pty->slave < 0) fail(fmt::format("open {}", name));
    make_raw(pty->slave);
    pty->watch = ::inotify_add_watch(inotify_.native_handle(), name, IN_OPEN | IN_CLOSE);
    if (pty->watch >= 0) by_watch_[pty->watch] = pty.get();
    // Replace any stale link atomically: a host never sees the name missing or half made.
    pty->link = dev_dir_ / info.node_name;
    fs::path tmp = dev_dir_ / fmt::format(".{}.new", info.node_name);
    std::error_code ec;
    fs::remove(tmp, ec);
    fs::create_symlink(name, tmp, ec);
    if (!ec) fs::rename(tmp, pty->link, ec);
    if (ec) throw std::runtime_error(fmt::format("cannot create {}: {}", pty->link.string(), ec.message()));
    Pty* raw = pty.get();
    port->set_sink([this, raw](std::string_view bytes) { write(*raw, bytes); });
    ptys_.push_back(std::move(pty));
    start_read(*raw);
    modem.event("port.up",
                fmt::format("{} -> {} ({}, interface {})", raw->link.string(), name,
                            emulator::function_name(info.function), info.interface_number),
                {{"node", info.node_name}, {"link", raw->link.string()}, {"pty", name},
                 {"function", std::string(emulator::function_name(info.function))}});
    summary += fmt::format("{}{} ({})", summary.empty() ? "" : ", ", info.node_name, emulator::function_name(info.function));
  }
  modem.event("ports", fmt::format("ports up in {}: {}", dev_dir_.string(), summary), {{"dev_dir", dev_dir_.string()}});
}

void PtyTransport::on_unplug(emulator::Modem& modem) {
  if (ptys_.empty()) return;
  close_all();
  modem.event("ports", fmt::format("ports gone from {}", dev_dir_.string()), {{"dev_dir", dev_dir_.string()}});
}

void PtyTransport::close_all() {
  for (auto& pty : ptys_) {
    pty->port->set_sink(nullptr);
    if (pty->watch >= 0) ::inotify_rm_watch(inotify_.native_handle(), pty->watch);
    std::error_code ec;
    fs::remove(pty->link, ec);
    boost::system::error_code bec;
    pty->master.cancel(bec);
    pty->master.close(bec);  // the host sees a hangup, as with a USB disconnect
    if (pty->slave >= 0) ::close(pty->slave);
  }
  by_watch_.clear();
  // Pending handlers hold no pointer into the ptys: they check `alive_` and the list below.
  ptys_.clear();
}

bool PtyTransport::owns(const Pty* pty) const {
  for (const auto& p : ptys_) {
    if (p.get() == pty) return true;
  }
  return false;
}

void PtyTransport::start_read(Pty& pty) {
  std::weak_ptr<bool> alive = alive_;
  Pty* target = &pty;
  pty.master.async_read_some(asio::buffer(pty.buffer), [this, alive, target](const boost::system::error_code& ec,
                                                                             std::size_t n) {
    auto guard = alive.lock();
    if (!guard || !*guard || ec == asio::error::operation_aborted) return;
    // The pty may have been closed by an unplug while this read was queued.
    if (!owns(target)) return;
    if (ec) {
      modem_.event("port.error", fmt::format("{}: read failed: {}", target->port->info().node_name, ec.message()));
      return;
    }
    // An open that preceded these bytes must be seen first, or its flush would eat the reply.
    drain_inotify();
    if (!owns(target)) return;
    target->port->from_host(std::string_view(target->buffer.data(), n));
    // The bytes may have reset the module (AT+CFUN=1,1 unplugs later, but a port may go at once).
    if (owns(target)) start_read(*target);
  });
}

void PtyTransport::start_inotify_read() {
  std::weak_ptr<bool> alive = alive_;
  inotify_.async_wait(asio::posix::stream_descriptor::wait_read, [this, alive](const boost::system::error_code& ec) {
    auto guard = alive.lock();
    if (!guard || !*guard || ec) return;
    drain_inotify();
    start_inotify_read();
  });
}

void PtyTransport::drain_inotify() {
  alignas(inotify_event) char buffer[4096];
  while (true) {
    ssize_t n = ::read(inotify_.native_handle(), buffer, sizeof buffer);
    if (n <= 0) return;
    handle_inotify(buffer, static_cast<std::size_t>(n));
  }
}

void PtyTransport::handle_inotify(const char* buffer, std::size_t length) {
  std::set<Pty*> closed;
  std::size_t off = 0;
  while (off + sizeof(inotify_event) <= length) {
    inotify_event ev{};
    std::memcpy(&ev, buffer + off, sizeof ev);
    off += sizeof(inotify_event) + ev.len;
    auto it = by_watch_.find(ev.wd);
    if (it == by_watch_.end()) continue;
    Pty& pty = *it->second;
    if (ev.mask & IN_OPEN) {
      ++pty.clients;
      pty.port->host_opened();
      modem_.event("port.open", fmt::format("{} opened by a host program", pty.port->info().node_name),
                   {{"node", pty.port->info().node_name}});
    }
    if (ev.mask & (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE)) {
      pty.clients = pty.clients > 0 ? pty.clients - 1 : 0;
      // The next client must find the port raw again, whatever this one set.
      make_raw(pty.slave);
      closed.insert(&pty);
    }
  }
  // What the last client left unread is stale for the next one. It is flushed once nobody has
  // the port open (counting opens already queued), never under a reader: a flush in the middle
  // of a QMI frame a client is reading would leave its framer out of step.
  for (Pty* pty : closed) {
    if (pty->clients == 0) {
      ::tcflush(pty->slave, TCIFLUSH);
      pty->pending.clear();
    }
  }
}

void PtyTransport::write(Pty& pty, std::string_view bytes) {
  // With no host program on the port, output is lost, as a module's output is when the host
  // does not poll the tty (the USB transports drop it while DTR is down).
  if (pty.clients == 0) return;
  pty.pending.append(bytes);
  if (pty.pending.size() > kMaxPending) {
    pty.pending.erase(0, pty.pending.size() - kMaxPending);
    if (!pty.dropped_reported) {
      pty.dropped_reported = true;
      modem_.event("port.overflow",
                   fmt::format("{}: no host reads the port; dropping its oldest output", pty.port->info().node_name));
    }
  }
  if (!pty.writing) flush_writes(pty);
}

void PtyTransport::flush_writes(Pty& pty) {
  while (!pty.pending.empty()) {
    ssize_t n = ::write(pty.master.native_handle(), pty.pending.data(), pty.pending.size());
    if (n > 0) {
      pty.pending.erase(0, static_cast<std::size_t>(n));
      pty.dropped_reported = false;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pty.writing = true;
      std::weak_ptr<bool> alive = alive_;
      Pty* target = &pty;
      pty.master.async_wait(asio::posix::stream_descriptor::wait_write,
                            [this, alive, target](const boost::system::error_code& ec) {
                              auto guard = alive.lock();
                              if (!guard || !*guard || ec || !owns(target)) return;
                              target->writing = false;
                              flush_writes(*target);
                            });
      return;
    }
    pty.pending.clear();  // the pty is gone
    return;
  }
}

}  // namespace modemu::gadget
