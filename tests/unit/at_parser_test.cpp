#include <doctest/doctest.h>

#include "protocols/at/command.hpp"

using namespace modemu::protocols::at;

TEST_CASE("a bare AT is a line without commands") {
  auto p = parse_line("AT");
  CHECK_FALSE(p.error);
  CHECK(p.commands.empty());
  CHECK_FALSE(parse_line("at").error);
}

TEST_CASE("extended command forms: action, read, test, set") {
  auto p = parse_line("AT+CSQ;+CFUN?;+CREG=?;+CGDCONT=1,\"IP\",\"internet\"");
  REQUIRE_FALSE(p.error);
  REQUIRE(p.commands.size() == 4);
  CHECK(p.commands[0].name == "+CSQ");
  CHECK(p.commands[0].kind == CommandKind::kAction);
  CHECK(p.commands[1].kind == CommandKind::kRead);
  CHECK(p.commands[2].kind == CommandKind::kTest);
  const auto& set = p.commands[3];
  CHECK(set.kind == CommandKind::kSet);
  REQUIRE(set.args.size() == 3);
  CHECK(set.args[0].as_int(1, 15) == 1);
  CHECK(set.args[1].text == "IP");
  CHECK(set.args[1].quoted);
  CHECK(set.args[2].text == "internet");  // quoted text keeps its case
  CHECK(set.raw_args == "1,\"IP\",\"internet\"");
}

TEST_CASE("names are case-insensitive, quoted strings are not") {
  auto p = parse_line("at+cgmi;+qcfg=\"UsbNet\",1");
  REQUIRE_FALSE(p.error);
  CHECK(p.commands[0].name == "+CGMI");
  CHECK(p.commands[1].name == "+QCFG");
  CHECK(p.commands[1].args[0].text == "UsbNet");
}

TEST_CASE("vendor prefixes") {
  auto p = parse_line("AT!GSTATUS?;!ENTERCND=\"A710\";$QCPWD?");
  REQUIRE_FALSE(p.error);
  CHECK(p.commands[0].name == "!GSTATUS");
  CHECK(p.commands[1].args[0].text == "A710");
  CHECK(p.commands[2].name == "$QCPWD");
}

TEST_CASE("basic commands concatenate without separators") {
  auto p = parse_line("ATE0V1&FQ0S0=0I");
  REQUIRE_FALSE(p.error);
  REQUIRE(p.commands.size() == 6);
  CHECK(p.commands[0].name == "E");
  CHECK(p.commands[0].args[0].text == "0");
  CHECK(p.commands[2].name == "&F");
  CHECK(p.commands[4].name == "S0");
  CHECK(p.commands[4].kind == CommandKind::kSet);
  CHECK(p.commands[5].name == "I");
  CHECK(p.commands[5].args.empty());
}

TEST_CASE("S-parameter read and set") {
  auto p = parse_line("ATS3?S4=10");
  REQUIRE_FALSE(p.error);
  CHECK(p.commands[0].name == "S3");
  CHECK(p.commands[0].kind == CommandKind::kRead);
  CHECK(p.commands[1].args[0].as_int(0, 255) == 10);
}

TEST_CASE("the dial command takes the rest of the line") {
  auto p = parse_line("ATD*99#");
  REQUIRE_FALSE(p.error);
  REQUIRE(p.commands.size() == 1);
  CHECK(p.commands[0].name == "D");
  CHECK(p.commands[0].raw_args == "*99#");
}

TEST_CASE("omitted arguments") {
  auto p = parse_line("AT+COPS=3,,");
  REQUIRE_FALSE(p.error);
  REQUIRE(p.commands[0].args.size() == 3);
  CHECK_FALSE(p.commands[0].args[0].omitted);
  CHECK(p.commands[0].args[1].omitted);
  CHECK(p.commands[0].args[2].omitted);
  CHECK_FALSE(p.commands[0].args[1].as_int(0, 9));
}

TEST_CASE("malformed lines report where") {
  CHECK(parse_line("HELLO").error->column == 0);
  auto unterminated = parse_line("AT+CPIN=\"1234");
  REQUIRE(unterminated.error);
  CHECK(unterminated.error->message == "unterminated quoted string");
  CHECK(parse_line("AT+").error);
  CHECK(parse_line("AT+CSQ?x").error);
  CHECK(parse_line("AT&").error);
  CHECK(parse_line("ATS?").error);
  CHECK(parse_line("AT+X=\"a\"b").error);
  CHECK(parse_line("AT\x01").error);
}

TEST_CASE("integer arguments are range-checked and strict") {
  Argument a{"12"};
  CHECK(a.as_int(0, 12) == 12);
  CHECK_FALSE(a.as_int(0, 11));
  CHECK_FALSE(Argument{"1x"}.as_int(0, 100));
  CHECK_FALSE(Argument{"99999999999999999999999"}.as_int(0, 100));
  CHECK_FALSE((Argument{"5", true}).as_int(0, 100));  // quoted numbers are strings
}
