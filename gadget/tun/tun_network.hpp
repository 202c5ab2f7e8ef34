#pragma once
// `modemu run --data-tun NAME`: a TUN device on the emulator's host carries the sessions' IP
// traffic somewhere real instead of the built-in network (emulator/data/network.hpp). What the
// host's sessions send through the modem comes out of NAME; what the machine routes into NAME
// goes down to the session its destination address belongs to, through the same faults
// (latency, loss, the cap, no-downlink) as the built-in network's answers.
//
// Linux only: /dev/net/tun and CAP_NET_ADMIN (root, or a user namespace that has it). The device
// is created down and without addresses; the machine's side is configured as for any TUN
// device, for instance in a network namespace of its own:
//   ip link set NAME up; ip route add 10.64.17.40/30 dev NAME      (the session's /30)
// and forwarding / NAT beyond it as the test needs. The device goes with the process.
#include <array>
#include <cstdint>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "emulator/modem.hpp"
#include "protocols/common/bytes.hpp"

namespace modemu::gadget {

class TunNetwork {
 public:
  // Opens /dev/net/tun and creates NAME (IFF_TUN, no packet information header). Throws
  // std::runtime_error saying what failed and what it needs.
  TunNetwork(boost::asio::io_context& io, emulator::Modem& modem, const std::string& name);
  ~TunNetwork();
  TunNetwork(const TunNetwork&) = delete;
  TunNetwork& operator=(const TunNetwork&) = delete;

  const std::string& name() const { return name_; }
  std::uint64_t to_device() const { return to_device_; }
  std::uint64_t from_device() const { return from_device_; }

 private:
  void read();
  void send(std::uint32_t cid, protocols::ByteView packet);

  emulator::Modem& modem_;
  std::string name_;
  boost::asio::posix::stream_descriptor fd_;
  std::array<std::uint8_t, 65536> buffer_{};
  std::uint64_t to_device_ = 0;
  std::uint64_t from_device_ = 0;
  std::uint64_t unrouted_ = 0;
};

}  // namespace modemu::gadget
