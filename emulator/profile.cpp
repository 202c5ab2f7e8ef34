#include "emulator/profile.hpp"
#include "emulator/textproto.hpp"
#include "protocols/net/address.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/args.h>
#include <fmt/format.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#ifndef MODEMU_SOURCE_PROFILE_DIR
#define MODEMU_SOURCE_PROFILE_DIR ""
#endif
#ifndef MODEMU_INSTALL_PROFILE_DIR
#define MODEMU_INSTALL_PROFILE_DIR ""
#endif

namespace modemu::emulator {
namespace fs = std::filesystem;
namespace pb = google::protobuf;

namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool parse_hex_bytes(std::string_view text, std::string* out) {
  std::string bytes;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ') {
      ++i;
      continue;
    }
    if (i + 1 >= text.size()) return false;
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = nibble(text[i]);
    int lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  if (out != nullptr) *out = std::move(bytes);
  return true;
}

// ModemManager requires Quectel's four-part suffix: _<modem main>.<minor>.<ap main>.<ap minor>
// (at-commands.md).
bool quectel_full_revision_ok(std::string_view rev) {
  auto us = rev.rfind('_');
  if (us == std::string_view::npos) return false;
  std::string_view tail = rev.substr(us + 1);
  int parts = 0;
  std::size_t start = 0;
  while (start <= tail.size()) {
    auto dot = tail.find('.', start);
    std::string_view part = tail.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!all_digits(part)) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts == 4;
}

void check_flash(const profile::Profile& p, const Locator& at, const pb::Descriptor* root);

void validate(const profile::Profile& p, const Locator& at) {
  const pb::Descriptor* root = profile::Profile::descriptor();
  if (p.name().empty()) at.fail(root, {{"name", 0}}, "is missing");
  if (p.vendor() == profile::VENDOR_UNSPECIFIED) at.fail(root, {{"vendor", 0}}, "is missing (QUECTEL or SIERRA)");
  if (p.identity().model().empty()) at.fail(root, {{"identity", 0}, {"model", 0}}, "is missing");
  if (p.identity().manufacturer().empty()) at.fail(root, {{"identity", 0}, {"manufacturer", 0}}, "is missing");
  const auto& imei = p.identity().imei();
  if (imei.size() != 15 || !all_digits(imei) || !luhn_valid(imei)) {
    at.fail(root, {{"identity", 0}, {"imei", 0}}, fmt::format("\"{}\" is not a 15-digit IMEI with a valid check digit", imei));
  }
  const auto& imsi = p.sim().imsi();
  if (imsi.size() < 6 || imsi.size() > 15 || !all_digits(imsi)) {
    at.fail(root, {{"sim", 0}, {"imsi", 0}}, fmt::format("\"{}\" is not an IMSI (6 to 15 digits)", imsi));
  }
  const auto& iccid = p.sim().iccid();
  if (iccid.size() < 18 || iccid.size() > 20 || !all_digits(iccid) || !luhn_valid(iccid)) {
    at.fail(root, {{"sim", 0}, {"iccid", 0}},
            fmt::format("\"{}\" is not an ICCID (18 to 20 digits with a valid check digit)", iccid));
  }
  if (p.sim().state() == profile::SIM_STATE_UNSPECIFIED) at.fail(root, {{"sim", 0}, {"state", 0}}, "is missing");
  const auto& net = p.network();
  if (net.mcc().size() != 3 || !all_digits(net.mcc())) at.fail(root, {{"network", 0}, {"mcc", 0}}, "must be 3 digits");
  if ((net.mnc().size() != 2 && net.mnc().size() != 3) || !all_digits(net.mnc())) {
    at.fail(root, {{"network", 0}, {"mnc", 0}}, "must be 2 or 3 digits");
  }
  if (net.rat() == profile::RAT_UNSPECIFIED) at.fail(root, {{"network", 0}, {"rat", 0}}, "is missing");
  if (net.cell_id() > 0x0fffffff) at.fail(root, {{"network", 0}, {"cell_id", 0}}, "exceeds 28 bits");
  if (net.tac() > 0xffff) at.fail(root, {{"network", 0}, {"tac", 0}}, "exceeds 16 bits");

  bool have_application = false;
  std::set<std::pair<int, std::string>> seen_compositions;
  for (int u = 0; u < p.usb_size(); ++u) {
    const auto& c = p.usb(u);
    if (c.mode() == profile::BOOT_MODE_UNSPECIFIED) at.fail(root, {{"usb", u}, {"mode", 0}}, "is missing");
    if (!seen_compositions.emplace(c.mode(), c.composition()).second) {
      at.fail(root, {{"usb", u}, {"composition", 0}},
              fmt::format("boot mode {} already has a composition named \"{}\"", profile::BootMode_Name(c.mode()),
                          c.composition()));
    }
    if (c.mode() == profile::APPLICATION) have_application = true;
    if (c.idvendor() == 0 || c.idvendor() > 0xffff) at.fail(root, {{"usb", u}, {"idVendor", 0}}, "must be 1..0xffff");
    if (c.idproduct() > 0xffff) at.fail(root, {{"usb", u}, {"idProduct", 0}}, "must be at most 0xffff");
    if (c.bmaxpacketsize0() != 8 && c.bmaxpacketsize0() != 16 && c.bmaxpacketsize0() != 32 &&
        c.bmaxpacketsize0() != 64 && c.bmaxpacketsize0() != 9) {
      at.fail(root, {{"usb", u}, {"bMaxPacketSize0", 0}}, "must be 8, 16, 32 or 64 (9 at SuperSpeed)");
    }
    if (c.interfaces_size() == 0) at.fail(root, {{"usb", u}, {"interfaces", 0}}, "a composition needs interfaces");
    std::set<std::uint32_t> numbers;
    std::set<std::uint32_t> addresses;
    bool have_at = false;
    for (int i = 0; i < c.interfaces_size(); ++i) {
      const auto& itf = c.interfaces(i);
      if (!numbers.insert(itf.binterfacenumber()).second) {
        at.fail(root, {{"usb", u}, {"interfaces", i}, {"bInterfaceNumber", 0}},
                fmt::format("interface {} is declared twice", itf.binterfacenumber()));
      }
      if (itf.function() == profile::PORT_FUNCTION_UNSPECIFIED) {
        at.fail(root, {{"usb", u}, {"interfaces", i}, {"function", 0}}, "is missing");
      }
      if (itf.function() == profile::AT || itf.function() == profile::AT_MODEM) have_at = true;
      if (itf.linux_driver().empty()) at.fail(root, {{"usb", u}, {"interfaces", i}, {"linux_driver", 0}}, "is missing");
      if (!parse_hex_bytes(itf.class_specific_hex(), nullptr)) {
        at.fail(root, {{"usb", u}, {"interfaces", i}, {"class_specific_hex", 0}}, "is not a list of hex bytes");
      }
      for (int e = 0; e < itf.endpoints_size(); ++e) {
        const auto& ep = itf.endpoints(e);
        if ((ep.bendpointaddress() & 0x0f) == 0 || (ep.bendpointaddress() & 0x70) != 0 || ep.bendpointaddress() > 0xff) {
          at.fail(root, {{"usb", u}, {"interfaces", i}, {"endpoints", e}, {"bEndpointAddress", 0}},
                  fmt::format("0x{:02x} is not an endpoint address (1..15, bit 7 for IN)", ep.bendpointaddress()));
        }
        if (!addresses.insert(ep.bendpointaddress()).second) {
          at.fail(root, {{"usb", u}, {"interfaces", i}, {"endpoints", e}, {"bEndpointAddress", 0}},
                  fmt::format("0x{:02x} is used twice in this composition", ep.bendpointaddress()));
        }
        if (ep.bmattributes() != 2 && ep.bmattributes() != 3) {
          at.fail(root, {{"usb", u}, {"interfaces", i}, {"endpoints", e}, {"bmAttributes", 0}},
                  "must be 2 (bulk) or 3 (interrupt)");
        }
        if (ep.bmattributes() == 3 && (ep.binterval() == 0 || ep.binterval() > 16)) {
          at.fail(root, {{"usb", u}, {"interfaces", i}, {"endpoints", e}, {"bInterval", 0}},
                  "an interrupt endpoint needs bInterval 1..16");
        }
        if (ep.wmaxpacketsize() == 0 || ep.wmaxpacketsize() > 1024) {
          at.fail(root, {{"usb", u}, {"interfaces", i}, {"endpoints", e}, {"wMaxPacketSize", 0}}, "must be 1..1024");
        }
      }
    }
    if (c.mode() == profile::APPLICATION && !have_at) {
      at.fail(root, {{"usb", u}, {"interfaces", 0}}, "an application composition needs an AT or AT_MODEM interface");
    }
  }
  if (!have_application) at.fail(root, {{"usb", 0}}, "no composition for boot mode APPLICATION");

  const auto& fw = p.firmware();
  if (fw.versions_size() == 0) at.fail(root, {{"firmware", 0}, {"versions", 0}}, "the catalogue is empty");
  for (int v = 0; v < fw.versions_size(); ++v) {
    const auto& f = fw.versions(v);
    if (f.version().empty()) at.fail(root, {{"firmware", 0}, {"versions", v}, {"version", 0}}, "is missing");
    if (p.vendor() == profile::QUECTEL && !quectel_full_revision_ok(f.full_revision())) {
      at.fail(root, {{"firmware", 0}, {"versions", v}, {"full_revision", 0}},
              fmt::format("\"{}\" lacks the four-part suffix _NN.NNN.NN.NNN that ModemManager requires",
                          f.full_revision()));
    }
    for (int t = 0; t < f.traits_size(); ++t) {
      if (f.traits(t).fault().empty()) {
        at.fail(root, {{"firmware", 0}, {"versions", v}, {"traits", t}, {"fault", 0}}, "is missing");
      }
    }
  }
  const profile::Firmware* def = find_firmware(p, fw.default_version());
  if (def == nullptr) {
    at.fail(root, {{"firmware", 0}, {"default_version", 0}},
            fmt::format("\"{}\" is not in the catalogue", fw.default_version()));
  }
  for (int i = 0; i < p.at().ati_size(); ++i) {
    try {
      expand_template(p.at().ati(i), p, *def);
    } catch (const std::exception& e) {
      at.fail(root, {{"at", 0}, {"ati", i}}, e.what());
    }
  }
  try {
    expand_template(p.at().cgmr(), p, *def);
  } catch (const std::exception& e) {
    at.fail(root, {{"at", 0}, {"cgmr", 0}}, e.what());
  }
  for (int i = 0; i < p.at().usbnet_size(); ++i) {
    if (find_composition(p, profile::APPLICATION, p.at().usbnet(i).composition()) == nullptr) {
      at.fail(root, {{"at", 0}, {"usbnet", i}, {"composition", 0}},
              fmt::format("no APPLICATION composition named \"{}\"", p.at().usbnet(i).composition()));
    }
  }
  for (int i = 0; i < p.data().default_contexts_size(); ++i) {
    const auto& ctx = p.data().default_contexts(i);
    if (ctx.cid() < 1 || ctx.cid() > 15) at.fail(root, {{"data", 0}, {"default_contexts", i}, {"cid", 0}}, "must be 1..15");
  }
  // Packet data addresses (emulator/data): each must parse, as the data path serves them.
  auto check_address = [&](const std::string& text, bool v6, std::initializer_list<std::pair<const char*, int>> path) {
    bool ok = v6 ? protocols::net::parse_ipv6(text).has_value() : protocols::net::parse_ipv4(text).has_value();
    if (!text.empty() && !ok) at.fail(root, path, fmt::format("\"{}\" is not an IPv{} address", text, v6 ? 6 : 4));
  };
  check_address(p.data().ipv4_address(), false, {{"data", 0}, {"ipv4_address", 0}});
  check_address(p.data().ipv4_dns(), false, {{"data", 0}, {"ipv4_dns", 0}});
  check_address(p.data().ipv6_address(), true, {{"data", 0}, {"ipv6_address", 0}});
  check_address(p.data().ipv6_dns(), true, {{"data", 0}, {"ipv6_dns", 0}});
  for (int h = 0; h < p.data().hosts_size(); ++h) {
    for (int a = 0; a < p.data().hosts(h).addresses_size(); ++a) {
      const std::string& text = p.data().hosts(h).addresses(a);
      if (!protocols::net::parse_ipv4(text) && !protocols::net::parse_ipv6(text)) {
        at.fail(root, {{"data", 0}, {"hosts", h}, {"addresses", a}}, fmt::format("\"{}\" is not an IP address", text));
      }
    }
  }
  if (p.has_flash()) check_flash(p, at, root);
}

// The flash model's promises: a power-of-two geometry, an SBL at block 0 that the boot chain
// needs, one partition carrying the version, and every partition inside the device.
void check_flash(const profile::Profile& p, const Locator& at, const pb::Descriptor* root) {
  const auto& f = p.flash();
  auto pow2 = [](std::uint32_t v) { return v != 0 && (v & (v - 1)) == 0; };
  if (!pow2(f.page_size()) || f.page_size() < 512) at.fail(root, {{"flash", 0}, {"page_size", 0}}, "must be a power of two >= 512");
  if (!pow2(f.pages_per_block())) at.fail(root, {{"flash", 0}, {"pages_per_block", 0}}, "must be a power of two");
  if (f.blocks() == 0) at.fail(root, {{"flash", 0}, {"blocks", 0}}, "is missing");
  if (f.memory_name().empty()) at.fail(root, {{"flash", 0}, {"memory_name", 0}}, "is missing");
  if (f.programmer().empty()) at.fail(root, {{"flash", 0}, {"programmer", 0}}, "is missing");
  if (f.max_payload_to_target() < f.page_size()) {
    at.fail(root, {{"flash", 0}, {"max_payload_to_target", 0}}, "must be at least one page");
  }
  if (f.partitions_size() == 0 || !f.partitions(0).boot() || f.partitions(0).file().empty()) {
    at.fail(root, {{"flash", 0}, {"partitions", 0}}, "the first partition must be the SBL: boot: true with a file");
  }
  std::uint64_t blocks = 0;
  int versions = 0;
  std::set<std::string> labels;
  for (int i = 0; i < f.partitions_size(); ++i) {
    const auto& part = f.partitions(i);
    if (part.label().empty() || !labels.insert(part.label()).second) {
      at.fail(root, {{"flash", 0}, {"partitions", i}, {"label", 0}}, "is missing or used twice");
    }
    if (part.blocks() == 0) at.fail(root, {{"flash", 0}, {"partitions", i}, {"blocks", 0}}, "is missing");
    if ((part.boot() || part.carries_version()) && part.file().empty()) {
      at.fail(root, {{"flash", 0}, {"partitions", i}, {"file", 0}}, "a boot partition needs an image file");
    }
    if (part.carries_version()) ++versions;
    blocks += part.blocks();
  }
  if (blocks > f.blocks()) {
    at.fail(root, {{"flash", 0}, {"partitions", 0}}, fmt::format("partitions take {} blocks, the flash has {}", blocks, f.blocks()));
  }
  if (versions != 1) at.fail(root, {{"flash", 0}, {"partitions", 0}}, "exactly one partition must carry_version");
  if (find_composition(p, profile::EDL) == nullptr) {
    at.fail(root, {{"usb", 0}}, "a profile with a flash needs an EDL composition (where an erased SBL leaves it)");
  }
}

}  // namespace

bool luhn_valid(std::string_view digits) {
  if (digits.empty() || !all_digits(digits)) return false;
  int sum = 0;
  bool dbl = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    int d = *it - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

std::string expand_template(std::string_view tmpl, const profile::Profile& p, const profile::Firmware& fw) {
  if (tmpl.empty()) tmpl = "{revision}";
  fmt::dynamic_format_arg_store<fmt::format_context> args;
  args.push_back(fmt::arg("manufacturer", p.identity().manufacturer()));
  args.push_back(fmt::arg("model", p.identity().model()));
  args.push_back(fmt::arg("revision", fw.version()));
  args.push_back(fmt::arg("full_revision", fw.full_revision()));
  args.push_back(fmt::arg("imei", p.identity().imei()));
  args.push_back(fmt::arg("imei_sv", p.identity().imei_sv()));
  args.push_back(fmt::arg("fsn", p.identity().fsn()));
  try {
    return fmt::vformat(tmpl, args);
  } catch (const fmt::format_error& e) {
    throw std::runtime_error(fmt::format("template \"{}\": {} (placeholders: {{manufacturer}} {{model}} {{revision}} "
                                         "{{full_revision}} {{imei}} {{imei_sv}} {{fsn}})",
                                         tmpl, e.what()));
  }
}

profile::Profile parse_profile(std::string_view text, const std::string& origin) {
  profile::Profile p;
  pb::TextFormat::ParseInfoTree tree;
  parse_text_proto(text, origin, p, tree);
  validate(p, Locator(origin, tree));
  return p;
}

profile::Profile load_profile_file(const fs::path& file) { return parse_profile(read_text_file(file), file.string()); }

std::vector<fs::path> profile_search_path() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("MODEMU_PROFILE_PATH"); env != nullptr) {
    std::string_view rest(env);
    while (!rest.empty()) {
      auto colon = rest.find(':');
      auto part = rest.substr(0, colon);
      if (!part.empty()) dirs.emplace_back(std::string(part));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  for (const char* d : {MODEMU_SOURCE_PROFILE_DIR, MODEMU_INSTALL_PROFILE_DIR}) {
    if (d[0] != '\0') dirs.emplace_back(d);
  }
  return dirs;
}

std::vector<ProfileEntry> list_profiles(const std::vector<fs::path>& search) {
  std::vector<ProfileEntry> out;
  std::set<std::string> seen;
  for (const auto& dir : search) {
    std::error_code ec;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".txtpb") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::string name = f.stem().string();
      if (seen.insert(name).second) out.push_back({name, f});
    }
  }
  return out;
}

profile::Profile load_profile(std::string_view name_or_file, const std::vector<fs::path>& search) {
  std::string arg(name_or_file);
  if (arg.find('/') != std::string::npos || (arg.size() > 6 && arg.ends_with(".txtpb"))) {
    return load_profile_file(arg);
  }
  for (const auto& dir : search) {
    fs::path f = dir / (arg + ".txtpb");
    std::error_code ec;
    if (fs::is_regular_file(f, ec)) {
      profile::Profile p = load_profile_file(f);
      if (p.name() != arg) {
        throw ProfileError(fmt::format("{}: name \"{}\" does not match the file name \"{}\"", f.string(), p.name(), arg));
      }
      return p;
    }
  }
  std::string known;
  for (const auto& e : list_profiles(search)) known += (known.empty() ? "" : ", ") + e.name;
  throw ProfileError(fmt::format("unknown profile \"{}\" (known: {}); give a name or a path to a .txtpb file", arg,
                                 known.empty() ? "none found" : known));
}

const profile::Firmware* find_firmware(const profile::Profile& p, std::string_view version) {
  for (const auto& f : p.firmware().versions()) {
    if (f.version() == version) return &f;
  }
  return nullptr;
}

const profile::UsbComposition* find_composition(const profile::Profile& p, profile::BootMode mode,
                                                std::string_view composition) {
  const profile::UsbComposition* first = nullptr;
  for (const auto& c : p.usb()) {
    if (c.mode() != mode) continue;
    if (c.composition() == composition) return &c;
    if (first == nullptr) first = &c;
  }
  return composition.empty() ? first : nullptr;
}

}  // namespace modemu::emulator
