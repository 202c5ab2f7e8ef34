// QMI requests per second and round-trip latency on the qmi-proxy socket: one modem, and 100
// modems served by one process (a connection per modem, requests in flight on all of them).
// The in-process rate (frames straight into the QMI function) is the reference; the ratios say
// what the socket and the event loop cost.
//
//   bench_qmi_requests [--short]
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "emulator/clock.hpp"
#include "emulator/event_log.hpp"
#include "emulator/modem.hpp"
#include "emulator/profile.hpp"
#include "emulator/qmi/qmi_function.hpp"
#include "gadget/local/qmi_proxy.hpp"
#include "protocols/qmi/qmux.hpp"

namespace em = modemu::emulator;
namespace qmi = modemu::protocols::qmi;
using Clock = std::chrono::steady_clock;

namespace {

em::ModemOptions options(int i) {
  em::ModemOptions o;
  o.id = fmt::format("m{}", i);
  o.profile = em::load_profile("quectel-eg12");
  o.time_scale = 0.0001;
  return o;
}

qmi::Message request(std::uint8_t service, std::uint8_t cid, std::uint16_t txn, std::uint16_t id,
                     std::vector<qmi::Tlv> tlvs = {}) {
  qmi::Message m;
  m.service = service;
  m.client_id = cid;
  m.transaction = txn;
  m.message_id = id;
  m.tlvs = std::move(tlvs);
  return m;
}

// A blocking client connection: writes a frame, reads frames.
struct Conn {
  int fd = -1;
  qmi::Framer framer;
  explicit Conn(const std::string& name) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    addr.sun_path[0] = '\0';
    std::memcpy(addr.sun_path + 1, name.data(), name.size());
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) throw std::runtime_error("connect failed");
  }
  ~Conn() { ::close(fd); }
  void send(const qmi::Message& m) {
    auto b = qmi::encode(m);
    if (::write(fd, b.data(), b.size()) != static_cast<ssize_t>(b.size())) throw std::runtime_error("short write");
  }
  qmi::Message receive() {
    while (true) {
      auto r = framer.next();
      if (r.outcome == qmi::Framer::Outcome::kFrame) return *qmi::decode(r.frame).message;
      std::uint8_t buf[4096];
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) throw std::runtime_error("connection closed");
      framer.push(modemu::protocols::ByteView(buf, static_cast<std::size_t>(n)));
    }
  }
  // Proxy open for `path`, then a DMS client id.
  std::uint8_t open(const std::string& path) {
    std::vector<std::uint8_t> p(path.begin(), path.end());
    send(request(0, 0, 1, 0xff00, {{0x01, p}}));
    receive();
    send(request(0, 0, 2, 0x0022, {{0x01, {0x02}}}));
    return receive().find(0x01)->value[1];
  }
};

struct Server {
  boost::asio::io_context io;
  em::AsioClock clock{io};
  em::EventLog log{clock, 1024};
  std::vector<std::unique_ptr<em::Modem>> modems;
  std::unique_ptr<modemu::gadget::QmiProxyServer> proxy;
  std::string name = fmt::format("modemu-bench-{}", ::getpid());
  std::thread thread;

  explicit Server(int count) {
    std::vector<modemu::gadget::QmiProxyServer::Target> targets;
    for (int i = 0; i < count; ++i) {
      modems.push_back(std::make_unique<em::Modem>(options(i), clock, log));
      targets.push_back({modems.back().get(), fmt::format("/bench/m{}", i)});
    }
    proxy = std::make_unique<modemu::gadget::QmiProxyServer>(io, targets, name);
    // `up` lives on this constructor's stack: the subscription must end with it, or the server
    // thread's later events would write into whatever the stack holds by then.
    int up = 0;
    auto counting = log.subscribe([&](const em::Event& e) { up += e.kind == "ready" ? 1 : 0; });
    for (auto& m : modems) m->power_on("bench");
    while (up < count) io.run_one();
    log.unsubscribe(counting);
    thread = std::thread([this] { io.run(); });
  }
  ~Server() {
    boost::asio::post(io, [this] {
      proxy.reset();
      io.stop();
    });
    thread.join();
  }
};

double in_process_rate(int rounds) {
  em::VirtualClock clock;
  em::EventLog log(clock, 1024);
  em::Modem modem(options(0), clock, log);
  modem.power_on("bench");
  clock.run_until_idle();
  auto& port = dynamic_cast<em::QmiPort&>(*modem.port_by_node("cdc-wdm0"));
  std::size_t replies = 0;
  em::QmiSession session(port.function(), "bench", [&](modemu::protocols::ByteView) { ++replies; });
  auto alloc = qmi::encode(request(0, 0, 1, 0x0022, {{0x01, {0x02}}}));
  session.receive(alloc);
  std::vector<std::vector<std::uint8_t>> frames;
  for (int i = 0; i < 64; ++i) frames.push_back(qmi::encode(request(0x02, 1, static_cast<std::uint16_t>(i + 1), 0x0023)));
  replies = 0;
  auto start = Clock::now();
  for (int i = 0; i < rounds; ++i) session.receive(frames[static_cast<std::size_t>(i) % frames.size()]);
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (replies != static_cast<std::size_t>(rounds)) std::fprintf(stderr, "in-process: %zu replies for %d\n", replies, rounds);
  return rounds / secs;
}

struct Figures {
  double rate;
  double p50_us;
  double p99_us;
};

Figures one_modem(int rounds) {
  Server server(1);
  Conn c(server.name);
  std::uint8_t cid = c.open("/bench/m0/cdc-wdm0");
  std::vector<double> lat;
  lat.reserve(static_cast<std::size_t>(rounds));
  auto start = Clock::now();
  for (int i = 0; i < rounds; ++i) {
    auto t0 = Clock::now();
    c.send(request(0x02, cid, static_cast<std::uint16_t>(i + 1), 0x0023));
    c.receive();
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(lat.begin(), lat.end());
  return {rounds / secs, lat[lat.size() / 2], lat[lat.size() * 99 / 100]};
}

// One modem, 32 requests in flight on its connection: what one modem can serve when the host
// does not wait for each answer.
double one_modem_pipelined(int rounds) {
  constexpr int kInFlight = 32;
  Server server(1);
  Conn c(server.name);
  std::uint8_t cid = c.open("/bench/m0/cdc-wdm0");
  auto start = Clock::now();
  int done = 0;
  for (std::uint16_t txn = 1; done < rounds; txn = static_cast<std::uint16_t>(txn + kInFlight)) {
    for (int i = 0; i < kInFlight; ++i) c.send(request(0x02, cid, static_cast<std::uint16_t>(txn + i), 0x0023));
    for (int i = 0; i < kInFlight; ++i) c.receive();
    done += kInFlight;
  }
  return done / std::chrono::duration<double>(Clock::now() - start).count();
}

Figures hundred_modems(int rounds) {
  constexpr int kModems = 100;
  Server server(kModems);
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<std::uint8_t> cids;
  for (int i = 0; i < kModems; ++i) {
    conns.push_back(std::make_unique<Conn>(server.name));
    cids.push_back(conns.back()->open(fmt::format("/bench/m{}/cdc-wdm0", i)));
  }
  std::vector<double> lat;
  auto start = Clock::now();
  int done = 0;
  for (std::uint16_t txn = 1; done < rounds; ++txn) {
    auto t0 = Clock::now();
    for (int i = 0; i < kModems; ++i) conns[static_cast<std::size_t>(i)]->send(request(0x02, cids[static_cast<std::size_t>(i)], txn, 0x0023));
    for (int i = 0; i < kModems; ++i) conns[static_cast<std::size_t>(i)]->receive();
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    done += kModems;
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(lat.begin(), lat.end());
  return {done / secs, lat[lat.size() / 2], lat[lat.size() * 99 / 100]};
}

}  // namespace

int main(int argc, char** argv) {
  bool shortrun = argc > 1 && std::string(argv[1]) == "--short";
  if (argc > 1 && !shortrun) {
    std::fprintf(stderr, "usage: bench_qmi_requests [--short]\n");
    return 2;
  }
  const int rounds = shortrun ? 2000 : 20000;
  double direct = in_process_rate(rounds * 5);
  Figures one = one_modem(rounds);
  double pipelined = one_modem_pipelined(rounds * 5);
  Figures hundred = hundred_modems(rounds * 5);
  std::printf("qmi_requests (DMS Get Revision) rounds=%d\n", rounds);
  std::printf("  in-process, one modem:            %9.0f requests/s\n", direct);
  std::printf("  proxy socket, one modem:          %9.0f requests/s  round trip p50 %.0f us, p99 %.0f us\n", one.rate,
              one.p50_us, one.p99_us);
  std::printf("  proxy socket, one modem, 32 queued:%9.0f requests/s\n", pipelined);
  std::printf("  proxy socket, 100 modems at once: %9.0f requests/s  batch of 100 p50 %.0f us, p99 %.0f us\n",
              hundred.rate, hundred.p50_us, hundred.p99_us);
  std::printf("  ratio in-process / proxy (one modem): %.1f; 100 modems / one modem: %.2f\n", direct / one.rate,
              hundred.rate / one.rate);
  return 0;
}
