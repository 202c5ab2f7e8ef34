// The local transport on real pseudo-terminals, with the modem under virtual time and the pty
// I/O run by hand on an io_context (no sleeps: every wait is bounded and waits on an event).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include "gadget/local/pty_transport.hpp"
#include "support.hpp"

using namespace modemu::emulator;
using namespace modemu::test;
namespace fs = std::filesystem;

namespace {

struct Rig {
  boost::asio::io_context io;
  VirtualModem v{"quectel-eg12"};
  fs::path dir = fs::temp_directory_path() / ("modemu-pty-" + std::to_string(::getpid()));
  std::unique_ptr<modemu::gadget::PtyTransport> transport;

  Rig() {
    fs::remove_all(dir);
    transport = std::make_unique<modemu::gadget::PtyTransport>(io, *v.modem, dir);
  }
  ~Rig() {
    transport.reset();
    fs::remove_all(dir);
  }

  // Reads from fd until `want` has arrived, running the io_context meanwhile; gives up after
  // `rounds` bounded polls.
  std::string read_until(int fd, const std::string& want, int rounds = 200) {
    std::string got;
    for (int i = 0; i < rounds && got.find(want) == std::string::npos; ++i) {
      io.poll();
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 10) > 0 && (p.revents & POLLIN)) {
        char buf[512];
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) got.append(buf, static_cast<std::size_t>(n));
      }
    }
    return got;
  }
};

int open_port(const fs::path& link) { return ::open(link.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK); }

}  // namespace

TEST_CASE("ports appear as links named like the Linux nodes, only while the module is up") {
  Rig r;
  CHECK_FALSE(fs::exists(r.dir / "ttyUSB2"));
  r.v.modem->power_on("test");
  r.v.clock.advance(std::chrono::seconds(3));
  for (const char* node : {"ttyUSB0", "ttyUSB1", "ttyUSB2", "ttyUSB3"}) {
    CAPTURE(node);
    CHECK(fs::is_symlink(r.dir / node));
    CHECK(fs::read_symlink(r.dir / node).string().starts_with("/dev/pts/"));
  }
  CHECK(fs::is_symlink(r.dir / "cdc-wdm0"));  // the QMI control channel, raw QMUX
  r.v.modem->reset("test");
  CHECK_FALSE(fs::exists(r.dir / "ttyUSB2"));
  r.v.clock.run_until_idle();
  CHECK(fs::is_symlink(r.dir / "ttyUSB2"));
  r.v.modem->power_off("test");
  CHECK(fs::is_empty(r.dir));
}

TEST_CASE("a client gets answers, in raw mode, without its own bytes echoed by the tty") {
  Rig r;
  r.v.boot();
  int fd = open_port(r.dir / "ttyUSB2");
  REQUIRE(fd >= 0);
  termios t{};
  REQUIRE(::tcgetattr(fd, &t) == 0);
  CHECK((t.c_lflag & (ECHO | ICANON)) == 0);
  REQUIRE(::write(fd, "AT+CSQ\r", 7) == 7);
  // The echo is the modem's (E1), once; a tty echo would double it.
  CHECK(r.read_until(fd, "OK\r\n") == "AT+CSQ\r\r\n+CSQ: 28,99\r\n\r\nOK\r\n");
  ::close(fd);
}

TEST_CASE("stale output is flushed when a client opens the port") {
  Rig r;
  r.v.boot();  // RDY and friends went out with nobody reading
  int fd = open_port(r.dir / "ttyUSB2");
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, "ATE0\r", 5) == 5);
  std::string got = r.read_until(fd, "OK\r\n");
  CHECK(got == "ATE0\r\r\nOK\r\n");
  CHECK(got.find("RDY") == std::string::npos);
  ::close(fd);
}

TEST_CASE("a client that leaves the port cooked does not break the next one") {
  Rig r;
  r.v.boot();
  int fd = open_port(r.dir / "ttyUSB2");
  REQUIRE(fd >= 0);
  termios t{};
  ::tcgetattr(fd, &t);
  t.c_lflag |= ECHO | ICANON;
  ::tcsetattr(fd, TCSANOW, &t);
  ::close(fd);
  r.io.poll();
  fd = open_port(r.dir / "ttyUSB2");
  REQUIRE(fd >= 0);
  r.io.poll();
  ::tcgetattr(fd, &t);
  CHECK((t.c_lflag & (ECHO | ICANON)) == 0);
  ::close(fd);
}

TEST_CASE("the reset hangs up an open client, as a USB disconnect does") {
  Rig r;
  r.v.boot();
  int fd = open_port(r.dir / "ttyUSB2");
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, "AT+CFUN=1,1\r", 12) == 12);
  CHECK(r.read_until(fd, "OK\r\n").ends_with("OK\r\n"));
  r.v.clock.advance(std::chrono::milliseconds(100));
  pollfd p{fd, POLLIN, 0};
  REQUIRE(::poll(&p, 1, 1000) == 1);
  CHECK((p.revents & POLLHUP) != 0);
  ::close(fd);
  CHECK_FALSE(fs::exists(r.dir / "ttyUSB2"));
}
