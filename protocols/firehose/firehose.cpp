#include "protocols/firehose/firehose.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <pugixml.hpp>
#include <utility>

namespace modemu::protocols::firehose {

namespace {

constexpr std::string_view kHeader = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n";
constexpr std::string_view kTrailer = "\n</data>";
constexpr std::size_t kPiece = 4096;          // host bytes are taken into the XML buffer this many at a time
constexpr std::uint64_t kMaxCrcBytes = 1u << 20;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::size_t ifind(std::string_view hay, std::string_view needle, std::size_t from = 0) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (std::size_t i = from; i + needle.size() <= hay.size(); ++i) {
    if (iequals(hay.substr(i, needle.size()), needle)) return i;
  }
  return std::string_view::npos;
}

std::size_t irfind(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (std::size_t i = hay.size() - needle.size() + 1; i-- > 0;) {
    if (iequals(hay.substr(i, needle.size()), needle)) return i;
  }
  return std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Appends `text` escaped for an attribute value, stopping before `budget` would be exceeded (an
// entity is never cut). Control and non-ASCII bytes become '?': a cut UTF-8 sequence would make
// the whole document unreadable to libxml2 and ElementTree.
void escape_into(std::string& out, std::string_view text, std::size_t budget) {
  std::size_t used = 0;
  for (char c : text) {
    std::string_view piece;
    char plain[1] = {c};
    switch (c) {
      case '&': piece = "&amp;"; break;
      case '<': piece = "&lt;"; break;
      case '>': piece = "&gt;"; break;
      case '"': piece = "&quot;"; break;
      case '\'': piece = "&apos;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) plain[0] = '?';
        piece = std::string_view(plain, 1);
    }
    if (used + piece.size() > budget) return;
    out.append(piece);
    used += piece.size();
  }
}

// Host text quoted in a log or an event line: printable ASCII, at most `n` characters (the log
// writer escapes it).
std::string shown(std::string_view text, std::size_t n = 48) {
  std::string out;
  for (char c : text.substr(0, std::min(text.size(), n))) {
    out.push_back(static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f ? '?' : c);
  }
  if (text.size() > n) out.append("...");
  return out;
}

// Config strings go into attributes and into the storage_info JSON: letters, digits and a few
// marks only, at most 32 of them.
std::string sanitize(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (out.size() == 32) break;
    bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' || c == '_' ||
              c == '-' || c == ' ';
    out.push_back(ok ? c : '_');
  }
  return out;
}

// A host number: decimal, or hex with 0x; a trailing '.' (rawprogram's "33.") is allowed.
std::optional<std::uint64_t> parse_number(std::string_view text) {
  text = trim(text);
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty()) return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// CRC-32 as zlib computes it (reflected 0xEDB88320, init and final xor 0xFFFFFFFF): the GPT
// checksum that rawprogram patches ask for with CRC32(start_sector, bytes).
std::uint32_t crc32(ByteView data) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t crc = 0xffffffffu;
  for (std::uint8_t b : data) crc = (crc >> 8) ^ table[(crc ^ b) & 0xffu];
  return ~crc;
}

// The expressions of Qualcomm patch and rawprogram files: numbers, NUM_DISK_SECTORS,
// CRC32(sector, bytes), + - * / and parentheses. Arithmetic wraps in 64 bits (a patch writes the
// low size_in_bytes bytes); nesting and the number of CRC32 terms (each reads up to 1 MiB) are
// bounded.
class Expression {
 public:
  using Crc = std::function<std::optional<std::uint32_t>(std::uint64_t sector, std::uint64_t bytes)>;
  Expression(std::string_view text, std::uint64_t disk_sectors, Crc crc)
      : text_(text), disk_sectors_(disk_sectors), crc_(std::move(crc)) {}

  std::optional<std::uint64_t> evaluate() {
    auto v = sum(0);
    skip();
    if (!v || pos_ != text_.size()) return std::nullopt;
    return v;
  }

 private:
  static constexpr int kMaxDepth = 16;
  static constexpr int kMaxCrcs = 2;

  void skip() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
  }
  bool eat(char c) {
    skip();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool word(std::string_view w) {
    skip();
    if (text_.size() - pos_ >= w.size() && iequals(text_.substr(pos_, w.size()), w)) {
      pos_ += w.size();
      return true;
    }
    return false;
  }
  std::optional<std::uint64_t> sum(int depth) {
    auto v = product(depth);
    while (v) {
      if (eat('+')) {
        auto r = product(depth);
        if (!r) return std::nullopt;
        *v += *r;
      } else if (eat('-')) {
        auto r = product(depth);
        if (!r) return std::nullopt;
        *v -= *r;
      } else {
        break;
      }
    }
    return v;
  }
  std::optional<std::uint64_t> product(int depth) {
    auto v = unary(depth);
    while (v) {
      if (eat('*')) {
        auto r = unary(depth);
        if (!r) return std::nullopt;
        *v *= *r;
      } else if (eat('/')) {
        auto r = unary(depth);
        if (!r || *r == 0) return std::nullopt;
        *v /= *r;
      } else {
        break;
      }
    }
    return v;
  }
  std::optional<std::uint64_t> unary(int depth) {
    if (depth > kMaxDepth) return std::nullopt;
    if (eat('-')) {
      auto v = unary(depth + 1);
      if (!v) return std::nullopt;
      return 0 - *v;
    }
    return primary(depth);
  }
  std::optional<std::uint64_t> primary(int depth) {
    if (eat('(')) {
      auto v = sum(depth + 1);
      if (!v || !eat(')')) return std::nullopt;
      return v;
    }
    if (word("NUM_DISK_SECTORS")) return disk_sectors_;
    if (word("CRC32")) {
      if (!crc_ || ++crcs_ > kMaxCrcs || !eat('(')) return std::nullopt;
      auto sector = sum(depth + 1);
      if (!sector || !eat(',')) return std::nullopt;
      auto bytes = sum(depth + 1);
      if (!bytes || !eat(')')) return std::nullopt;
      auto crc = crc_(*sector, *bytes);
      if (!crc) return std::nullopt;
      return *crc;
    }
    skip();
    std::size_t start = pos_;
    if (text_.size() - pos_ > 2 && text_[pos_] == '0' && (text_[pos_ + 1] == 'x' || text_[pos_ + 1] == 'X')) {
      pos_ += 2;
      while (pos_ < text_.size() && std::isxdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    } else {
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '.') ++pos_;
    }
    if (pos_ == start) return std::nullopt;
    return parse_number(text_.substr(start, pos_ - start));
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::uint64_t disk_sectors_;
  Crc crc_;
  int crcs_ = 0;
};

std::string mem_type(std::string_view memory_name) {
  if (iequals(memory_name, "emmc")) return "eMMC";
  std::string out(memory_name);
  for (char& c : out) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return out;
}

}  // namespace

std::string document(std::string_view element, const std::vector<Attribute>& attributes) {
  std::string out(kHeader);
  out.push_back('<');
  out.append(element);
  std::size_t fixed = out.size() + 3 + kTrailer.size();  // " />" and the trailer
  for (const Attribute& a : attributes) fixed += 1 + a.name.size() + 2;  // ` name=""`
  std::size_t budget = fixed < kMaxDocument ? kMaxDocument - fixed : 0;
  for (std::size_t i = 0; i < attributes.size(); ++i) {
    out.push_back(' ');
    out.append(attributes[i].name);
    out.append("=\"");
    std::size_t before = out.size();
    // Every value but the last is small (numbers, names); the last gets what is left.
    escape_into(out, attributes[i].value, i + 1 == attributes.size() ? budget : std::min<std::size_t>(budget, 64));
    budget -= out.size() - before;
    out.push_back('"');
  }
  out.append(" />");
  out.append(kTrailer);
  return out;
}

std::string log_document(std::string_view text) { return document("log", {{"value", std::string(text)}}); }

bool bootable_drive_supported(std::string_view memory_name) { return !iequals(memory_name, "nand"); }

// One host command: its name and attributes, copied out of the parsed document.
struct Target::Command {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;

  // Attribute names are matched case-insensitively (hosts disagree: ZlpAwareHost / ZLPAwareHost).
  std::optional<std::string_view> get(std::string_view key) const {
    for (const auto& [k, v] : attributes) {
      if (iequals(k, key)) return std::string_view(v);
    }
    return std::nullopt;
  }
  bool has(std::string_view key) const { return get(key).has_value(); }
};

Target::Target(TargetConfig config, Storage& storage, Output output, Hooks hooks)
    : config_(std::move(config)), storage_(storage), output_(std::move(output)), hooks_(std::move(hooks)) {
  config_.max_payload_to_target = std::max<std::uint32_t>(config_.max_payload_to_target, 512);
  config_.max_payload_from_target = std::clamp<std::uint32_t>(config_.max_payload_from_target, 512, 1u << 20);
  config_.max_xml = std::clamp<std::uint32_t>(config_.max_xml, 512, 64u << 10);
  config_.memory_name = sanitize(config_.memory_name);
  config_.target_name = sanitize(config_.target_name);
  config_.version = sanitize(config_.version);
  config_.fw_version = sanitize(config_.fw_version);
  config_.prod_name = sanitize(config_.prod_name);
  agreed_payload_ = config_.max_payload_to_target;
}

Target::~Target() = default;

std::uint64_t Target::page() const { return std::max<std::uint32_t>(storage_.page_size(), 1); }
std::uint64_t Target::block() const { return page() * std::max<std::uint32_t>(storage_.pages_per_block(), 1); }

void Target::send(const std::string& doc) { output_(Bytes(doc.begin(), doc.end())); }
void Target::log(std::string_view text) { send(log_document(text)); }

void Target::respond(std::string_view value, std::optional<bool> rawmode) {
  std::vector<Attribute> attributes{{"value", std::string(value)}};
  if (rawmode) attributes.push_back({"rawmode", *rawmode ? "true" : "false"});
  send(document("response", attributes));
}

void Target::nak(std::string_view why) {
  log(why);
  respond("NAK");
}

void Target::event(const std::string& line) {
  if (hooks_.event) hooks_.event(line);
}

void Target::start() {
  log(fmt::format("INFO: modemu Firehose programmer, TargetName {}, MemoryName {}", config_.target_name,
                  config_.memory_name));
  log("INFO: ready for configure");
}

void Target::receive(ByteView bytes) {
  while (!bytes.empty()) {
    switch (state_) {
      case State::kAfterPower:
        return;
      case State::kProgramData:
        bytes = bytes.subspan(raw(bytes));
        break;
      case State::kXml: {
        std::size_t n = std::min(bytes.size(), kPiece);
        xml_.append(as_chars(bytes.first(n)));
        bytes = bytes.subspan(n);
        documents();
        break;
      }
    }
  }
}

// Splits the buffer into documents at "</data>". Whatever follows a document in the same buffer
// arrived before the host could have seen the reply, so whitespace there is the document's own
// trailer (qdl writes "</data>\n", libqmi "</data>\n\n"), not raw data.
void Target::documents() {
  while (true) {
    if (state_ == State::kAfterPower) {
      xml_.clear();
      scan_ = 0;
      return;
    }
    if (state_ == State::kProgramData) {
      if (xml_.empty()) return;
      std::size_t n = raw(as_bytes(xml_));
      xml_.erase(0, n);
      scan_ = 0;
      continue;
    }
    std::size_t end = find_end();
    if (end == std::string::npos) {
      if (xml_.size() > std::size_t{config_.max_xml} * 4) overflow();
      return;
    }
    std::string text = xml_.substr(0, end);
    while (end < xml_.size() && is_space(xml_[end])) ++end;
    xml_.erase(0, end);
    scan_ = 0;
    bool discarding = std::exchange(discarding_, false);
    handle(std::move(text), discarding);
  }
}

// The position after the '>' of the first "</data>" (case-insensitive, up to 8 spaces allowed
// before '>'), or npos.
std::size_t Target::find_end() {
  constexpr std::string_view kClose = "</data";
  while (true) {
    std::size_t at = ifind(xml_, kClose, scan_);
    if (at == std::string::npos) {
      scan_ = xml_.size() > kClose.size() ? xml_.size() - kClose.size() + 1 : 0;
      return std::string::npos;
    }
    // A few spaces before '>' at most, so that a run of them is not scanned again per byte.
    std::size_t i = at + kClose.size();
    while (i < xml_.size() && i < at + kClose.size() + 8 && is_space(xml_[i])) ++i;
    if (i == xml_.size()) {
      scan_ = at;  // wait for the rest of the tag
      return std::string::npos;
    }
    if (xml_[i] == '>') return i + 1;
    scan_ = at + 1;  // "</dataX": not the end tag
  }
}

// More than max_xml * 4 bytes without "</data>": refused once, then dropped. A declaration in
// the buffer starts a new document, which is kept when it fits; otherwise the rest of this one
// is dropped up to its end.
void Target::overflow() {
  const std::size_t limit = std::size_t{config_.max_xml} * 4;
  if (!discarding_) {
    nak(fmt::format("ERROR: XML too long (more than {} bytes without </data>)", limit));
    event("XML: NAK, too long");
  }
  std::size_t next = irfind(xml_, "<?xml");
  if (next != std::string::npos && next > 0 && xml_.size() - next <= limit) {
    xml_.erase(0, next);
    discarding_ = false;
  } else {
    xml_.erase(0, xml_.size() - std::min<std::size_t>(xml_.size(), 5));  // may be the start of "</data"
    discarding_ = true;
  }
  scan_ = 0;
}

void Target::handle(std::string text, bool discarding) {
  // A document starts at its declaration: bytes before the last one are the remains of something
  // that never ended (a stray byte, the tail of an overlong document); they get no reply.
  std::size_t start = irfind(text, "<?xml");
  if (start != std::string::npos && start > 0) {
    if (!trim(std::string_view(text).substr(0, start)).empty()) event("XML: dropped bytes before a document");
    text.erase(0, start);
  } else if (start == std::string::npos && discarding) {
    event("XML: dropped the rest of an overlong document");
    return;
  }

  pugi::xml_document doc;
  pugi::xml_parse_result parsed =
      doc.load_buffer(text.data(), text.size(), pugi::parse_default | pugi::parse_declaration, pugi::encoding_utf8);
  if (!parsed) {
    nak(fmt::format("ERROR: XML not formed correctly ({} at offset {})", parsed.description(), parsed.offset));
    event(fmt::format("XML: NAK, not formed correctly ({})", parsed.description()));
    return;
  }
  pugi::xml_node root = doc.document_element();
  if (!root || !iequals(root.name(), "data")) {
    nak("ERROR: XML not formed correctly (the root element is not <data>)");
    event("XML: NAK, root is not <data>");
    return;
  }
  pugi::xml_node element = root.find_child([](const pugi::xml_node& n) { return n.type() == pugi::node_element; });
  if (!element) {
    nak("ERROR: no command inside <data>");
    event("XML: NAK, empty <data>");
    return;
  }
  Command c;
  c.name = element.name();
  for (const pugi::xml_attribute& a : element.attributes()) c.attributes.emplace_back(a.name(), a.value());
  command(c);
}

void Target::command(const Command& c) {
  std::string name;
  for (char ch : c.name) name.push_back(lower(ch));
  if (name == "configure") return configure(c);
  if (name == "program") return program(c);
  if (name == "read") return read(c);
  if (name == "erase") return erase(c);
  if (name == "patch") return patch(c);
  if (name == "getstorageinfo") return storage_info(c);
  if (name == "setbootablestoragedrive") return set_bootable(c);
  if (name == "power") return power(c);
  if (name == "nop") {  // edl <nop/>; libqmi <NOP value="ping"/> wants a bare ACK
    respond("ACK");
    event(fmt::format("{}: ACK", c.name));
    return;
  }
  nak(fmt::format("ERROR: unsupported command {}", shown(c.name)));
  event(fmt::format("unsupported command {}: NAK", shown(c.name)));
}

// <configure MemoryName MaxPayloadSizeToTargetInBytes .../>. Every reply, ACK or NAK, carries
// MaxPayloadSizeToTargetInBytes: qdl exits without it, libqmi only reads that number, QFirehose
// and qdl configure again with the value of a NAK.
void Target::configure(const Command& c) {
  auto reply = [&](std::string_view value, std::uint32_t payload) {
    send(document("response", {{"value", std::string(value)},
                               {"MemoryName", config_.memory_name},
                               {"MaxPayloadSizeFromTargetInBytes", std::to_string(config_.max_payload_from_target)},
                               {"MaxPayloadSizeToTargetInBytes", std::to_string(payload)},
                               {"MaxPayloadSizeToTargetInBytesSupported", std::to_string(config_.max_payload_to_target)},
                               {"MaxXMLSizeInBytes", std::to_string(config_.max_xml)},
                               {"TargetName", config_.target_name},
                               {"Version", config_.version}}));
  };
  const std::uint32_t supported = config_.max_payload_to_target;
  auto memory = c.get("MemoryName");
  if (memory && !iequals(trim(*memory), config_.memory_name)) {
    log(fmt::format("ERROR: MemoryName {} does not match the storage of this target ({})", shown(*memory),
                    config_.memory_name));
    reply("NAK", supported);
    event(fmt::format("configure: NAK, MemoryName {} is not {}", shown(*memory), config_.memory_name));
    return;
  }
  std::uint64_t requested = 0;
  if (auto text = c.get("MaxPayloadSizeToTargetInBytes")) {
    auto n = parse_number(*text);
    if (!n) {
      log("ERROR: MaxPayloadSizeToTargetInBytes is not a number");
      reply("NAK", supported);
      event("configure: NAK, MaxPayloadSizeToTargetInBytes is not a number");
      return;
    }
    requested = *n;
  }
  if (requested > supported) {
    // The field message QFirehose users see before it configures again with the NAK's value.
    log(fmt::format("NAK: MaxPayloadSizeToTargetInBytes sent by host {} larger than supported {}", requested, supported));
    reply("NAK", supported);
    event(fmt::format("configure: NAK, MaxPayloadSizeToTargetInBytes {} > {}", requested, supported));
    return;
  }
  agreed_payload_ = requested == 0 ? supported : static_cast<std::uint32_t>(requested);
  log(fmt::format("INFO: configure MemoryName {} MaxPayloadSizeToTargetInBytes {}", config_.memory_name, agreed_payload_));
  reply("ACK", agreed_payload_);
  event(fmt::format("configure MemoryName {} MaxPayloadSizeToTargetInBytes {}: ACK", config_.memory_name, agreed_payload_));
}

// Where a program / read / erase lands. Checked in the order that gives the field messages: a
// package for another NAND geometry (p2K_b128K on a p4K_b256K part) is "start_sector unaligned"
// before its sector size is compared.
std::optional<Target::Extent> Target::extent(const Command& c, bool aligned, std::string& why) const {
  Extent e;
  e.sector_size = storage_.page_size();
  if (auto text = c.get("SECTOR_SIZE_IN_BYTES")) {
    auto n = parse_number(*text);
    if (!n || *n == 0 || *n > (1u << 20)) {
      why = "SECTOR_SIZE_IN_BYTES is not a usable sector size";
      return std::nullopt;
    }
    e.sector_size = static_cast<std::uint32_t>(*n);
  }
  if (e.sector_size == 0) {
    why = "the storage reports no page size";
    return std::nullopt;
  }
  if (auto text = c.get("physical_partition_number")) {
    auto n = parse_number(*text);
    if (!n || *n != 0) {
      why = fmt::format("physical_partition_number {} does not exist ({} has only 0)", n ? std::to_string(*n) : "?",
                        config_.memory_name);
      return std::nullopt;
    }
  }
  auto start = c.get("start_sector");
  auto sectors = c.get("num_partition_sectors");
  if (!start || !sectors) {
    why = !start ? "start_sector missing" : "num_partition_sectors missing";
    return std::nullopt;
  }
  if (!trim(*start).empty() && trim(*start).front() == '-') {
    // libqmi's Sierra .cwe download uses start_sector="-1" (firmware-defined placement).
    why = "start_sector -1 (placement by the programmer) is not supported";
    return std::nullopt;
  }
  auto s = Expression(*start, storage_.size_bytes() / e.sector_size, nullptr).evaluate();
  auto n = parse_number(*sectors);
  if (!s || !n) {
    why = !s ? "start_sector is not a number" : "num_partition_sectors is not a number";
    return std::nullopt;
  }
  e.start_sector = *s;
  e.sectors = *n;
  const std::uint64_t size = storage_.size_bytes();
  bool overflow = __builtin_mul_overflow(e.start_sector, std::uint64_t{e.sector_size}, &e.offset) ||
                  __builtin_mul_overflow(e.sectors, std::uint64_t{e.sector_size}, &e.length);
  if (!overflow && aligned && e.offset % block() != 0) {
    why = "start_sector unaligned";
    return std::nullopt;
  }
  if (e.sector_size != storage_.page_size()) {
    why = fmt::format("SECTOR_SIZE_IN_BYTES {} does not match the {} page size {}", e.sector_size, config_.memory_name,
                      storage_.page_size());
    return std::nullopt;
  }
  if (overflow || e.offset > size || e.length > size - e.offset) {
    why = fmt::format("start_sector {} + {} sectors is beyond the end of {} ({} sectors)", e.start_sector, e.sectors,
                      config_.memory_name, size / e.sector_size);
    return std::nullopt;
  }
  return e;
}

// <program .../> -> ACK rawmode="true" -> num_partition_sectors * SECTOR_SIZE_IN_BYTES bytes ->
// ACK rawmode="false". Each piece is written as it arrives, so a power cut leaves exactly what
// arrived.
void Target::program(const Command& c) {
  std::string why;
  if (auto start = c.get("start_sector"); start && !trim(*start).empty() && trim(*start).front() == '-' &&
                                          storage_.places_images()) {
    return program_placed(c);
  }
  auto e = extent(c, true, why);
  if (!e) {
    std::string label = fmt::format("program start_sector {} x {} sectors of {}", shown(c.get("start_sector").value_or("?")),
                                     shown(c.get("num_partition_sectors").value_or("?")),
                                     shown(c.get("SECTOR_SIZE_IN_BYTES").value_or("?")));
    nak(why);
    event(fmt::format("{}: NAK, {}", label, why));
    return;
  }
  program_ = Program{e->offset, e->length, 0, false, false, fmt::format("program start_sector {} x {} sectors of {}",
                                                                  e->start_sector, e->sectors, e->sector_size),
                     ""};
  respond("ACK", true);
  // Zero sectors: a raw phase of no bytes. qdl and QFirehose both wait for the second reply.
  if (program_.total == 0) {
    finish_program();
    return;
  }
  state_ = State::kProgramData;
}

// <program start_sector="-1" num_partition_sectors="N" .../>: N sectors (an image and its zero
// padding) that the storage places itself.
void Target::program_placed(const Command& c) {
  std::uint32_t sector_size = storage_.page_size();
  if (auto text = c.get("SECTOR_SIZE_IN_BYTES")) {
    auto n = parse_number(*text);
    if (!n || *n != sector_size) {
      nak(fmt::format("SECTOR_SIZE_IN_BYTES must be {}", sector_size));
      event(fmt::format("program start_sector -1: NAK, SECTOR_SIZE_IN_BYTES {} is not {}", shown(*text), sector_size));
      return;
    }
  }
  auto sectors = c.get("num_partition_sectors");
  auto n = sectors ? parse_number(*sectors) : std::nullopt;
  std::uint64_t length = 0;
  std::string why;
  if (!n || *n == 0) {
    why = sectors ? "num_partition_sectors is not a number of sectors" : "num_partition_sectors missing";
  } else if (__builtin_mul_overflow(*n, std::uint64_t{sector_size}, &length) || length > storage_.size_bytes()) {
    why = fmt::format("{} sectors do not fit the {} ({} sectors)", *n, config_.memory_name, storage_.size_bytes() / sector_size);
  } else {
    storage_.begin_placed(length, why);
  }
  std::string label = fmt::format("program start_sector -1 x {} sectors of {}", shown(sectors.value_or("?")), sector_size);
  if (!why.empty()) {
    nak(why);
    event(fmt::format("{}: NAK, {}", label, why));
    return;
  }
  program_ = Program{0, length, 0, false, true, label, ""};
  respond("ACK", true);
  state_ = State::kProgramData;
}

std::size_t Target::raw(ByteView bytes) {
  // A document's trailing newline that arrived as a piece of its own (qdl splits its writes into
  // 512-byte packets: "</data>" can end one, "\n" is the next). Data pieces are sectors or USB
  // packets, never one or two newline bytes at the very start.
  if (!program_.started && bytes.size() <= 2 &&
      std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == '\n' || b == '\r'; })) {
    return bytes.size();
  }
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), program_.total - program_.done));
  program_.started = true;
  if (program_.error.empty()) {
    std::string error;
    bool ok = program_.placed ? storage_.write_placed(bytes.first(n), error)
                              : storage_.write(program_.offset + program_.done, bytes.first(n), error);
    if (!ok) {
      program_.error = fmt::format("write at byte {} failed: {}", program_.offset + program_.done,
                                   error.empty() ? "storage error" : error);
    }
  }
  program_.done += n;
  if (hooks_.program_progress) hooks_.program_progress(program_.done, program_.total);
  if (program_.done == program_.total) finish_program();
  return n;
}

void Target::finish_program() {
  state_ = State::kXml;
  if (program_.placed && program_.error.empty()) {
    std::string error;
    if (!storage_.finish_placed(error)) program_.error = error.empty() ? "the image was refused" : error;
  }
  if (!program_.error.empty()) {
    log(fmt::format("ERROR: {}", program_.error));
    respond("NAK", false);
    event(fmt::format("{}: NAK, {}", program_.label, program_.error));
    return;
  }
  respond("ACK", false);
  event(fmt::format("{}: ACK", program_.label));
}

// <read .../> -> ACK rawmode="true" -> the sectors in max_payload_from_target chunks -> ACK
// rawmode="false" (edl needs both attributes). Reads need no block alignment: edl reads sector 1
// right after configure, and NAND reads pages.
void Target::read(const Command& c) {
  std::string why;
  auto e = extent(c, false, why);
  if (!e) {
    nak(why);
    event(fmt::format("read: NAK, {}", why));
    return;
  }
  std::string label = fmt::format("read start_sector {} x {} sectors of {}", e->start_sector, e->sectors, e->sector_size);
  respond("ACK", true);
  std::string failure;
  for (std::uint64_t done = 0; done < e->length;) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(config_.max_payload_from_target, e->length - done));
    Bytes chunk;
    std::string error;
    if (failure.empty() && (!storage_.read(e->offset + done, n, chunk, error) || chunk.size() != n)) {
      failure = fmt::format("read at byte {} failed: {}", e->offset + done, error.empty() ? "short read" : error);
    }
    // After a failure the host still gets exactly the bytes it was promised.
    if (!failure.empty()) chunk.assign(n, 0xff);
    output_(chunk);
    done += n;
  }
  if (!failure.empty()) {
    log(fmt::format("ERROR: {}", failure));
    respond("NAK", false);
    event(fmt::format("{}: NAK, {}", label, failure));
    return;
  }
  respond("ACK", false);
  event(fmt::format("{}: ACK", label));
}

// <erase start_sector num_partition_sectors [SECTOR_SIZE_IN_BYTES PAGES_PER_BLOCK]/>, or with
// only physical_partition_number: the whole device. NAND erases whole blocks, so the length is
// rounded up to a block (within the device).
void Target::erase(const Command& c) {
  std::uint64_t offset = 0, length = 0;
  std::string label;
  if (!c.has("start_sector") && !c.has("num_partition_sectors")) {
    auto ppn = c.get("physical_partition_number");
    auto n = ppn ? parse_number(*ppn) : std::optional<std::uint64_t>(0);
    if (!n || *n != 0) {
      std::string why = fmt::format("physical_partition_number does not exist ({} has only 0)", config_.memory_name);
      nak(why);
      event(fmt::format("erase: NAK, {}", why));
      return;
    }
    length = storage_.size_bytes();
    label = "erase physical_partition_number 0 (whole device)";
  } else {
    std::string why;
    auto e = extent(c, true, why);
    if (!e) {
      nak(why);
      event(fmt::format("erase start_sector {}: NAK, {}", shown(c.get("start_sector").value_or("?")), why));
      return;
    }
    offset = e->offset;
    std::uint64_t blocks = e->length / block() + (e->length % block() != 0);
    length = std::min(blocks * block(), storage_.size_bytes() - offset);
    label = fmt::format("erase start_sector {} x {} sectors of {}", e->start_sector, e->sectors, e->sector_size);
  }
  std::string error;
  if (length > 0 && !storage_.erase(offset, length, error)) {
    std::string why = fmt::format("erase failed: {}", error.empty() ? "storage error" : error);
    nak(fmt::format("ERROR: {}", why));
    event(fmt::format("{}: NAK, {}", label, why));
    return;
  }
  respond("ACK");
  event(fmt::format("{}: ACK", label));
}

// <patch SECTOR_SIZE_IN_BYTES byte_offset filename physical_partition_number size_in_bytes
// start_sector value/>: filename="DISK" patches the flash (read-modify-write of the sectors it
// touches); any other file is the host's business (QFirehose sends only DISK patches).
void Target::patch(const Command& c) {
  std::string_view filename = c.get("filename").value_or("");
  if (!iequals(trim(filename), "DISK")) {
    log(fmt::format("INFO: patch for file {} ignored (not DISK)", shown(filename)));
    respond("ACK");
    event(fmt::format("patch for file {}: ACK, ignored", shown(filename)));
    return;
  }
  auto fail = [&](const std::string& why) {
    nak(why);
    event(fmt::format("patch DISK: NAK, {}", why));
  };
  std::uint64_t sector = storage_.page_size();
  if (auto text = c.get("SECTOR_SIZE_IN_BYTES")) {
    auto n = parse_number(*text);
    if (!n || *n != storage_.page_size()) {
      return fail(fmt::format("SECTOR_SIZE_IN_BYTES {} does not match the {} page size {}", n ? std::to_string(*n) : "?",
                              config_.memory_name, storage_.page_size()));
    }
  }
  if (sector == 0) return fail("the storage reports no page size");
  if (auto text = c.get("physical_partition_number")) {
    auto n = parse_number(*text);
    if (!n || *n != 0) return fail(fmt::format("physical_partition_number does not exist ({} has only 0)", config_.memory_name));
  }
  const std::uint64_t size = storage_.size_bytes();
  auto crc = [this, sector, size](std::uint64_t at_sector, std::uint64_t bytes) -> std::optional<std::uint32_t> {
    std::uint64_t offset = 0;
    if (bytes > kMaxCrcBytes || __builtin_mul_overflow(at_sector, sector, &offset) || offset > size ||
        bytes > size - offset) {
      return std::nullopt;
    }
    Bytes data;
    std::string error;
    if (!storage_.read(offset, static_cast<std::size_t>(bytes), data, error) || data.size() != bytes) return std::nullopt;
    return crc32(data);
  };
  auto start = c.get("start_sector");
  auto byte_offset = c.get("byte_offset");
  auto width = c.get("size_in_bytes");
  auto value = c.get("value");
  if (!start || !byte_offset || !width || !value) return fail("patch needs start_sector, byte_offset, size_in_bytes and value");
  auto s = Expression(*start, size / sector, nullptr).evaluate();
  auto b = parse_number(*byte_offset);
  auto w = parse_number(*width);
  if (!s || !b || !w || *w == 0 || *w > 8) return fail("patch: start_sector, byte_offset or size_in_bytes (1..8) unusable");
  auto v = Expression(*value, size / sector, crc).evaluate();
  if (!v) return fail("patch: value is not a number or expression this target evaluates");
  std::uint64_t offset = 0;
  if (__builtin_mul_overflow(*s, sector, &offset) || __builtin_add_overflow(offset, *b, &offset) || offset > size ||
      *w > size - offset) {
    return fail(fmt::format("patch beyond the end of {}", config_.memory_name));
  }
  std::uint64_t first = offset / sector * sector;
  std::uint64_t last = std::min((offset + *w + sector - 1) / sector * sector, size);
  Bytes data;
  std::string error;
  if (!storage_.read(first, static_cast<std::size_t>(last - first), data, error) || data.size() != last - first) {
    return fail(fmt::format("patch read failed: {}", error.empty() ? "short read" : error));
  }
  for (std::uint64_t i = 0; i < *w; ++i) data[offset - first + i] = static_cast<std::uint8_t>(*v >> (8 * i));
  if (!storage_.write(first, data, error)) {
    return fail(fmt::format("patch write failed: {}", error.empty() ? "storage error" : error));
  }
  respond("ACK");
  event(fmt::format("patch DISK start_sector {} byte_offset {} size_in_bytes {} value {:#x}: ACK", *s, *b, *w,
                    *v & (*w == 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * *w)) - 1)));
}

// getstorageinfo (libqmi: getStorageInfo). Three readers: edl json-parses the line with
// "storage_info" (page_size, num_physical, block_size, total_blocks) and splits the others at
// '=' (SECTOR_SIZE_IN_BYTES, num_physical_partitions); libqmi needs the key=value lines
// sector_size_in_bytes, num_partition_sectors, total_sector_size_in_bytes and pages_in_block, or
// it stops with "unknown sector size".
void Target::storage_info(const Command& c) {
  if (auto ppn = c.get("physical_partition_number")) {
    auto n = parse_number(*ppn);
    if (!n || *n != 0) {
      std::string why = fmt::format("physical_partition_number does not exist ({} has only 0)", config_.memory_name);
      nak(why);
      event(fmt::format("{}: NAK, {}", c.name, why));
      return;
    }
  }
  const std::uint64_t size = storage_.size_bytes();
  log(fmt::format("SECTOR_SIZE_IN_BYTES={}", storage_.page_size()));
  log(fmt::format("num_partition_sectors={}", size / page()));
  log(fmt::format("total_sector_size_in_bytes={}", storage_.page_size()));
  log(fmt::format("pages_in_block={}", storage_.pages_per_block()));
  log("num_physical_partitions=1");
  // NAND: total_blocks erase blocks of block_size bytes, as total_blocks * block_size is the
  // device size on eMMC and UFS too.
  log(fmt::format("INFO: {{\"storage_info\": {{\"total_blocks\":{}, \"block_size\":{}, \"page_size\":{}, "
                  "\"num_physical\":1, \"manufacturer_id\":{}, \"serial_num\":{}, \"fw_version\":\"{}\","
                  "\"mem_type\":\"{}\",\"prod_name\":\"{}\"}}}}",
                  size / block(), block(), storage_.page_size(), config_.manufacturer_id, config_.serial_num,
                  config_.fw_version, mem_type(config_.memory_name), config_.prod_name));
  respond("ACK");
  event(fmt::format("{}: ACK", c.name));
}

void Target::set_bootable(const Command& c) {
  if (!bootable_drive_supported(config_.memory_name)) {
    std::string why = fmt::format("ERROR: setbootablestoragedrive is not supported on {}", mem_type(config_.memory_name));
    nak(why);
    event(fmt::format("setbootablestoragedrive: NAK, not supported on {}", mem_type(config_.memory_name)));
    return;
  }
  auto n = parse_number(c.get("value").value_or(""));
  if (!n) {
    nak("ERROR: setbootablestoragedrive value is not a number");
    event("setbootablestoragedrive: NAK, value is not a number");
    return;
  }
  respond("ACK");
  event(fmt::format("setbootablestoragedrive {}: ACK", *n));
}

// <power value="reset"|"off" [DelayInSeconds]/>: ACK first (QFirehose and qdl wait for it), then
// the hook; nothing the host sends after that is read.
void Target::power(const Command& c) {
  std::string action;
  for (char ch : trim(c.get("value").value_or(""))) action.push_back(lower(ch));
  std::uint64_t delay = 0;
  if (auto text = c.get("DelayInSeconds")) {
    auto n = parse_number(*text);
    if (!n) {
      nak("ERROR: DelayInSeconds is not a number");
      event("power: NAK, DelayInSeconds is not a number");
      return;
    }
    delay = std::min<std::uint64_t>(*n, 3600);
  }
  if (action != "reset" && action != "off") {
    nak(fmt::format("ERROR: power value {} is not supported (reset, off)", shown(action)));
    event(fmt::format("power {}: NAK, unsupported", shown(action)));
    return;
  }
  respond("ACK");
  state_ = State::kAfterPower;
  xml_.clear();
  event(fmt::format("power {} DelayInSeconds {}: ACK", action, delay));
  if (hooks_.power) hooks_.power(action, static_cast<std::uint32_t>(delay));
}

}  // namespace modemu::protocols::firehose
