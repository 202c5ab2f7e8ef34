// The layout language of schema.hpp: parsing, encoding, decoding, printing.
#include <charconv>
#include <stdexcept>

#include <fmt/format.h>

#include "protocols/qmi/errors.hpp"
#include "protocols/qmi/schema.hpp"

namespace modemu::protocols::qmi {
namespace {

std::size_t width_of(FieldType t) {
  switch (t) {
    case FieldType::kU8: case FieldType::kI8: return 1;
    case FieldType::kU16: case FieldType::kI16: return 2;
    case FieldType::kU32: case FieldType::kI32: return 4;
    case FieldType::kU64: return 8;
    default: return 0;
  }
}

bool is_signed(FieldType t) { return t == FieldType::kI8 || t == FieldType::kI16 || t == FieldType::kI32; }

std::vector<Field> parse_fields(std::string_view s, std::size_t& pos, bool nested) {
  std::vector<Field> out;
  while (pos < s.size()) {
    while (pos < s.size() && s[pos] == ' ') ++pos;
    if (pos >= s.size()) break;
    if (s[pos] == ')') {
      if (!nested) throw std::invalid_argument(fmt::format("unbalanced ')' at {} in \"{}\"", pos, s));
      ++pos;
      return out;
    }
    std::size_t colon = s.find(':', pos);
    if (colon == std::string_view::npos) throw std::invalid_argument(fmt::format("field without a type in \"{}\"", s));
    Field f;
    f.name = std::string(s.substr(pos, colon - pos));
    pos = colon + 1;
    std::size_t end = pos;
    while (end < s.size() && s[end] != ' ' && s[end] != '(' && s[end] != ')') ++end;
    std::string_view type = s.substr(pos, end - pos);
    pos = end;
    if (type == "u8") f.type = FieldType::kU8;
    else if (type == "u16") f.type = FieldType::kU16;
    else if (type == "u32") f.type = FieldType::kU32;
    else if (type == "u64") f.type = FieldType::kU64;
    else if (type == "i8") f.type = FieldType::kI8;
    else if (type == "i16") f.type = FieldType::kI16;
    else if (type == "i32") f.type = FieldType::kI32;
    else if (type == "str") f.type = FieldType::kString;
    else if (type == "str8") f.type = FieldType::kString8;
    else if (type == "str16") f.type = FieldType::kString16;
    else if (type == "bytes") f.type = FieldType::kBytes;
    else if (type.starts_with("bytes")) {
      f.type = FieldType::kFixedBytes;
      auto digits = type.substr(5);
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), f.size);
      if (ec != std::errc{} || p != digits.data() + digits.size() || f.size == 0) {
        throw std::invalid_argument(fmt::format("bad type \"{}\" in \"{}\"", type, s));
      }
    } else if (type == "list8" || type == "list16") {
      f.type = type == "list8" ? FieldType::kList8 : FieldType::kList16;
      if (pos >= s.size() || s[pos] != '(') throw std::invalid_argument(fmt::format("{} needs (fields) in \"{}\"", type, s));
      ++pos;
      f.items = parse_fields(s, pos, true);
      if (f.items.empty()) throw std::invalid_argument(fmt::format("empty list in \"{}\"", s));
    } else {
      throw std::invalid_argument(fmt::format("unknown type \"{}\" in \"{}\"", type, s));
    }
    out.push_back(std::move(f));
  }
  if (nested) throw std::invalid_argument(fmt::format("missing ')' in \"{}\"", s));
  return out;
}

void encode_fields(const std::vector<Field>& fields, const Record& record, Writer& w, const std::string& where) {
  if (record.size() != fields.size()) {
    throw std::invalid_argument(fmt::format("{}: {} values for {} fields", where, record.size(), fields.size()));
  }
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const Field& f = fields[i];
    const Value& v = record[i];
    if (std::size_t width = width_of(f.type)) {
      if (width < 8) {
        std::uint64_t limit = std::uint64_t{1} << (8 * width);
        bool fits = is_signed(f.type)
                        ? (v.as_signed() >= -static_cast<std::int64_t>(limit / 2) && v.as_signed() < static_cast<std::int64_t>(limit / 2))
                        : v.number < limit;
        if (!fits) throw std::invalid_argument(fmt::format("{}: {} does not fit {}", where, v.as_signed(), f.name));
      }
      w.le(v.number, width);
      continue;
    }
    switch (f.type) {
      case FieldType::kString:
      case FieldType::kBytes:
        w.text(v.text);
        break;
      case FieldType::kString8:
        if (v.text.size() > 0xff) throw std::invalid_argument(fmt::format("{}: {} longer than 255", where, f.name));
        w.u8(static_cast<std::uint8_t>(v.text.size())).text(v.text);
        break;
      case FieldType::kString16:
        if (v.text.size() > 0xffff) throw std::invalid_argument(fmt::format("{}: {} too long", where, f.name));
        w.le16(static_cast<std::uint16_t>(v.text.size())).text(v.text);
        break;
      case FieldType::kFixedBytes:
        if (v.text.size() != f.size) {
          throw std::invalid_argument(fmt::format("{}: {} needs {} bytes, got {}", where, f.name, f.size, v.text.size()));
        }
        w.text(v.text);
        break;
      case FieldType::kList8:
      case FieldType::kList16:
        if (v.items.size() > (f.type == FieldType::kList8 ? 0xffu : 0xffffu)) {
          throw std::invalid_argument(fmt::format("{}: too many {}", where, f.name));
        }
        w.le(v.items.size(), f.type == FieldType::kList8 ? 1 : 2);
        for (const Record& item : v.items) encode_fields(f.items, item, w, where + "." + f.name);
        break;
      default:
        break;
    }
  }
}

bool decode_fields(const std::vector<Field>& fields, Reader& r, Record& out, std::string& error) {
  for (const Field& f : fields) {
    Value v;
    if (std::size_t width = width_of(f.type)) {
      v.number = r.le(width);
      if (is_signed(f.type) && width < 8 && (v.number >> (8 * width - 1)) != 0) {
        v.number |= ~std::uint64_t{0} << (8 * width);  // sign-extend
      }
    } else {
      switch (f.type) {
        case FieldType::kString:
        case FieldType::kBytes: {
          ByteView b = r.rest();
          v.text.assign(b.begin(), b.end());
          break;
        }
        case FieldType::kString8:
        case FieldType::kString16: {
          std::size_t n = r.le(f.type == FieldType::kString8 ? 1 : 2);
          ByteView b = r.take(n);
          v.text.assign(b.begin(), b.end());
          break;
        }
        case FieldType::kFixedBytes: {
          ByteView b = r.take(f.size);
          v.text.assign(b.begin(), b.end());
          break;
        }
        case FieldType::kList8:
        case FieldType::kList16: {
          std::size_t n = r.le(f.type == FieldType::kList8 ? 1 : 2);
          for (std::size_t i = 0; i < n && r.ok(); ++i) {
            Record item;
            if (!decode_fields(f.items, r, item, error)) return false;
            v.items.push_back(std::move(item));
          }
          break;
        }
        default:
          break;
      }
    }
    if (!r.ok()) {
      error = fmt::format("too short for {}", f.name);
      return false;
    }
    out.push_back(std::move(v));
  }
  return true;
}

bool printable(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

void format_fields(const std::vector<Field>& fields, const Record& record, std::string& out) {
  for (std::size_t i = 0; i < fields.size() && i < record.size(); ++i) {
    const Field& f = fields[i];
    const Value& v = record[i];
    if (i != 0) out += ' ';
    out += f.name;
    out += '=';
    if (width_of(f.type) != 0) {
      out += is_signed(f.type) ? std::to_string(v.as_signed()) : std::to_string(v.number);
    } else if (f.type == FieldType::kList8 || f.type == FieldType::kList16) {
      out += '[';
      for (std::size_t k = 0; k < v.items.size(); ++k) {
        if (k != 0) out += ' ';
        out += '{';
        format_fields(f.items, v.items[k], out);
        out += '}';
      }
      out += ']';
    } else if ((f.type == FieldType::kString || f.type == FieldType::kString8 || f.type == FieldType::kString16) &&
               printable(v.text)) {
      out += '"' + v.text + '"';
    } else {
      out += hex(as_bytes(v.text), 64);
    }
  }
}

}  // namespace

std::vector<Field> parse_layout(std::string_view layout) {
  std::size_t pos = 0;
  return parse_fields(layout, pos, false);
}

const TlvDef* MessageDef::find(MessageType type, std::uint8_t tlv) const {
  const auto& list = type == MessageType::kRequest ? request : type == MessageType::kResponse ? response : indication;
  for (const auto& t : list) {
    if (t.type == tlv) return &t;
  }
  return nullptr;
}

Bytes encode_tlv(const TlvDef& def, const Record& record) {
  Writer w;
  encode_fields(def.fields, record, w, def.name);
  return w.take();
}

std::optional<Record> decode_tlv(const TlvDef& def, ByteView value, std::string* error) {
  Reader r(value);
  Record out;
  std::string why;
  if (!decode_fields(def.fields, r, out, why)) {
    if (error != nullptr) *error = fmt::format("TLV 0x{:02x} ({}): {}", def.type, def.name, why);
    return std::nullopt;
  }
  if (!r.at_end()) {
    if (error != nullptr) *error = fmt::format("TLV 0x{:02x} ({}): {} bytes too many", def.type, def.name, r.remaining());
    return std::nullopt;
  }
  return out;
}

std::string format_record(const TlvDef& def, const Record& record, bool show_personal) {
  if (def.personal && !show_personal) return def.name + "=<personal>";
  if (def.fields.size() == 1 && def.fields[0].type != FieldType::kList8 && def.fields[0].type != FieldType::kList16) {
    std::string inner;
    format_fields(def.fields, record, inner);
    // "imei=..." reads better than "imei={value=...}" for one-field TLVs.
    return def.name + inner.substr(inner.find('='));
  }
  std::string out = def.name + "={";
  format_fields(def.fields, record, out);
  return out + "}";
}

std::string describe(const Message& m, bool show_personal) {
  const MessageDef* def = find_message(m.service, m.message_id);
  std::string kind = m.type == MessageType::kRequest ? "request" : m.type == MessageType::kResponse ? "response" : "indication";
  // An indication shares its id with a "Get ..." message: "NAS Serving System indication".
  std::string name = def != nullptr ? def->name : std::string();
  if (m.type == MessageType::kIndication && name.rfind("Get ", 0) == 0) name = name.substr(4);
  std::string out = def != nullptr ? fmt::format("{} {} {}", service_name(m.service), name, kind)
                                   : fmt::format("{} message 0x{:04x} {}", service_name(m.service), m.message_id, kind);
  out += fmt::format(" client={} txn={}:", m.client_id, m.transaction);
  for (const auto& tlv : m.tlvs) {
    out += ' ';
    if (m.type == MessageType::kResponse && tlv.type == 0x02 && tlv.value.size() == 4) {
      Reader r(tlv.value);
      std::uint16_t status = r.le16();
      std::uint16_t error = r.le16();
      out += status == 0 ? "result=success" : fmt::format("result=failure:{}", error_name(error));
      continue;
    }
    const TlvDef* t = def != nullptr ? def->find(m.type, tlv.type) : nullptr;
    std::optional<Record> record = t != nullptr ? decode_tlv(*t, tlv.value) : std::nullopt;
    if (t != nullptr && record) {
      out += format_record(*t, *record, show_personal);
    } else {
      out += fmt::format("0x{:02x}=[{}]", tlv.type, hex(tlv.value, 64));
    }
  }
  return out;
}

}  // namespace modemu::protocols::qmi
