#include "gadget/tun/tun_network.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "emulator/data/data_service.hpp"

namespace modemu::gadget {

namespace {

int open_tun(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name.find('/') != std::string::npos) {
    throw std::runtime_error(
        fmt::format("--data-tun \"{}\": an interface name needs 1 to {} characters and no '/'", name, IFNAMSIZ - 1));
  }
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    throw std::runtime_error(fmt::format("--data-tun {}: cannot open /dev/net/tun: {} (the tun module must be loaded)",
                                         name, std::strerror(errno)));
  }
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    ::close(fd);
    throw std::runtime_error(fmt::format("--data-tun {}: cannot create the TUN device: {}{}", name, std::strerror(e),
                                         e == EPERM ? " (it needs CAP_NET_ADMIN: root, or a user namespace)" : ""));
  }
  return fd;
}

}  // namespace

TunNetwork::TunNetwork(boost::asio::io_context& io, emulator::Modem& modem, const std::string& name)
    : modem_(modem), name_(name), fd_(io, open_tun(name)) {
  modem_.data().set_external_network([this](std::uint32_t cid, protocols::ByteView p) { send(cid, p); });
  modem_.event("data.tun", fmt::format("sessions' traffic goes to the TUN device {} instead of the built-in network", name_),
               {{"device", name_}});
  read();
}

TunNetwork::~TunNetwork() {
  modem_.data().set_external_network(nullptr);
  boost::system::error_code ignored;
  fd_.close(ignored);
}

// One packet per write (IFF_TUN without packet information). A full device queue drops it, as
// a congested link would.
void TunNetwork::send(std::uint32_t, protocols::ByteView packet) {
  ssize_t n = ::write(fd_.native_handle(), packet.data(), packet.size());
  if (n == static_cast<ssize_t>(packet.size())) ++to_device_;
}

void TunNetwork::read() {
  fd_.async_read_some(boost::asio::buffer(buffer_), [this](const boost::system::error_code& ec, std::size_t n) {
    if (ec == boost::asio::error::operation_aborted) return;
    if (ec) {
      modem_.event("data.tun", fmt::format("TUN device {}: read failed: {}; no more packets from it", name_, ec.message()),
                   {{"device", name_}});
      return;
    }
    ++from_device_;
    if (!modem_.data().from_network(protocols::ByteView(buffer_.data(), n)) && unrouted_++ == 0) {
      modem_.event("data.tun",
                   fmt::format("TUN device {}: a packet for no session's address dropped (logged once)", name_),
                   {{"device", name_}});
    }
    read();
  });
}

}  // namespace modemu::gadget
