#pragma once
// The network behind the modem, enough for a router's health checks and throughput tests:
//   - the gateway (IPv4, IPv6 and its link-local address), the session's DNS servers and the
//     profile's hosts (PacketData.hosts) answer ICMP and ICMPv6 echo;
//   - the DNS servers answer A and AAAA queries for the hosts' names (NXDOMAIN for others);
//   - every one of those addresses runs UDP echo (port 7) and UDP discard (port 9, the sink
//     for throughput: it counts and answers nothing); other UDP ports get port unreachable;
//   - TCP is not served (no answer), nor IP fragments (nothing reassembles them);
//   - packets whose source is not the session's address are dropped, as a real core network
//     drops spoofed sources; packets to any other address vanish, as to a host that is down.
// Pure: one packet in, the answers out; timing and faults are the DataService's.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "emulator/data/session.hpp"
#include "modemu/profile/profile.pb.h"
#include "protocols/common/bytes.hpp"
#include "protocols/net/packet.hpp"

namespace modemu::emulator {

inline constexpr std::uint16_t kUdpEchoPort = 7;
inline constexpr std::uint16_t kUdpDiscardPort = 9;

class BuiltinNetwork {
 public:
  BuiltinNetwork(const profile::PacketData& config, const SessionAddresses& session);

  // The packets the network sends back for one packet from the modem.
  std::vector<protocols::Bytes> handle(protocols::ByteView ip_packet);

  // What the discard service took (the throughput sink).
  std::uint64_t discarded_packets() const { return discarded_packets_; }
  std::uint64_t discarded_bytes() const { return discarded_bytes_; }
  bool reachable(const protocols::net::Ipv4Address& a) const { return hosts4_.count(a) != 0; }
  bool reachable(const protocols::net::Ipv6Address& a) const { return hosts6_.count(a) != 0; }

 private:
  struct Names {
    std::vector<protocols::net::Ipv4Address> v4;
    std::vector<protocols::net::Ipv6Address> v6;
  };
  void handle_ipv4(const protocols::net::Ipv4Packet& ip, std::vector<protocols::Bytes>& out);
  void handle_ipv6(const protocols::net::Ipv6Packet& ip, protocols::ByteView raw, std::vector<protocols::Bytes>& out);
  // UDP services: the payload of the answer, or nothing (discard, or a port that is closed:
  // `closed` tells which).
  std::optional<protocols::Bytes> udp_service(std::uint16_t port, bool dns_server, protocols::ByteView payload, bool& closed);
  std::optional<protocols::Bytes> dns_answer(protocols::ByteView query);

  SessionAddresses session_;
  std::set<protocols::net::Ipv4Address> hosts4_, dns4_;
  std::set<protocols::net::Ipv6Address> hosts6_, dns6_;
  std::map<std::string, Names> names_;  // lower case, no trailing dot
  std::uint64_t discarded_packets_ = 0;
  std::uint64_t discarded_bytes_ = 0;
};

}  // namespace modemu::emulator
