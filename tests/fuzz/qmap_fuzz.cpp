// Fuzz target: QMAP transfers a host can put on the modem's data interface (protocols/net/qmap).
//
// 1. The decoder walks the input as one bulk transfer; every data packet it finds, framed again,
//    reads back the same, and the packets and their headers never take more than the input.
// 2. The aggregator takes those packets under limits from the first byte (low nibble + 1
//    datagrams, 256 * (high nibble + 1) bytes); each transfer it makes respects them and the
//    walk of all of them gives back the packets in order.
// 3. A booted EC25 that negotiated QMAP both ways, with two sessions bound to mux ids 1 and 2
//    (contexts 1 and 2, each through its own WDS client), takes the input (after the first byte)
//    as a bulk OUT transfer and must answer or drop every packet in it.
//
// Seeds (corpus/qmap): pings to each session's gateway on its mux id, one or several per
// transfer, padded and not; DNS; a command packet; an unbound mux id; bad pad and lengths.
#include <cstdint>
#include <string_view>
#include <vector>

#include "booted_modem.hpp"
#include "emulator/data/data_path.hpp"
#include "emulator/data/data_service.hpp"
#include "emulator/qmi/qmi_function.hpp"
#include "protocols/net/qmap.hpp"
#include "protocols/qmi/message.hpp"
#include "protocols/qmi/qmux.hpp"

namespace em = modemu::emulator;
namespace net = modemu::protocols::net;
namespace qmi = modemu::protocols::qmi;
using modemu::protocols::ByteView;
using modemu::protocols::Bytes;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void codec(std::uint8_t limits, ByteView transfer) {
  auto walk = net::parse_qmap(transfer);
  std::size_t taken = 0;
  for (const auto& p : walk.packets) {
    taken += net::kQmapHeaderSize + p.payload.size() + (p.command ? 0 : p.pad_length);
    Bytes again = net::build_qmap(p.mux_id, p.payload, 1, p.command);
    auto back = net::parse_qmap(again);
    check(back.errors.empty() && back.packets.size() == 1 && back.packets[0].mux_id == p.mux_id &&
          back.packets[0].command == p.command &&
          Bytes(back.packets[0].payload.begin(), back.packets[0].payload.end()) == Bytes(p.payload.begin(), p.payload.end()));
  }
  check(taken <= transfer.size());

  std::size_t datagrams = (limits & 0x0f) + 1u;
  std::size_t size = 256u * ((limits >> 4) + 1u);
  net::QmapAggregator agg(datagrams, size);
  std::vector<Bytes> transfers;
  std::vector<Bytes> sent;
  for (const auto& p : walk.packets) {
    // Commands are not aggregated; a packet whose padding would pass the length field cannot be.
    if (p.command || net::build_qmap(p.mux_id, p.payload, net::QmapAggregator::kAlign).empty()) continue;
    if (!agg.add(p.mux_id, p.payload)) {
      transfers.push_back(agg.take());
      check(agg.add(p.mux_id, p.payload));
    }
    sent.emplace_back(p.payload.begin(), p.payload.end());
  }
  if (!agg.empty()) transfers.push_back(agg.take());
  std::size_t i = 0;
  for (const auto& t : transfers) {
    auto w = net::parse_qmap(t);
    check(w.errors.empty());
    check(w.packets.size() <= datagrams);
    check(t.size() <= size || w.packets.size() == 1);  // only a lone packet may pass the size
    for (const auto& p : w.packets) {
      check(i < sent.size() && Bytes(p.payload.begin(), p.payload.end()) == sent[i]);
      ++i;
    }
  }
  check(i == sent.size());
}

// The QMI side of the host, once: QMAP both ways, context 2, a WDS client per mux id.
struct QmapModem {
  std::string replies;  // before the modem: what it says as it goes at exit lands here
  modemu::fuzz::BootedModem booted;
  em::QmiPort* port = nullptr;
  std::uint16_t txn = 0;
  std::uint8_t wds1 = 0, wds2 = 0;

  explicit QmapModem(const modemu::profile::Profile& profile) : booted(profile) {
    port = dynamic_cast<em::QmiPort*>(booted.modem.port_by_node("cdc-wdm0"));
    check(port != nullptr);
    port->set_sink([this](std::string_view b) { replies.append(b); });
    auto u32 = [](std::uint32_t v) { return Bytes{std::uint8_t(v), std::uint8_t(v >> 8), std::uint8_t(v >> 16), std::uint8_t(v >> 24)}; };
    std::uint8_t wda = allocate(0x1a);
    request(0x1a, wda, 0x0020, {{0x11, u32(2)}, {0x12, u32(5)}, {0x13, u32(5)}, {0x15, u32(8)}, {0x16, u32(4096)}});
    std::uint8_t wds = allocate(0x01);
    request(0x01, wds, 0x0027, {{0x01, {0}}, {0x11, {3}}, {0x14, Bytes{'i', 'm', 's'}}});
    wds1 = allocate(0x01);
    wds2 = allocate(0x01);
    request(0x01, wds1, 0x00a2, {{0x11, {1}}});
    request(0x01, wds2, 0x00a2, {{0x11, {2}}});
  }

  // The reply's TLV 0x01 (CTL Allocate CID: {service, client id}).
  std::uint8_t allocate(std::uint8_t service) {
    auto r = request(0, 0, 0x0022, {{0x01, {service}}});
    const auto* tlv = r.find(0x01);
    check(tlv != nullptr && tlv->value.size() == 2);
    return tlv->value[1];
  }

  qmi::Message request(std::uint8_t service, std::uint8_t client, std::uint16_t id, std::vector<qmi::Tlv> tlvs) {
    qmi::Message m;
    m.service = service;
    m.client_id = client;
    m.transaction = ++txn;
    m.message_id = id;
    m.tlvs = std::move(tlvs);
    replies.clear();
    Bytes bytes = qmi::encode(m);
    port->from_host(modemu::protocols::as_chars(bytes));
    qmi::Framer f;
    f.push(modemu::protocols::as_bytes(replies));
    replies.clear();
    for (auto r = f.next(); r.outcome == qmi::Framer::Outcome::kFrame; r = f.next()) {
      auto d = qmi::decode(r.frame);
      if (d.message && d.message->message_id == id) return *d.message;
    }
    __builtin_trap();
  }

  // Both sessions up (a drop, or nothing, since the last input).
  void sessions_up() {
    const auto& contexts = booted.modem.state().contexts;
    if (!contexts.at(1).active) request(0x01, wds1, 0x0020, {});
    if (!contexts.at(2).active) request(0x01, wds2, 0x0020, {{0x31, {2}}});
    check(booted.modem.data().sessions().size() == 2);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  ByteView transfer(data + 1, size - 1);
  codec(data[0], transfer);

  static const modemu::profile::Profile profile = em::load_profile("quectel-ec25");
  static QmapModem m(profile);
  m.sessions_up();
  std::size_t out = 0;
  m.port->data_path().set_sink([&](ByteView b) {
    auto walk = net::parse_qmap(b);  // what the modem sends is always well formed
    check(walk.errors.empty());
    check(walk.packets.size() <= 8 && (b.size() <= 4096 || walk.packets.size() == 1));
    out += b.size();
    return true;
  });
  m.port->data_path().from_host(transfer);
  m.port->data_path().from_host(transfer);  // twice: what the first one left (queues, a lease)
  m.booted.clock.run_until_idle();
  m.port->data_path().set_sink(nullptr);
  return 0;
}
