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
//
// QMAP (WDA aggregation protocol 5, protocols/net/qmap.hpp) multiplexes several sessions on the
// link, one per mux id: the host binds a WDS client to a mux id (Bind Mux Data Port) and starts
// that client's session; each uplink packet goes to the session its mux id is bound to, each
// downlink packet behind the mux id of the session its destination belongs to. Downlink packets
// ready together leave aggregated, several per transfer up to the negotiated datagrams and size;
// the aggregate goes out when the modem's executor is next free (a timer of zero on the Clock),
// or at once when it is full. QMAP carries IP, so the link layer does not matter then.
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "emulator/clock.hpp"
#include "emulator/data/session.hpp"
#include "emulator/port.hpp"
#include "protocols/common/bytes.hpp"
#include "protocols/net/address.hpp"
#include "protocols/net/qmap.hpp"

namespace modemu::emulator {

class Modem;

enum class LinkLayer { kEthernet, kRawIp };

// What WDA (or CTL) Set Data Format chose for the link.
struct DataFormat {
  LinkLayer link_layer = LinkLayer::kEthernet;
  bool qmap = false;         // downlink aggregation protocol 5
  bool qmap_uplink = false;  // uplink aggregation protocol 5
  std::size_t dl_max_datagrams = 1;
  std::size_t dl_max_size = 1504;
};

// What the QMI function knows of the link: its data format and which session each mux id is
// bound to (WDS Bind Mux Data Port, then Start Network on that client).
struct DataBinding {
  std::function<DataFormat()> format;
  std::function<std::optional<std::uint32_t>(std::uint8_t mux_id)> context_of_mux;
  std::function<std::optional<std::uint8_t>(std::uint32_t cid)> mux_of_context;
};

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

  DataPath(Modem& modem, std::string name, DataBinding binding);
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
  // Sends the QMAP aggregate being built now (the Clock does it by itself).
  void flush();
  // A session came up: announce the IPv6 prefix.
  void session_started(const SessionAddresses& session);

 private:
  void from_ethernet(protocols::ByteView frame);
  void from_qmap(protocols::ByteView transfer);
  // Link-local traffic the modem answers itself; true when `ip` was one of those.
  bool answer_dhcp(protocols::ByteView ip, const SessionAddresses& s);
  bool answer_ndp(protocols::ByteView ip, const std::optional<protocols::net::MacAddress>& from,
                  const SessionAddresses& s);
  void answer_arp(protocols::ByteView arp, const SessionAddresses& s);
  // `session`: the one the packet came for (QMAP), or nothing (the link's single session).
  void from_ip(protocols::ByteView ip, const std::optional<protocols::net::MacAddress>& from,
               const SessionAddresses* session = nullptr);
  // Frames `ip` for the link (802.3 to `to`, or to the host's address; QMAP behind the mux id
  // of `cid`) and sends it. `counted`: the DataService counted it as delivered.
  bool send_ip(protocols::ByteView ip, std::optional<protocols::net::MacAddress> to = std::nullopt,
               std::optional<std::uint32_t> cid = std::nullopt, bool counted = false);
  bool send_qmap(protocols::ByteView ip, std::uint32_t cid, bool counted);
  void send_router_advertisement(const SessionAddresses& s, const protocols::net::Ipv6Address& to,
                                 std::optional<protocols::net::MacAddress> mac);
  // Once per session for each kind of dropped frame.
  void dropped(const std::string& why);
  // The data format as the QMI function has it now, read once at each entry (from_host,
  // deliver, session_started): the packet path consults it several times per packet.
  const DataFormat& refresh_format() { return format_ = binding_.format(); }
  LinkLayer link_layer() const { return format_.link_layer; }
  // 802.3 framing: the link layer says so and QMAP is off both ways.
  bool ethernet() const {
    return format_.link_layer == LinkLayer::kEthernet && !format_.qmap && !format_.qmap_uplink;
  }

  Modem& modem_;
  std::string name_;
  DataBinding binding_;
  DataFormat format_;
  Sink sink_;
  // QMAP downlink: the aggregate being built, the sessions and sizes of the counted packets in
  // it (to count them dropped when it cannot go out), and the timer that sends it.
  std::optional<protocols::net::QmapAggregator> aggregate_;
  std::vector<std::pair<std::uint32_t, std::size_t>> aggregated_;
  Timer flush_timer_;
  std::uint64_t id_ = 0;
  std::optional<protocols::net::MacAddress> host_mac_;
  std::set<std::string> logged_;
  bool leased_ = false;  // the event log tells of the session's first lease only
};

}  // namespace modemu::emulator
