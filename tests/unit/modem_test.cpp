#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "support.hpp"

using namespace modemu::emulator;
using namespace modemu::test;
using namespace std::chrono_literals;

namespace {

struct PlugCounter : DeviceObserver {
  int plugs = 0;
  int unplugs = 0;
  void on_plug(Modem&) override { ++plugs; }
  void on_unplug(Modem&) override { ++unplugs; }
};

std::filesystem::path temp_dir(const char* tag) {
  auto dir = std::filesystem::temp_directory_path() / ("modemu-test-" + std::to_string(::getpid()) + "-" + tag);
  std::filesystem::remove_all(dir);
  return dir;
}

}  // namespace

TEST_CASE("power on: booting, then application after the profile's boot time") {
  VirtualModem v("quectel-eg12");
  PlugCounter plugs;
  v.modem->add_observer(&plugs);
  CHECK(v.modem->power_state() == PowerState::kPoweredOff);
  v.modem->power_on("test");
  CHECK(v.modem->power_state() == PowerState::kBooting);
  CHECK(v.modem->ports().empty());
  v.clock.advance(2999ms);
  CHECK(v.modem->power_state() == PowerState::kBooting);
  v.clock.advance(1ms);
  CHECK(v.modem->power_state() == PowerState::kApplication);
  CHECK(plugs.plugs == 1);
  REQUIRE(v.modem->ports().size() == 5);
  CHECK(v.modem->port_by_node("ttyUSB2") != nullptr);
  CHECK(v.modem->port_by_node("cdc-wdm0") != nullptr);
  CHECK_FALSE(v.modem->state().ready);
  v.clock.advance(1500ms);
  CHECK(v.modem->state().ready);
  CHECK(v.modem->state().registration == RegStatus::kSearching);
  v.clock.advance(2s);
  CHECK(v.modem->state().registration == RegStatus::kHome);
  v.modem->remove_observer(&plugs);
}

TEST_CASE("every power transition is logged from -> to (cause)") {
  VirtualModem v("quectel-eg12");
  v.boot();
  v.modem->reset("test reset");
  v.clock.run_until_idle();
  v.modem->power_off("test off");
  std::vector<std::string> transitions;
  for (const auto& e : v.log.history()) {
    if (e.kind == "power") transitions.push_back(e.message);
  }
  CHECK(transitions == std::vector<std::string>{
                           "powered-off -> booting (test)",
                           "booting -> application (boot complete)",
                           "application -> booting (test reset)",
                           "booting -> application (boot complete)",
                           "application -> powered-off (test off)",
                       });
}

TEST_CASE("transitions the table does not allow are refused and change nothing") {
  VirtualModem v("quectel-eg12");
  v.modem->reset("reset while off");
  CHECK(v.modem->power_state() == PowerState::kPoweredOff);
  v.modem->power_off("off while off");
  CHECK(v.count("power.refused") == 2);
  v.boot();
  v.modem->power_on("twice");
  CHECK(v.modem->power_state() == PowerState::kApplication);
  CHECK(v.count("power.refused") == 3);
}

TEST_CASE("AT+CFUN=1,1: OK first, then the ports vanish for the reset time and come back") {
  VirtualModem v("quectel-eg12");
  PlugCounter plugs;
  v.modem->add_observer(&plugs);
  v.boot();
  AtClient at(*v.modem, "ttyUSB2");
  at.cmd("ATE0");
  CHECK(at.cmd("AT+CFUN=1,1") == "\r\nOK\r\n");
  CHECK(v.modem->power_state() == PowerState::kApplication);  // the host reads the OK first
  v.clock.advance(100ms);
  CHECK(v.modem->power_state() == PowerState::kBooting);
  CHECK(v.modem->ports().empty());
  CHECK(plugs.unplugs == 1);
  v.clock.advance(7499ms);
  CHECK(v.modem->ports().empty());
  v.clock.advance(1ms);
  CHECK(v.modem->power_state() == PowerState::kApplication);
  CHECK(plugs.plugs == 2);
  CHECK(v.modem->port_by_node("ttyUSB2") != nullptr);
  v.modem->remove_observer(&plugs);
}

TEST_CASE("boot URCs reach the AT ports once the module is ready") {
  VirtualModem v("quectel-eg12");
  v.modem->power_on("test");
  v.clock.advance(3s);
  AtClient at(*v.modem, "ttyUSB3");
  v.clock.advance(1500ms);
  CHECK(at.out == "\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n\r\n+QIND: SMS DONE\r\n\r\n+QIND: PB DONE\r\n");
}

TEST_CASE("registration URCs follow +CREG/+CEREG <n> per port") {
  VirtualModem v("quectel-eg12");
  v.boot();
  AtClient a(*v.modem, "ttyUSB2");
  AtClient b(*v.modem, "ttyUSB3");
  a.cmd("ATE0");
  b.cmd("ATE0");
  CHECK(a.cmd("AT+CREG=1") == "\r\nOK\r\n");
  CHECK(b.cmd("AT+CEREG=2") == "\r\nOK\r\n");
  a.out.clear();
  b.out.clear();
  CHECK(a.cmd("AT+CFUN=4").starts_with("\r\nOK\r\n"));
  CHECK(a.out == "\r\nOK\r\n\r\n+CREG: 0\r\n");
  CHECK(b.out == "\r\n+CEREG: 0\r\n");
  a.out.clear();
  b.out.clear();
  a.cmd("AT+CFUN=1");
  v.clock.run_until_idle();
  CHECK(a.out == "\r\nOK\r\n\r\n+CREG: 2\r\n\r\n+CREG: 1\r\n");
  CHECK(b.out == "\r\n+CEREG: 2\r\n\r\n+CEREG: 1,\"1A2D\",\"1A2D001\",7\r\n");
}

TEST_CASE("CFUN=0 powers the SIM down, CFUN=4 only the radio") {
  VirtualModem v("quectel-eg12");
  v.boot();
  AtClient at(*v.modem, "ttyUSB2");
  at.cmd("ATE0");
  at.cmd("AT+CMEE=1");
  at.cmd("AT+CFUN=4");
  CHECK(at.cmd("AT+CPIN?") == "\r\n+CPIN: READY\r\n\r\nOK\r\n");
  CHECK(at.cmd("AT+CSQ") == "\r\n+CSQ: 99,99\r\n\r\nOK\r\n");
  at.cmd("AT+CFUN=0");
  CHECK(at.cmd("AT+CPIN?") == "\r\n+CME ERROR: 13\r\n");
  CHECK(at.cmd("AT+CFUN?") == "\r\n+CFUN: 0\r\n\r\nOK\r\n");
}

TEST_CASE("a data context needs registration and drops with the radio") {
  VirtualModem v("quectel-eg12");
  v.modem->power_on("test");
  v.clock.advance(4500ms);  // ready, still searching
  AtClient at(*v.modem, "ttyUSB2");
  at.cmd("ATE0");
  at.cmd("AT+CMEE=2");
  CHECK(at.cmd("AT+CGACT=1,1") == "\r\n+CME ERROR: no network service\r\n");
  v.clock.run_until_idle();
  CHECK(at.cmd("AT+CGACT=1,1") == "\r\nOK\r\n");
  CHECK(at.cmd("AT+CGPADDR=1") == "\r\n+CGPADDR: 1,\"10.64.17.42\"\r\n\r\nOK\r\n");
  at.cmd("AT+CFUN=4");
  CHECK(at.cmd("AT+CGACT?") == "\r\n+CGACT: 1,0\r\n\r\nOK\r\n");
}

TEST_CASE("settings persist in the state directory, atomically, across modem instances") {
  auto root = temp_dir("nv");
  {
    VirtualModem v("quectel-eg12", root);
    v.boot();
    AtClient at(*v.modem, "ttyUSB2");
    at.cmd("ATE0");
    CHECK(at.cmd("AT+QCFG=\"usbnet\",1") == "\r\nOK\r\n");
    CHECK(at.cmd("AT+CGDCONT=2,\"IPV4V6\",\"iot.example\"") == "\r\nOK\r\n");
    // usbnet applies at the next enumeration, as on the real module.
    CHECK(v.modem->composition()->composition() == "qmi");
    at.cmd("AT+CFUN=1,1");
    v.clock.run_until_idle();
    CHECK(v.modem->composition()->composition() == "ecm");
    CHECK(v.modem->port_by_node("cdc-wdm0") == nullptr);
  }
  CHECK(std::filesystem::exists(root / "m1" / "nv.txtpb"));
  VirtualModem again("quectel-eg12", root);
  again.boot();
  CHECK(again.modem->composition()->composition() == "ecm");
  AtClient at(*again.modem, "ttyUSB2");
  at.cmd("ATE0");
  CHECK(at.cmd("AT+QCFG=\"usbnet\"") == "\r\n+QCFG: \"usbnet\",1\r\n\r\nOK\r\n");
  CHECK(at.cmd("AT+CGDCONT?") ==
        "\r\n+CGDCONT: 1,\"IP\",\"internet\",\"0.0.0.0\",0,0\r\n+CGDCONT: 2,\"IPV4V6\",\"iot.example\",\"0.0.0.0\",0,0\r\n\r\nOK\r\n");
  std::filesystem::remove_all(root);
}

TEST_CASE("a state directory in use by a running modem is refused with a clear message") {
  auto root = temp_dir("lock");
  VirtualModem first("quectel-eg12", root);
  try {
    VirtualModem second("quectel-eg12", root);
    FAIL("second modem started");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("modem 'm1' is already running") != std::string::npos);
  }
  std::filesystem::remove_all(root);
}

TEST_CASE("a corrupt nv file is named, not silently replaced") {
  auto root = temp_dir("corrupt");
  std::filesystem::create_directories(root / "m1");
  std::ofstream(root / "m1" / "nv.txtpb") << "usbnet: \"not a number\"\n";
  CHECK_THROWS_WITH_AS(VirtualModem("quectel-eg12", root), doctest::Contains("nv.txtpb:1:9: cannot be parsed"),
                       std::runtime_error);
  std::filesystem::remove_all(root);
}

TEST_CASE("an unknown firmware version is refused, naming the catalogue") {
  CHECK_THROWS_WITH_AS(VirtualModem("quectel-eg12", {}, "EG12EAPAR01A99M4G"),
                       doctest::Contains("known: EG12EAPAR01A09M4G, EG12EAPAR01A12M4G"), std::runtime_error);
  VirtualModem old("quectel-eg12", {}, "EG12EAPAR01A09M4G");
  old.boot();
  AtClient at(*old.modem, "ttyUSB2");
  at.cmd("ATE0");
  CHECK(at.cmd("AT+QGMR") == "\r\nEG12EAPAR01A09M4G_01.001.01.001\r\n\r\nOK\r\n");
}

TEST_CASE("the same run under virtual time gives the same event log") {
  auto run = [] {
    VirtualModem v("sierra-mc7455");
    v.boot();
    AtClient at(*v.modem, "ttyUSB2");
    at.cmd("AT!ENTERCND=\"A710\"");
    at.cmd("AT!RESET");
    v.clock.run_until_idle();
    std::vector<std::string> lines;
    for (const auto& e : v.log.history()) lines.push_back(format_json(e));
    return lines;
  };
  auto a = run();
  CHECK(a.size() > 10);
  CHECK(a == run());
}
