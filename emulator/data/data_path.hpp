#pragma once
// The data side of one QMI interface (qmi_wwan's wwan0): the packets of the interface's bulk
// endpoints, one per transfer either way (qmi.md "Over USB").
//
// Framing follows the link layer the host chose with WDA (or CTL) Set Data Format: 802.3
// Ethernet frames by default, bare IP packets after "raw IP" (the host then writes Y to
// /sys/class/net/wwan0/qmi/raw_ip). A frame in the other framing is dropped and the event log
// says so once per session: the classic mismatch of a router that forgot one of the two steps.
//
// While a session is up the modem answers the link's own traffic itself, as real modules do:
// ARP for any address but the host's, DHCP (the session's address, its /30 gateway and DNS), and
// IPv6 neighbour solicitations and router solicitations (a router advertisement with the
// session's /64, sent unsolicited too when the session comes up). Everything else goes to the
// DataService, and from there to the network behind the modem. No session: nothing is answered.
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "emulator/data/session.hpp"
#include "emulator/port.hpp"
#include "protocols/common/bytes.hpp"
#include "protocols/net/address.hpp"

namespace modemu::emulator {

class Modem;

enum class LinkLayer { kEthernet, kRawIp };

class DataPath {
 public:
  // One packet (frame) per call: one bulk IN transfer. False: the host is not taking it (a full
  // queue); the packet is lost and counted as dropped.
  using Sink = std::function<bool(protocols::ByteView)>;

  // The modem's end of the 802.3 link: a locally administered address (bit 1 of the first
  // octet), whose first nibble 0 keeps qmi_wwan from mistaking a frame for raw IP.
  static constexpr protocols::net::MacAddress kModemMac{0x02, 0x50, 0xf3, 0x00, 0x00, 0x00};
  // DHCP lease the modem hands out (seconds).
  static constexpr std::uint32_t kLeaseTime = 7200;

  DataPath(Modem& modem, std::string name, std::function<LinkLayer()> link_layer);
  ~DataPath();
  DataPath(const DataPath&) = delete;
  DataPath& operator=(const DataPath&) = delete;

  const std::string& name() const { return name_; }
  void set_sink(Sink sink) { sink_ = std::move(sink); }
  // One bulk OUT transfer from the host.
  void from_host(protocols::ByteView transfer);
  void model_changed(ModelChange change);

  // From the DataService: an IP packet for the host. False when it could not go out.
  bool deliver(protocols::ByteView ip_packet);
  // A session came up: announce the IPv6 prefix.
  void session_started(const SessionAddresses& session);

 private:
  void from_ethernet(protocols::ByteView frame);
  // Link-local traffic the modem answers itself; true when `ip` was one of those.
  bool answer_dhcp(protocols::ByteView ip, const SessionAddresses& s);
  bool answer_ndp(protocols::ByteView ip, const std::optional<protocols::net::MacAddress>& from,
                  const SessionAddresses& s);
  void answer_arp(protocols::ByteView arp, const SessionAddresses& s);
  void from_ip(protocols::ByteView ip, const std::optional<protocols::net::MacAddress>& from);
  // Frames `ip` for the link (802.3 to `to`, or to the host's address) and sends it.
  bool send_ip(protocols::ByteView ip, std::optional<protocols::net::MacAddress> to = std::nullopt);
  void send_router_advertisement(const SessionAddresses& s, const protocols::net::Ipv6Address& to,
                                 std::optional<protocols::net::MacAddress> mac);
  // Once per session for each kind of dropped frame.
  void dropped(const std::string& why);
  LinkLayer link_layer() const { return link_layer_(); }

  Modem& modem_;
  std::string name_;
  std::function<LinkLayer()> link_layer_;
  Sink sink_;
  std::uint64_t id_ = 0;
  std::optional<protocols::net::MacAddress> host_mac_;
  std::set<std::string> logged_;
  bool leased_ = false;  // the event log tells of the session's first lease only
};

}  // namespace modemu::emulator
