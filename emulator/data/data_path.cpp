#include "emulator/data/data_path.hpp"

#include <utility>

#include <fmt/format.h>

#include "emulator/data/data_service.hpp"
#include "emulator/modem.hpp"
#include "protocols/net/dhcp.hpp"
#include "protocols/net/packet.hpp"

namespace modemu::emulator {

namespace net = protocols::net;
using protocols::ByteView;
using protocols::Bytes;

namespace {

// RFC 4861 6.2.1 defaults a router advertises; prefix lifetimes as a 3GPP gateway gives them.
constexpr std::uint16_t kRouterLifetime = 1800;
constexpr std::uint32_t kValidLifetime = 86400, kPreferredLifetime = 14400, kDnsLifetime = 1800;
constexpr std::uint8_t kNdpHopLimit = 255;  // RFC 4861 7.1: neighbour discovery never leaves the link
constexpr std::size_t kMaxLogged = 32;

bool is_ipv4_multicast_or_broadcast(const net::Ipv4Address& a) { return a == net::kIpv4Broadcast || (a[0] & 0xf0) == 0xe0; }

}  // namespace

DataPath::DataPath(Modem& modem, std::string name, DataBinding binding)
    : modem_(modem), name_(std::move(name)), binding_(std::move(binding)), flush_timer_(modem.clock()) {
  id_ = modem_.data().attach(*this);
}

DataPath::~DataPath() { modem_.data().detach(id_); }

void DataPath::model_changed(ModelChange change) {
  if (change == ModelChange::kData) modem_.data().sync_session();
}

void DataPath::dropped(const std::string& why) {
  if (logged_.size() >= kMaxLogged || !logged_.insert(why).second) return;
  modem_.event("data.dropped", fmt::format("{}: frame from the host dropped: {}", name_, why), {{"why", why}});
}

void DataPath::session_started(const SessionAddresses& session) {
  logged_.clear();
  leased_ = false;
  // Without QMAP the link carries the first session only: another one's prefix is not for it.
  const SessionAddresses* first = modem_.data().session();
  bool on_link = refresh_format().qmap || (first != nullptr && first->cid == session.cid);
  if (session.ipv6 && on_link && !modem_.data().faults().silence) {
    send_router_advertisement(session, net::kIpv6AllNodes, std::nullopt);
  }
}

void DataPath::from_host(ByteView transfer) {
  DataService& data = modem_.data();
  data.sync_session();
  if (data.session() == nullptr || data.faults().silence) return;
  if (refresh_format().qmap_uplink) {
    from_qmap(transfer);
    return;
  }
  if (link_layer() == LinkLayer::kEthernet) {
    from_ethernet(transfer);
    return;
  }
  int version = net::ip_version(transfer);
  if (version != 4 && version != 6) {
    dropped("not an IP packet while the link layer is raw IP (an 802.3 frame: is the host's raw_ip off?)");
    return;
  }
  from_ip(transfer, std::nullopt);
}

void DataPath::from_ethernet(ByteView frame) {
  std::string error;
  auto f = net::parse_ethernet(frame, &error);
  if (!f) {
    dropped(error + " (raw IP while the link layer is 802.3?)");
    return;
  }
  bool known = f->ether_type == net::kEtherTypeArp || f->ether_type == net::kEtherTypeIpv4 || f->ether_type == net::kEtherTypeIpv6;
  if (!known) {
    dropped(fmt::format("EtherType 0x{:04x} (raw IP while the link layer is 802.3?)", f->ether_type));
    return;
  }
  if ((f->source[0] & 0x01) == 0) host_mac_ = f->source;  // unicast: the host's interface
  if (f->ether_type == net::kEtherTypeArp) {
    answer_arp(f->payload, *modem_.data().session());
  } else {
    from_ip(f->payload, f->source);
  }
}

// QMAP: every packet of the transfer to the session its mux id is bound to.
void DataPath::from_qmap(ByteView transfer) {
  auto t = net::parse_qmap(transfer);
  for (const auto& e : t.errors) dropped("QMAP: " + e);
  for (const auto& p : t.packets) {
    if (p.command) {
      dropped(fmt::format("QMAP command packet on mux id {} ignored (this modem takes no flow control)", p.mux_id));
      continue;
    }
    auto cid = binding_.context_of_mux(p.mux_id);
    const SessionAddresses* s = cid ? modem_.data().session(*cid) : nullptr;
    if (s == nullptr) {
      dropped(fmt::format("QMAP mux id {} is bound to no session that is up", p.mux_id));
      continue;
    }
    if (net::ip_version(p.payload) != 4 && net::ip_version(p.payload) != 6) {
      dropped(fmt::format("QMAP mux id {}: not an IP packet", p.mux_id));
      continue;
    }
    from_ip(p.payload, std::nullopt, s);
  }
}

void DataPath::from_ip(ByteView ip, const std::optional<net::MacAddress>& from, const SessionAddresses* session) {
  const SessionAddresses& s = session != nullptr ? *session : *modem_.data().session();
  std::string error;
  if (net::ip_version(ip) == 4) {
    auto p = net::parse_ipv4(ip, &error);
    if (!p) {
      dropped("IPv4: " + error);
      return;
    }
    ip = ip.first(p->header.size() + p->payload.size());  // without Ethernet padding
    if (ethernet() && answer_dhcp(ip, s)) return;
    if (is_ipv4_multicast_or_broadcast(p->destination)) return;  // link-local chatter: no one listens
  } else if (net::ip_version(ip) == 6) {
    auto p = net::parse_ipv6(ip, &error);
    if (!p) {
      dropped("IPv6: " + error);
      return;
    }
    ip = ip.first(40 + (std::size_t{ip[4]} << 8 | ip[5]));
    if (answer_ndp(ip, from, s)) return;
    if (net::is_multicast(p->destination)) return;
  } else {
    dropped("EtherType and IP version disagree");
    return;
  }
  modem_.data().uplink(id_, ip, session != nullptr ? std::optional<std::uint32_t>(session->cid) : std::nullopt);
}

// RFC 826: the modem answers for every address but the host's own (it is the only other node
// on the link, and the gateway for everything).
void DataPath::answer_arp(ByteView packet, const SessionAddresses& s) {
  std::string error;
  auto arp = net::parse_arp(packet, &error);
  if (!arp) {
    dropped("ARP: " + error);
    return;
  }
  if (arp->operation != net::kArpRequest || !s.ipv4 || arp->target_ip == *s.ipv4 || arp->target_ip == arp->sender_ip ||
      arp->target_ip == net::kIpv4Any) {
    return;
  }
  net::ArpPacket reply{net::kArpReply, kModemMac, arp->target_ip, arp->sender_mac, arp->sender_ip};
  if (sink_) sink_(net::build_ethernet(arp->sender_mac, kModemMac, net::kEtherTypeArp, net::build_arp(reply)));
}

// RFC 2131 4.3: DISCOVER -> OFFER, REQUEST -> ACK for the session's address (NAK for another),
// INFORM -> ACK without a lease. The server is the gateway.
bool DataPath::answer_dhcp(ByteView ip, const SessionAddresses& s) {
  auto p = net::parse_ipv4(ip);
  if (!p || p->protocol != net::kProtocolUdp || p->fragment) return false;
  auto udp = net::parse_udp(*p);
  if (!udp || udp->destination_port != net::kDhcpServerPort) return false;
  std::string error;
  auto q = net::parse_dhcp(udp->payload, &error);
  if (!s.ipv4) return true;
  if (!q || q->op != 1) {
    dropped("DHCP: " + (q ? std::string("not a request") : error));
    return true;
  }
  net::DhcpMessage r;
  r.op = 2;
  r.xid = q->xid;
  r.flags = q->flags;
  r.giaddr = q->giaddr;
  r.chaddr = q->chaddr;
  r.server_identifier = s.ipv4_gateway;
  bool lease = true;
  switch (q->message_type) {
    case net::kDhcpDiscover: r.message_type = net::kDhcpOffer; break;
    case net::kDhcpRequest: {
      if (q->server_identifier && *q->server_identifier != s.ipv4_gateway) return true;  // another server's
      net::Ipv4Address wanted = q->requested_address.value_or(q->ciaddr);
      r.message_type = wanted == *s.ipv4 ? net::kDhcpAck : net::kDhcpNak;
      break;
    }
    case net::kDhcpInform:
      r.message_type = net::kDhcpAck;
      r.ciaddr = q->ciaddr;
      lease = false;
      break;
    default: return true;  // RELEASE, DECLINE: nothing to say
  }
  if (r.message_type != net::kDhcpNak) {
    if (lease) {
      r.yiaddr = *s.ipv4;
      r.lease_time = kLeaseTime;
    }
    r.subnet_mask = s.ipv4_netmask;
    r.routers = {s.ipv4_gateway};
    r.dns_servers = s.ipv4_dns;
    for (std::uint8_t option : q->parameter_requests) {
      if (option == 26) r.mtu = static_cast<std::uint16_t>(s.mtu);
    }
  }
  // RFC 2131 4.1: broadcast when the client asks for it or has no address yet, and every NAK.
  bool broadcast = (q->flags & 0x8000) != 0 || q->ciaddr == net::kIpv4Any || r.message_type == net::kDhcpNak;
  net::Ipv4Address to = broadcast ? net::kIpv4Broadcast : q->ciaddr;
  Bytes udp_out = net::build_udp(s.ipv4_gateway, to, net::kDhcpServerPort, net::kDhcpClientPort, net::build_dhcp(r));
  send_ip(net::build_ipv4(s.ipv4_gateway, to, net::kProtocolUdp, udp_out),
          (q->flags & 0x8000) != 0 ? net::kBroadcastMac : q->chaddr);
  if (r.message_type == net::kDhcpAck && lease && !std::exchange(leased_, true)) {
    modem_.event("data.dhcp",
                 fmt::format("{}: DHCP lease {}/30, router {}, to {}", name_, net::to_string(*s.ipv4),
                             net::to_string(s.ipv4_gateway), net::to_string(q->chaddr)),
                 {{"address", net::to_string(*s.ipv4)}});
  }
  return true;
}

// RFC 4861: router solicitations get the session's prefix; neighbour solicitations (802.3 only:
// raw IP has no link-layer addresses) get the modem's address for anything but the host's own
// address and duplicate address detection. MLD and the other NDP messages end here.
bool DataPath::answer_ndp(ByteView ip, const std::optional<net::MacAddress>& from, const SessionAddresses& s) {
  auto p = net::parse_ipv6(ip);
  if (!p || p->next_header != net::kProtocolIcmpv6 || p->fragment) return false;
  auto m = net::parse_icmpv6(*p);
  if (!m) return false;
  switch (m->type) {
    case 130: case 131: case 132: case 143:  // MLD queries and reports (RFC 2710, RFC 3810)
    case net::kRouterAdvertisement:
    case net::kNeighborAdvertisement:
    case 137:  // redirect
      return true;
    case net::kRouterSolicitation: {
      auto rs = net::parse_router_solicitation(*m);
      if (!rs || p->hop_limit != kNdpHopLimit || !s.ipv6) return true;
      bool unspecified = p->source == net::kIpv6Any;
      send_router_advertisement(s, unspecified ? net::kIpv6AllNodes : p->source,
                                rs->source_link_layer ? rs->source_link_layer : from);
      return true;
    }
    case net::kNeighborSolicitation: {
      auto ns = net::parse_neighbor_solicitation(*m);
      if (!ns || p->hop_limit != kNdpHopLimit || !s.ipv6 || !ethernet()) return true;
      if (p->source == net::kIpv6Any || ns->target == *s.ipv6 || net::is_multicast(ns->target)) return true;
      net::NeighborAdvertisement na{true, true, true, ns->target, kModemMac};
      Bytes icmp = net::build_neighbor_advertisement(ns->target, p->source, na);
      send_ip(net::build_ipv6(ns->target, p->source, net::kProtocolIcmpv6, icmp, kNdpHopLimit),
              ns->source_link_layer ? ns->source_link_layer : from);
      return true;
    }
    default: return false;
  }
}

void DataPath::send_router_advertisement(const SessionAddresses& s, const net::Ipv6Address& to,
                                         std::optional<net::MacAddress> mac) {
  net::RouterAdvertisement ra;
  ra.router_lifetime = kRouterLifetime;
  if (ethernet()) ra.source_link_layer = kModemMac;
  ra.mtu = s.mtu;
  ra.prefixes.push_back({ipv6_prefix(*s.ipv6, s.ipv6_prefix_length), s.ipv6_prefix_length, true, true, kValidLifetime,
                         kPreferredLifetime});
  ra.dns_servers = s.ipv6_dns;
  ra.dns_lifetime = kDnsLifetime;
  Bytes icmp = net::build_router_advertisement(s.ipv6_gateway_link_local, to, ra);
  send_ip(net::build_ipv6(s.ipv6_gateway_link_local, to, net::kProtocolIcmpv6, icmp, kNdpHopLimit),
          net::is_multicast(to) ? net::multicast_mac(to) : mac, s.cid);
}

bool DataPath::deliver(ByteView ip_packet) {
  refresh_format();
  return send_ip(ip_packet, std::nullopt, std::nullopt, true);
}

bool DataPath::send_ip(ByteView ip, std::optional<net::MacAddress> to, std::optional<std::uint32_t> cid, bool counted) {
  if (!sink_) return false;
  if (format_.qmap) {
    if (!cid) {
      // Downlink routing: the session the destination address belongs to.
      const SessionAddresses* s = modem_.data().session_of_destination(ip);
      if (s == nullptr) return false;
      cid = s->cid;
    }
    return send_qmap(ip, *cid, counted);
  }
  if (link_layer() == LinkLayer::kRawIp) return sink_(ip);
  if (!to) to = host_mac_;
  if (!to) return false;  // the host has not spoken on the link yet: no address to send to
  return sink_(net::build_ethernet(*to, kModemMac, net::ip_version(ip) == 6 ? net::kEtherTypeIpv6 : net::kEtherTypeIpv4, ip));
}

bool DataPath::send_qmap(ByteView ip, std::uint32_t cid, bool counted) {
  auto mux = binding_.mux_of_context(cid);
  if (!mux) return false;  // no mux id carries this session: the host never bound one to it
  const DataFormat& f = format_;
  if (!aggregate_) aggregate_.emplace(f.dl_max_datagrams, f.dl_max_size);
  if (!aggregate_->fits(ip.size())) flush();
  if (!aggregate_) aggregate_.emplace(f.dl_max_datagrams, f.dl_max_size);
  if (!aggregate_->add(*mux, ip)) return false;  // longer than QMAP can frame
  if (counted) aggregated_.emplace_back(cid, ip.size());
  if (aggregate_->count() >= f.dl_max_datagrams) {
    flush();
  } else if (!flush_timer_.pending()) {
    flush_timer_.start(Duration::zero(), [this] { flush(); });
  }
  return true;
}

void DataPath::flush() {
  flush_timer_.cancel();
  if (!aggregate_ || aggregate_->empty()) return;
  protocols::Bytes transfer = aggregate_->take();
  aggregate_.reset();  // the limits are read again for the next one
  auto packets = std::exchange(aggregated_, {});
  if (sink_ && sink_(transfer)) return;
  for (auto [cid, size] : packets) modem_.data().undelivered(cid, size);
}

}  // namespace modemu::emulator
