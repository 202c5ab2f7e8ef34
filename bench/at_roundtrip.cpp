// AT round trips per second on one modem: through the local transport's pty (a host program
// writing "AT\r" and reading "OK"), and in-process straight into the port (no pty, no syscalls).
// The ratio between them is what the pty path costs; it holds across machines better than the
// raw rates do.
//
//   bench_at_roundtrip [--short] [--profile NAME]
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "emulator/clock.hpp"
#include "emulator/event_log.hpp"
#include "emulator/modem.hpp"
#include "emulator/profile.hpp"
#include "gadget/local/pty_transport.hpp"

namespace em = modemu::emulator;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

em::ModemOptions options(const std::string& profile) {
  em::ModemOptions o;
  o.id = "bench";
  o.profile = em::load_profile(profile);
  o.time_scale = 0.0001;
  return o;
}

double in_process_rate(const std::string& profile, int rounds) {
  em::VirtualClock clock;
  em::EventLog log(clock, 64);
  em::Modem modem(options(profile), clock, log);
  modem.power_on("bench");
  clock.run_until_idle();
  em::Port* port = modem.port_by_node("ttyUSB2");
  std::size_t oks = 0;
  port->set_sink([&](std::string_view out) { oks += out.find("OK") != std::string_view::npos ? 1 : 0; });
  port->from_host("ATE0\r");
  oks = 0;
  auto start = Clock::now();
  for (int i = 0; i < rounds; ++i) port->from_host("AT\r");
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (oks != static_cast<std::size_t>(rounds)) std::fprintf(stderr, "in-process: %zu OKs for %d\n", oks, rounds);
  return rounds / secs;
}

double pty_rate(const std::string& profile, int rounds) {
  fs::path dir = fs::temp_directory_path() / fmt::format("modemu-bench-{}", ::getpid());
  fs::remove_all(dir);
  boost::asio::io_context io;
  em::AsioClock clock(io);
  em::EventLog log(clock, 64);
  em::Modem modem(options(profile), clock, log);
  auto transport = std::make_unique<modemu::gadget::PtyTransport>(io, modem, dir);
  bool up = false;
  log.subscribe([&](const em::Event& e) { up = up || e.kind == "ready"; });
  modem.power_on("bench");
  while (!up) io.run_one();
  std::thread server([&] { io.run(); });

  int fd = ::open((dir / "ttyUSB2").c_str(), O_RDWR | O_NOCTTY);
  if (fd < 0) throw std::runtime_error("cannot open the AT port");
  auto round_trip = [&](const char* cmd) {
    ::write(fd, cmd, std::strlen(cmd));
    std::string got;
    char buf[256];
    while (got.find("OK\r\n") == std::string::npos) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) throw std::runtime_error("no answer within 5 s");
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    }
  };
  round_trip("ATE0\r");
  auto start = Clock::now();
  for (int i = 0; i < rounds; ++i) round_trip("AT\r");
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  boost::asio::post(io, [&] {
    transport.reset();
    io.stop();
  });
  server.join();
  fs::remove_all(dir);
  return rounds / secs;
}

}  // namespace

int main(int argc, char** argv) {
  bool shortrun = false;
  std::string profile = "quectel-eg12";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--short") shortrun = true;
    else if (a == "--profile" && i + 1 < argc) profile = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_at_roundtrip [--short] [--profile NAME]\n");
      return 2;
    }
  }
  const int rounds = shortrun ? 2000 : 20000;
  double pty = pty_rate(profile, rounds);
  double direct = in_process_rate(profile, rounds * 10);
  std::printf("at_roundtrip profile=%s rounds=%d\n", profile.c_str(), rounds);
  std::printf("  through the pty:  %10.0f round trips/s  (%.1f us each)\n", pty, 1e6 / pty);
  std::printf("  in-process:       %10.0f round trips/s  (%.2f us each)\n", direct, 1e6 / direct);
  std::printf("  ratio in-process / pty: %.1f\n", direct / pty);
  return 0;
}
