// Packets per second and throughput through a modem's data path in-process (emulator/data):
// UDP datagrams to the gateway's echo service, each answered, without a kernel.
//
//   - DataPath: frames straight into the QMI port's data path, raw IP and 802.3;
//   - UsbDevice: bulk OUT transfers in and bulk IN transfers out, what every USB transport
//     (usbredir) does around it, minus the socket;
//   - QMAP: 16 echo requests aggregated in one bulk OUT transfer on mux id 1, the replies
//     aggregated downlink (up to 32 per transfer, 16 KiB), as qmimux hosts see them;
//   - with a throughput cap on virtual time: the simulated rate the token bucket delivers.
// Small datagrams (64 bytes of payload) give packets per second, full-size ones (1400) give
// MB/s; the ratios between the paths say what framing and the USB queues cost.
//
//   bench_data_path [--short]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

#include <fmt/format.h>

#include "emulator/clock.hpp"
#include "emulator/data/data_faults.hpp"
#include "emulator/data/data_service.hpp"
#include "emulator/event_log.hpp"
#include "emulator/modem.hpp"
#include "emulator/profile.hpp"
#include "emulator/qmi/qmi_function.hpp"
#include "emulator/usb/usb_device.hpp"
#include "protocols/net/packet.hpp"
#include "protocols/net/qmap.hpp"

namespace em = modemu::emulator;
namespace net = modemu::protocols::net;
using modemu::protocols::Bytes;
using modemu::protocols::ByteView;
using Steady = std::chrono::steady_clock;

namespace {

struct Bench {
  em::VirtualClock clock;
  em::EventLog log{clock, 64};
  em::Modem modem;
  em::QmiPort* port = nullptr;
  net::Ipv4Address host{}, gateway{};

  Bench() : modem(options(), clock, log) {
    modem.power_on("bench");
    clock.run_until_idle();
    port = dynamic_cast<em::QmiPort*>(modem.port_by_node("cdc-wdm0"));
    modem.set_context_active(1, true);
    const auto* s = modem.data().session();
    host = *s->ipv4;
    gateway = s->ipv4_gateway;
  }
  static em::ModemOptions options() {
    em::ModemOptions o;
    o.id = "bench";
    o.profile = em::load_profile("quectel-ec25");
    o.time_scale = 0.0001;
    return o;
  }
  void link_layer(bool raw) { port->function().settings["wda.link_layer"] = raw ? 2 : 1; }
  // A UDP echo request to the gateway, framed for the link layer.
  Bytes request(std::size_t payload, bool raw) {
    Bytes ip = net::build_ipv4(host, gateway, net::kProtocolUdp, net::build_udp(host, gateway, 40000, em::kUdpEchoPort, Bytes(payload, 0x5a)));
    if (raw) return ip;
    return net::build_ethernet(em::DataPath::kModemMac, {0x02, 1, 2, 3, 4, 5}, net::kEtherTypeIpv4, ip);
  }
};

struct Rate {
  double packets_per_second = 0;
  double megabytes_per_second = 0;  // IP bytes, each way
};

Rate measure(int rounds, std::size_t ip_size, const std::function<bool()>& round_trip) {
  int answered = 0;
  auto start = Steady::now();
  for (int i = 0; i < rounds; ++i) answered += round_trip() ? 1 : 0;
  double secs = std::chrono::duration<double>(Steady::now() - start).count();
  if (answered != rounds) std::fprintf(stderr, "only %d of %d datagrams answered\n", answered, rounds);
  return {rounds / secs, rounds * static_cast<double>(ip_size) / secs / 1e6};
}

Rate data_path(int rounds, std::size_t payload, bool raw) {
  Bench b;
  b.link_layer(raw);
  Bytes frame = b.request(payload, raw);
  std::size_t got = 0;
  b.port->data_path().set_sink([&](ByteView f) {
    got = f.size();
    return true;
  });
  return measure(rounds, payload + 28, [&] {
    got = 0;
    b.port->data_path().from_host(frame);
    return got == frame.size();
  });
}

Rate usb_device(int rounds, std::size_t payload, bool raw) {
  Bench b;
  em::UsbDevice usb(b.modem);
  b.link_layer(raw);
  std::uint8_t out = 0, in = 0;
  for (const auto& [address, e] : usb.endpoints()) {
    if (e.interface_number == b.port->info().interface_number && (e.descriptor.bmAttributes & 3) == 2) {
      ((address & 0x80) ? in : out) = address;
    }
  }
  while (usb.has_data(in)) usb.read(in, 4096);  // what the session announced as it came up
  Bytes frame = b.request(payload, raw);
  return measure(rounds, payload + 28, [&] {
    usb.write(out, frame);
    return usb.read(in, 4096).size() == frame.size();
  });
}

// QMAP with aggregation both ways: a WDS client bound to mux id 1 holds the session's call.
// Returns the rate and, through `per_transfer`, the packets per downlink transfer.
Rate qmap(int rounds, std::size_t payload, double& per_transfer) {
  constexpr int kBatch = 16;
  Bench b;
  auto& f = b.port->function();
  f.settings["wda.link_layer"] = 2;
  f.settings["wda.ul_aggregation"] = f.settings["wda.dl_aggregation"] = net::kAggregationQmap;
  f.settings["wda.dl_max_datagrams"] = 32;
  f.settings["wda.dl_max_size"] = 16384;
  em::QmiSession host(f, "bench", [](ByteView) {});
  auto client = f.allocate_client(0x01, host);
  f.client(0x01, *client)->settings["mux_id"] = 1;
  f.packet_handles[1] = {1, 4, *client};
  Bytes transfer;
  for (int i = 0; i < kBatch; ++i) {
    Bytes framed = net::build_qmap(1, b.request(payload, true));
    transfer.insert(transfer.end(), framed.begin(), framed.end());
  }
  std::size_t packets = 0, transfers = 0;
  b.port->data_path().set_sink([&](ByteView t) {
    ++transfers;
    packets += net::parse_qmap(t).packets.size();
    return true;
  });
  Rate r = measure(rounds / kBatch, (payload + 28) * kBatch, [&] {
    std::size_t before = packets;
    b.port->data_path().from_host(transfer);
    b.clock.advance(em::Duration::zero());  // the aggregate leaves when the executor is free
    return packets - before == kBatch;
  });
  per_transfer = transfers == 0 ? 0 : static_cast<double>(packets) / static_cast<double>(transfers);
  r.packets_per_second *= kBatch;
  return r;
}

// Virtual time: a cap of 10 Mbit/s on a second of full-size echoes, as the data path delivers it.
double capped_rate(std::size_t payload) {
  Bench b;
  b.link_layer(true);
  em::DataFaults faults;
  faults.cap_bps = 10'000'000;
  b.modem.data().set_faults(faults, "bench");
  std::uint64_t bytes = 0;
  b.port->data_path().set_sink([&](ByteView f) {
    bytes += f.size();
    return true;
  });
  Bytes frame = b.request(payload, true);
  for (int ms = 0; ms < 1000; ++ms) {
    b.port->data_path().from_host(frame);  // 1 datagram per ms: 11.4 Mbit/s offered
    b.clock.advance(std::chrono::milliseconds(1));
  }
  return static_cast<double>(bytes) * 8 / 1.0;
}

}  // namespace

int main(int argc, char** argv) {
  bool short_run = argc > 1 && std::strcmp(argv[1], "--short") == 0;
  int rounds = short_run ? 20'000 : 200'000;
  std::printf("data path, in-process (quectel-ec25, UDP echo to the gateway), %d round trips each\n", rounds);
  Rate raw_small = data_path(rounds, 64, true);
  Rate raw_big = data_path(rounds, 1400, true);
  Rate eth_small = data_path(rounds, 64, false);
  Rate eth_big = data_path(rounds, 1400, false);
  Rate usb_small = usb_device(rounds, 64, true);
  Rate usb_big = usb_device(rounds, 1400, true);
  auto line = [](const char* what, const Rate& small, const Rate& big) {
    std::printf("  %-34s %9.0f packets/s (64 B)  %7.1f MB/s each way (1400 B)\n", what, small.packets_per_second,
                big.megabytes_per_second);
  };
  line("DataPath, raw IP:", raw_small, raw_big);
  line("DataPath, 802.3:", eth_small, eth_big);
  line("UsbDevice bulk OUT/IN, raw IP:", usb_small, usb_big);
  double per_small = 0, per_big = 0;
  Rate qmap_small = qmap(rounds, 64, per_small);
  Rate qmap_big = qmap(rounds, 1400, per_big);
  line("DataPath, QMAP aggregated:", qmap_small, qmap_big);
  std::printf("  QMAP packets per downlink transfer:  %9.1f (64 B)  %7.1f (1400 B)\n", per_small, per_big);
  std::printf("  ratio raw IP / 802.3 (packets/s):   %9.2f\n", raw_small.packets_per_second / eth_small.packets_per_second);
  std::printf("  ratio DataPath / UsbDevice:         %9.2f\n", raw_small.packets_per_second / usb_small.packets_per_second);
  double capped = capped_rate(1400);
  std::printf("  cap=10mbit on virtual time:         %9.0f bit/s delivered (ratio to the cap %.3f)\n", capped,
              capped / 10'000'000);
  return 0;
}
