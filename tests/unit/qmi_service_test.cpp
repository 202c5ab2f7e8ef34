// QMI services against the model under virtual time: what QMI changes, AT sees, and the other way.
#include <doctest/doctest.h>

#include "emulator/qmi/qmi_function.hpp"
#include "protocols/qmi/message.hpp"
#include "qmi_client.hpp"
#include "support.hpp"

using namespace modemu::emulator;
using namespace modemu::test;
namespace qmi = modemu::protocols::qmi;

TEST_CASE("a data session started over QMI is the context AT+CGACT shows, and stops with it") {
  VirtualModem v("quectel-eg12");
  v.boot();
  QmiClientSim q(*v.modem);
  AtClient at(*v.modem, "ttyUSB2");
  at.cmd("ATE0");
  std::uint8_t wds = q.allocate(0x01);
  auto started = q.send(0x01, wds, 0x0020, {{0x14, {'i', 'n', 't', 'e', 'r', 'n', 'e', 't'}}});
  REQUIRE(started.size() == 2);  // the response and the packet service status indication
  CHECK(error_of(started[0]) == 0);
  CHECK(started[1].type == qmi::MessageType::kIndication);
  CHECK(at.cmd("AT+CGACT?") == "\r\n+CGACT: 1,1\r\n\r\nOK\r\n");
  // AT deactivates: WDS clients hear of it.
  CHECK(at.cmd("AT+CGACT=0,1") == "\r\nOK\r\n");
  auto ind = q.drain();
  REQUIRE(ind.size() == 1);
  CHECK(ind[0].message_id == 0x0022);
  CHECK(ind[0].find(0x01)->value[0] == 1);  // disconnected
}

TEST_CASE("operating mode over QMI is AT+CFUN") {
  VirtualModem v("quectel-eg12");
  v.boot();
  QmiClientSim q(*v.modem);
  AtClient at(*v.modem, "ttyUSB2");
  at.cmd("ATE0");
  std::uint8_t dms = q.allocate(0x02);
  CHECK(error_of(q.send(0x02, dms, 0x002e, {{0x01, {1}}}).at(0)) == 0);
  CHECK(at.cmd("AT+CFUN?") == "\r\n+CFUN: 4\r\n\r\nOK\r\n");
  at.cmd("AT+CFUN=1");
  auto mode = q.send(0x02, dms, 0x002d);
  CHECK(mode.at(0).find(0x01)->value[0] == 0);  // online
}

TEST_CASE("DMS reset re-enumerates, and client ids do not survive it") {
  VirtualModem v("quectel-eg12");
  v.boot();
  QmiClientSim q(*v.modem);
  std::uint8_t dms = q.allocate(0x02);
  CHECK(error_of(q.send(0x02, dms, 0x002e, {{0x01, {4}}}).at(0)) == 0);
  v.clock.advance(std::chrono::milliseconds(100));
  CHECK(v.modem->port_by_node("cdc-wdm0") == nullptr);
  v.clock.run_until_idle();
  REQUIRE(v.modem->port_by_node("cdc-wdm0") != nullptr);
  CHECK(error_of(q.send(0x02, dms, 0x0025).at(0)) == static_cast<std::uint16_t>(qmi::QmiError::kInvalidClientId));
}

TEST_CASE("regression: WDS Stop Network 0xffffffff with a call up used to crash") {
  // Stopping every call deactivated contexts while iterating the handle table, which the
  // disconnect indication cleared.
  VirtualModem v("quectel-eg12");
  v.boot();
  QmiClientSim q(*v.modem);
  std::uint8_t wds = q.allocate(0x01);
  q.send(0x01, wds, 0x0020);
  auto stopped = q.send(0x01, wds, 0x0021, {{0x01, {0xff, 0xff, 0xff, 0xff}}, {0x10, {1}}});
  CHECK(error_of(stopped.at(0)) == 0);
  CHECK_FALSE(v.modem->state().contexts.at(1).active);
}

TEST_CASE("NAS serving system indications follow registration; silence answers nothing") {
  VirtualModem v("quectel-eg12");
  v.boot();
  QmiClientSim q(*v.modem);
  std::uint8_t nas = q.allocate(0x03);
  AtClient at(*v.modem, "ttyUSB2");
  at.cmd("AT+CFUN=4");
  auto ind = q.drain();
  REQUIRE_FALSE(ind.empty());
  CHECK(ind[0].message_id == 0x0024);
  CHECK(ind[0].find(0x01)->value[0] == 0);  // not registered
  auto& port = dynamic_cast<QmiPort&>(*v.modem->port_by_node("cdc-wdm0"));
  port.function().silent = true;
  CHECK(q.send(0x03, nas, 0x0024).empty());
  port.function().silent = false;
  CHECK(q.send(0x03, nas, 0x0024).size() == 1);
}

TEST_CASE("garbage between frames is skipped and the next frame still answered") {
  VirtualModem v("quectel-eg12");
  v.boot();
  QmiClientSim q(*v.modem);
  q.raw.attached->from_host(std::string("\xff\xfe\x01\x02\x00", 5));
  CHECK(q.drain().empty());
  CHECK(q.send(0, 0, 0x0021).size() == 1);
  CHECK(v.count("qmi.framing") >= 1);
}
