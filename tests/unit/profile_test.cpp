#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "emulator/profile.hpp"

using namespace modemu::emulator;

namespace {

std::string error_of(const std::string& text) {
  try {
    parse_profile(text, "test.txtpb");
  } catch (const ProfileError& e) {
    return e.what();
  }
  return "";
}

std::string shipped(const std::string& name) {
  auto entries = list_profiles();
  for (const auto& e : entries) {
    if (e.name == name) {
      std::ifstream in(e.file);
      return std::string(std::istreambuf_iterator<char>(in), {});
    }
  }
  return {};
}

}  // namespace

TEST_CASE("every shipped profile loads and is consistent") {
  auto entries = list_profiles();
  std::vector<std::string> names;
  for (const auto& e : entries) {
    CAPTURE(e.file);
    auto p = load_profile_file(e.file);
    CHECK(p.name() == e.name);
    names.push_back(e.name);
  }
  for (const char* required : {"quectel-ec25", "quectel-eg12", "sierra-mc7455"}) {
    CHECK(std::find(names.begin(), names.end(), required) != names.end());
  }
}

TEST_CASE("profile facts from the references") {
  auto eg12 = load_profile("quectel-eg12");
  const auto* app = find_composition(eg12, modemu::profile::APPLICATION);
  REQUIRE(app != nullptr);
  CHECK(app->idvendor() == 0x2c7c);
  CHECK(app->idproduct() == 0x0512);
  REQUIRE(app->interfaces_size() == 5);
  CHECK(app->interfaces(4).function() == modemu::profile::QMI);
  CHECK(find_firmware(eg12, "EG12EAPAR01A09M4G") != nullptr);
  CHECK(find_firmware(eg12, "EG12EAPAR01A12M4G") != nullptr);
  CHECK(find_firmware(eg12, "EG12EAPAR01A09M4G")->traits(0).fault() == "usb_reset_loop");
  auto mc = load_profile("sierra-mc7455");
  const auto* sapp = find_composition(mc, modemu::profile::APPLICATION);
  CHECK(sapp->idproduct() == 0x9071);
  CHECK(find_composition(mc, modemu::profile::SIERRA_BOOT_HOLD)->idproduct() == 0x9070);
  std::vector<std::uint32_t> numbers;
  for (const auto& i : sapp->interfaces()) numbers.push_back(i.binterfacenumber());
  CHECK(numbers == std::vector<std::uint32_t>{0, 2, 3, 8, 10});
}

TEST_CASE("syntax errors name file, line and column") {
  CHECK(error_of("name: \"x\"\nvendor: QUECTEL\nbogus_field: 1\n") ==
        "test.txtpb:3:12: Message type \"modemu.profile.Profile\" has no field named \"bogus_field\".");
  // protobuf's parser reports a bad value at the token after it.
  CHECK(error_of("name: \"x\"\nvendor: NOKIA\n") ==
        "test.txtpb:3:1: Unknown enumeration value of \"NOKIA\" for field \"vendor\".");
  CHECK(error_of("identity {\n  imei: \"1\"\n").starts_with("test.txtpb:3:"));
}

TEST_CASE("semantic errors name the field and where it was written") {
  std::string text = shipped("quectel-eg12");
  REQUIRE_FALSE(text.empty());
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    auto at = t.find(from);
    REQUIRE(at != std::string::npos);
    t.replace(at, from.size(), to);
    return error_of(t);
  };
  auto line_of = [&](const std::string& needle) {
    auto at = text.find(needle);
    return 1 + std::count(text.begin(), text.begin() + static_cast<long>(at), '\n');
  };
  std::string imei = replace("imei: \"867225039876540\"", "imei: \"867225039876541\"");
  CHECK(imei.starts_with("test.txtpb:" + std::to_string(line_of("imei: \"8672")) + ":3: identity.imei: "));
  CHECK(imei.find("check digit") != std::string::npos);

  std::string rev = replace("full_revision: \"EG12EAPAR01A12M4G_01.001.01.001\"", "full_revision: \"EG12EAPAR01A12M4G\"");
  CHECK(rev.find("firmware.versions[1].full_revision") != std::string::npos);
  CHECK(rev.find("four-part suffix") != std::string::npos);

  std::string def = replace("default_version: \"EG12EAPAR01A12M4G\"", "default_version: \"EG12EAPAR01A99M4G\"");
  CHECK(def.find("firmware.default_version: \"EG12EAPAR01A99M4G\" is not in the catalogue") != std::string::npos);

  std::string ep = replace("bEndpointAddress: 0x88", "bEndpointAddress: 0x85");
  CHECK(ep.find("bEndpointAddress: 0x85 is used twice") != std::string::npos);

  std::string ati = replace("ati: \"{model}\"", "ati: \"{modle}\"");
  CHECK(ati.find("at.ati[1]") != std::string::npos);
}

TEST_CASE("unknown profile names list the known ones") {
  try {
    load_profile("nokia-3310");
    FAIL("no error");
  } catch (const ProfileError& e) {
    std::string what = e.what();
    CHECK(what.find("unknown profile \"nokia-3310\"") != std::string::npos);
    CHECK(what.find("quectel-eg12") != std::string::npos);
  }
}

TEST_CASE("Luhn check digits") {
  CHECK(luhn_valid("867225039876540"));
  CHECK_FALSE(luhn_valid("867225039876541"));
  CHECK(luhn_valid("89014103211122334455"));
  CHECK_FALSE(luhn_valid(""));
  CHECK_FALSE(luhn_valid("12a"));
}
