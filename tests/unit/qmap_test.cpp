// QMAP (protocols/net/qmap.hpp): the framing byte for byte, the walk of an aggregated transfer
// as qmi_wwan's qmimux receive path does it, the aggregation limits, and two sessions at once
// on one QMI interface, each bound to its mux id through WDS, with its own addresses and
// counters (emulator/data, under virtual time).
#include <doctest/doctest.h>

#include <algorithm>

#include "data_host.hpp"
#include "emulator/data/data_service.hpp"
#include "emulator/faults/faults.hpp"
#include "protocols/net/packet.hpp"
#include "protocols/net/qmap.hpp"
#include "qmi_client.hpp"
#include "support.hpp"

using namespace modemu::emulator;
using namespace modemu::test;
namespace net = modemu::protocols::net;
using modemu::protocols::Bytes;
using modemu::protocols::ByteView;

TEST_CASE("QMAP framing: the 4-byte header, padding to 4 bytes, the command bit") {
  Bytes five{0x45, 0x01, 0x02, 0x03, 0x04};
  // pad 3 in the low six bits, mux id 1, length 8 big-endian (the packet and its padding)
  CHECK(net::build_qmap(1, five, 4) == Bytes{0x03, 0x01, 0x00, 0x08, 0x45, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00});
  CHECK(net::build_qmap(0x81, five) == Bytes{0x00, 0x81, 0x00, 0x05, 0x45, 0x01, 0x02, 0x03, 0x04});
  CHECK(net::build_qmap(2, Bytes{1, 2, 3, 4}, 4, true) == Bytes{0x80, 0x02, 0x00, 0x04, 1, 2, 3, 4});
  CHECK(net::build_qmap(1, Bytes(0x10000, 0)).empty());  // more than the length field holds
  Bytes big(1500, 0x60);
  Bytes framed = net::build_qmap(7, big, 4);
  CHECK(framed.size() == 4 + 1500);
  CHECK(framed[0] == 0x00);
  CHECK(framed[2] == 0x05);
  CHECK(framed[3] == 0xdc);
}

TEST_CASE("QMAP walk: packets in order, padding cut, command packets kept apart, bad lengths reported") {
  Bytes t;
  auto append = [&t](const Bytes& b) { t.insert(t.end(), b.begin(), b.end()); };
  append(net::build_qmap(1, Bytes{0x45, 0xaa, 0xbb}, 4));     // pad 1
  append(net::build_qmap(2, Bytes{0x60, 1, 2, 3, 4, 5, 6, 7}, 4));
  append(net::build_qmap(3, Bytes{9, 9, 9, 9}, 1, true));      // a command
  append(Bytes{0x04, 0x01, 0x00, 0x04, 0, 0, 0, 0});            // pad 4 of length 4: no packet
  append(Bytes{0x00, 0x05, 0x00, 0x00});                        // length 0
  append(Bytes{0xee, 0xee});                                    // too short for a header
  auto walk = net::parse_qmap(t);
  REQUIRE(walk.packets.size() == 3);
  CHECK(walk.packets[0].mux_id == 1);
  CHECK(walk.packets[0].pad_length == 1);
  CHECK(Bytes(walk.packets[0].payload.begin(), walk.packets[0].payload.end()) == Bytes{0x45, 0xaa, 0xbb});
  CHECK(walk.packets[1].mux_id == 2);
  CHECK(walk.packets[1].payload.size() == 8);
  CHECK(walk.packets[2].command);
  CHECK(walk.packets[2].mux_id == 3);
  REQUIRE(walk.errors.size() == 3);
  CHECK(walk.errors[0].find("offset 28") != std::string::npos);
  CHECK(walk.errors[1].find("length 0") != std::string::npos);
  CHECK(walk.errors[2].find("2 bytes after the last packet") != std::string::npos);

  // A length that runs past the transfer ends the walk there; what came before stays.
  Bytes cut = net::build_qmap(1, Bytes{0x45, 1, 2, 3}, 4);
  Bytes bad{0x00, 0x01, 0x01, 0x00, 0x45};
  cut.insert(cut.end(), bad.begin(), bad.end());
  auto w2 = net::parse_qmap(cut);
  CHECK(w2.packets.size() == 1);
  REQUIRE(w2.errors.size() == 1);
  CHECK(w2.errors[0].find("runs past the transfer") != std::string::npos);
  CHECK(net::parse_qmap({}).packets.empty());
  CHECK(net::parse_qmap({}).errors.empty());
}

TEST_CASE("QMAP aggregation stops at the negotiated datagrams and size") {
  net::QmapAggregator by_count(3, 16384);
  Bytes p(100, 0x45);
  CHECK(by_count.add(1, p));
  CHECK(by_count.add(2, p));
  CHECK(by_count.add(1, p));
  CHECK_FALSE(by_count.add(1, p));  // a fourth datagram does not fit
  CHECK(by_count.count() == 3);
  Bytes t = by_count.take();
  CHECK(t.size() == 3 * 104);
  CHECK(by_count.empty());
  CHECK(net::parse_qmap(t).packets.size() == 3);

  // 101 bytes take 4 + 101 + 3 padding: two fit in 216, a third does not.
  net::QmapAggregator by_size(32, 216);
  Bytes q(101, 0x45);
  CHECK(by_size.add(1, q));
  CHECK(by_size.add(1, q));
  CHECK(by_size.size() == 216);
  CHECK_FALSE(by_size.fits(1));
  CHECK_FALSE(by_size.add(1, q));
  by_size.take();
  // A packet longer than the limit still leaves, alone.
  CHECK(by_size.add(1, Bytes(400, 0x45)));
  CHECK_FALSE(by_size.add(1, q));
}

namespace {

// quectel-ec25: context 1 has the profile's addresses, context 2 the next /30 and /64.
const net::Ipv4Address kHost1 = *net::parse_ipv4("10.64.17.42"), kGateway1 = *net::parse_ipv4("10.64.17.41");
const net::Ipv4Address kHost2 = *net::parse_ipv4("10.64.17.46"), kGateway2 = *net::parse_ipv4("10.64.17.45");
const net::Ipv6Address kHost2v6 = *net::parse_ipv6("2001:db8:40:12::2a");
const net::Ipv6Address kGateway2v6 = *net::parse_ipv6("2001:db8:40:12::1");

Bytes u32le(std::uint32_t v) {
  return {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v >> 16),
          static_cast<std::uint8_t>(v >> 24)};
}

Bytes ping(const net::Ipv4Address& from, const net::Ipv4Address& to, std::uint16_t seq) {
  return net::build_ipv4(from, to, net::kProtocolIcmp, net::build_icmp(net::kIcmpEchoRequest, 0, 0x4242'0000u | seq, Bytes(56, 1)));
}

// Two WDS clients on the modem's QMI port, each bound to a mux id and with a session of its
// own (context 1 on mux 1, context 2 on mux 2), after WDA negotiated QMAP both ways.
struct TwoSessions {
  VirtualModem v{"quectel-ec25"};
  QmiClientSim q;
  DataHost host;
  std::uint8_t wds1 = 0, wds2 = 0;
  std::vector<modemu::protocols::qmi::Message> format;

  TwoSessions() : q((v.boot(), *v.modem)), host(*v.modem) {
    std::uint8_t wda = q.allocate(0x1a);
    format = q.send(0x1a, wda, 0x0020,
                    {{0x11, u32le(2)}, {0x12, u32le(5)}, {0x13, u32le(5)}, {0x15, u32le(4)}, {0x16, u32le(100000)}});
    // Context 2 for the second session (WDS Create Profile: 3GPP, IPv4v6, APN "ims").
    std::uint8_t wds = q.allocate(0x01);
    auto created = q.send(0x01, wds, 0x0027, {{0x01, {0}}, {0x11, {3}}, {0x14, Bytes{'i', 'm', 's'}}});
    REQUIRE(error_of(created.at(0)) == 0);
    wds1 = q.allocate(0x01);
    wds2 = q.allocate(0x01);
    REQUIRE(error_of(q.send(0x01, wds1, 0x00a2, {{0x10, Bytes{2, 0, 0, 0, 4, 0, 0, 0}}, {0x11, {1}}}).at(0)) == 0);
    REQUIRE(error_of(q.send(0x01, wds2, 0x00a2, {{0x10, Bytes{2, 0, 0, 0, 4, 0, 0, 0}}, {0x11, {2}}}).at(0)) == 0);
  }
  // The modem outlives the clients: what it says while it goes (sessions ending) reaches no one.
  ~TwoSessions() {
    if (q.raw.current()) q.raw.attached->set_sink(nullptr);
    host.port->data_path().set_sink(nullptr);
  }
  void start() {
    REQUIRE(error_of(q.send(0x01, wds1, 0x0020).at(0)) == 0);
    REQUIRE(error_of(q.send(0x01, wds2, 0x0020, {{0x31, {2}}}).at(0)) == 0);
    v.clock.advance(Duration::zero());
    host.received.clear();
    q.drain();
  }
  // What came back, per transfer: its packets (mux id and IP).
  std::vector<std::vector<std::pair<std::uint8_t, Bytes>>> transfers() {
    std::vector<std::vector<std::pair<std::uint8_t, Bytes>>> out;
    for (const auto& t : host.received) {
      auto walk = net::parse_qmap(t);
      CHECK(walk.errors.empty());
      auto& packets = out.emplace_back();
      for (const auto& p : walk.packets) packets.emplace_back(p.mux_id, Bytes(p.payload.begin(), p.payload.end()));
    }
    host.received.clear();
    return out;
  }
  Bytes settings(std::uint8_t client) {
    auto r = q.send(0x01, client, 0x002d, {{0x10, u32le(0x300)}}).at(0);
    if (error_of(r) != 0) return {};
    return r.find(0x1e)->value;
  }
  std::uint8_t status(std::uint8_t client) { return q.send(0x01, client, 0x0022).at(0).find(0x01)->value[0]; }
};

bool is_reply(const Bytes& ip, const net::Ipv4Address& from, const net::Ipv4Address& to, std::uint16_t seq) {
  auto p = net::parse_ipv4(ip);
  if (!p || p->source != from || p->destination != to) return false;
  auto icmp = net::parse_icmp(p->payload);
  return icmp && icmp->type == net::kIcmpEchoReply && (icmp->rest & 0xffff) == seq;
}

}  // namespace

TEST_CASE("WDA negotiates QMAP with the modem's limits: what the host asks for, capped") {
  TwoSessions s;
  const auto& r = s.format.at(0);
  REQUIRE(error_of(r) == 0);
  CHECK(r.find(0x11)->value == u32le(2));
  CHECK(r.find(0x12)->value == u32le(5));
  CHECK(r.find(0x13)->value == u32le(5));
  CHECK(r.find(0x15)->value == u32le(4));       // 4 datagrams, as asked
  CHECK(r.find(0x16)->value == u32le(16384));   // 100000 bytes asked: the modem's most
  // QMAPv5 (9) is not spoken here: the reply says aggregation is off.
  std::uint8_t wda = s.q.allocate(0x1a);
  auto v5 = s.q.send(0x1a, wda, 0x0020, {{0x12, u32le(9)}, {0x13, u32le(9)}}).at(0);
  CHECK(v5.find(0x13)->value == u32le(0));
  CHECK(v5.find(0x15)->value == u32le(1));
}

TEST_CASE("QMAP: two sessions, one per mux id, with their own addresses, replies and counters") {
  TwoSessions s;
  // Before its own call a client bound to a mux id has no session, even while another is up.
  REQUIRE(error_of(s.q.send(0x01, s.wds1, 0x0020).at(0)) == 0);
  CHECK(s.status(s.wds1) == 2);
  CHECK(s.status(s.wds2) == 1);
  CHECK(s.settings(s.wds2).empty());  // OUT_OF_CALL
  REQUIRE(error_of(s.q.send(0x01, s.wds2, 0x0020, {{0x31, {2}}}).at(0)) == 0);
  s.v.clock.advance(Duration::zero());
  s.host.received.clear();
  CHECK(s.status(s.wds2) == 2);
  CHECK(s.settings(s.wds1) == Bytes{42, 17, 64, 10});
  CHECK(s.settings(s.wds2) == Bytes{46, 17, 64, 10});
  REQUIRE(s.v.modem->data().sessions().size() == 2);
  CHECK(*s.v.modem->data().session(2)->ipv6 == kHost2v6);
  CHECK(s.v.modem->data().session(2)->ipv6_gateway == kGateway2v6);

  // One uplink transfer with a ping on each mux id: each goes to its own session's gateway,
  // and both replies come back in one downlink transfer, each behind its session's mux id.
  Bytes up = net::build_qmap(1, ping(kHost1, kGateway1, 1));
  Bytes second = net::build_qmap(2, ping(kHost2, kGateway2, 2));
  up.insert(up.end(), second.begin(), second.end());
  s.host.send_frame(up);
  CHECK(s.host.received.empty());  // aggregated: out when the executor is next free
  s.v.clock.advance(Duration::zero());
  auto t = s.transfers();
  REQUIRE(t.size() == 1);
  REQUIRE(t[0].size() == 2);
  CHECK(t[0][0].first == 1);
  CHECK(is_reply(t[0][0].second, kGateway1, kHost1, 1));
  CHECK(t[0][1].first == 2);
  CHECK(is_reply(t[0][1].second, kGateway2, kHost2, 2));

  // Session 2's address on mux 1 is a spoofed source for session 1: counted there, unanswered.
  s.host.send_frame(net::build_qmap(1, ping(kHost2, kGateway2, 3)));
  for (std::uint16_t i = 0; i < 3; ++i) s.host.send_frame(net::build_qmap(2, ping(kHost2, kGateway2, 10 + i)));
  s.v.clock.advance(Duration::zero());
  t = s.transfers();
  REQUIRE(t.size() == 1);
  CHECK(t[0].size() == 3);
  const DataService& data = s.v.modem->data();
  CHECK(data.counters(1).uplink_packets == 2);
  CHECK(data.counters(1).downlink_packets == 1);
  CHECK(data.counters(2).uplink_packets == 4);
  CHECK(data.counters(2).downlink_packets == 4);
  CHECK(data.counters(2).downlink_bytes == 4 * 84);
  // The event log has each session's counters, by cid.
  s.v.clock.advance(std::chrono::seconds(1));
  std::map<std::string, std::string> uplink;
  for (const auto& e : s.v.log.history()) {
    if (e.kind == "data.counters") uplink[std::string(e.field("cid"))] = std::string(e.field("uplink_packets"));
  }
  CHECK(uplink["1"] == "2");
  CHECK(uplink["2"] == "4");
  // Packet Statistics: each client its own session's.
  auto stats = s.q.send(0x01, s.wds2, 0x0024, {{0x01, u32le(0x3)}}).at(0);
  CHECK(stats.find(0x10)->value == u32le(4));
}

TEST_CASE("QMAP downlink: at most the negotiated datagrams per transfer; unbound mux ids and commands are dropped and logged") {
  TwoSessions s;
  s.start();
  Bytes up;
  for (std::uint16_t i = 0; i < 10; ++i) {
    Bytes p = net::build_qmap(1, ping(kHost1, kGateway1, i));
    up.insert(up.end(), p.begin(), p.end());
  }
  s.host.send_frame(up);
  s.v.clock.advance(Duration::zero());
  auto t = s.transfers();
  REQUIRE(t.size() == 3);  // 4 datagrams each at most
  CHECK(t[0].size() == 4);
  CHECK(t[1].size() == 4);
  CHECK(t[2].size() == 2);
  CHECK(is_reply(t[2][1].second, kGateway1, kHost1, 9));

  s.host.send_frame(net::build_qmap(7, ping(kHost1, kGateway1, 1)));
  s.host.send_frame(net::build_qmap(1, Bytes{1, 2, 3, 4}, 1, true));
  s.v.clock.advance(Duration::zero());
  CHECK(s.transfers().empty());
  std::vector<std::string> why;
  for (const auto& e : s.v.log.history()) {
    if (e.kind == "data.dropped") why.emplace_back(e.field("why"));
  }
  CHECK(std::count_if(why.begin(), why.end(), [](const auto& w) { return w.find("mux id 7 is bound to no session") != std::string::npos; }) == 1);
  CHECK(std::count_if(why.begin(), why.end(), [](const auto& w) { return w.find("command packet") != std::string::npos; }) == 1);
  CHECK(s.v.modem->data().counters(1).uplink_packets == 10);
}

TEST_CASE("QMAP: a session drop names its session; the other stays up and its client hears nothing") {
  TwoSessions s;
  s.start();
  CHECK(s.v.modem->data().drop_session(*parse_call_end_reason("network-failure"), "test", 2));
  CHECK(s.v.modem->state().contexts.at(1).active);
  CHECK_FALSE(s.v.modem->state().contexts.at(2).active);
  auto ind = s.q.drain();
  REQUIRE(ind.size() == 1);
  CHECK(ind[0].client_id == s.wds2);
  CHECK(ind[0].find(0x01)->value[0] == 1);
  CHECK(ind[0].find(0x11)->value == Bytes{6, 0, 38, 0});
  CHECK(s.status(s.wds1) == 2);
  CHECK(s.status(s.wds2) == 1);
  // Session 1 still carries traffic; session 2's mux id no longer does.
  s.host.send_frame(net::build_qmap(1, ping(kHost1, kGateway1, 1)));
  s.host.send_frame(net::build_qmap(2, ping(kHost2, kGateway2, 2)));
  s.v.clock.advance(Duration::zero());
  auto t = s.transfers();
  REQUIRE(t.size() == 1);
  REQUIRE(t[0].size() == 1);
  CHECK(t[0][0].first == 1);
  // The drop fault with cid= ends that session only, after its time.
  DataFaults f;
  REQUIRE(add_data_fault("drop=5s,cid=1", f).empty());
  CHECK(f.drop->cid == 1u);
  CHECK_FALSE(add_data_fault("drop=5s,cid=0", f).empty());
  s.v.modem->data().set_faults(f, "test");
  REQUIRE(error_of(s.q.send(0x01, s.wds2, 0x0020, {{0x31, {2}}}).at(0)) == 0);
  s.v.clock.advance(std::chrono::seconds(5));
  CHECK_FALSE(s.v.modem->state().contexts.at(1).active);
  CHECK(s.v.modem->state().contexts.at(2).active);
}

TEST_CASE("the data_session_drop fault of scenarios names a session with cid, or every one with 0") {
  TwoSessions s;
  s.start();
  modemu::emulator::faults::Rng rng(1);
  modemu::emulator::faults::activate(*s.v.modem, "data_session_drop", {{"cid", "1"}, {"reason", "operator-barring"}}, rng);
  CHECK_FALSE(s.v.modem->state().contexts.at(1).active);
  CHECK(s.v.modem->state().contexts.at(2).active);
  auto ind = s.q.drain();
  REQUIRE(ind.size() == 1);
  CHECK(ind[0].client_id == s.wds1);
  CHECK(ind[0].find(0x11)->value == Bytes{6, 0, 8, 0});
  REQUIRE(error_of(s.q.send(0x01, s.wds1, 0x0020).at(0)) == 0);
  s.q.drain();
  modemu::emulator::faults::activate(*s.v.modem, "data_session_drop", {}, rng);
  CHECK_FALSE(s.v.modem->state().contexts.at(1).active);
  CHECK_FALSE(s.v.modem->state().contexts.at(2).active);
  // Each bound client of its own session, and the one that only made the profile (bound to no
  // mux id, it follows the first session up) of the last session going.
  CHECK(s.q.drain().size() == 3);
}
