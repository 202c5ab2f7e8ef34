#pragma once
// QMI messages and TLVs described once, as data (STYLE.md, libqmi's habit in our own format).
// From a message's description follow: validation of what a host sends, encoding of what the
// modem answers, and readable printing with personal fields redacted.
//
// A TLV's layout is a line of fields "name:type ...", types:
//   u8 u16 u32 u64 i8 i16 i32     little-endian integers
//   str                           the rest of the TLV as text
//   str8 / str16                  text with a u8 / u16 length before it
//   bytesN                        exactly N bytes (bytes16 for a unique id)
//   bytes                         the rest of the TLV
//   name:list8(fields) / list16   a u8 / u16 count, then that many records of the fields
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/bytes.hpp"
#include "protocols/qmi/qmux.hpp"

namespace modemu::protocols::qmi {

enum class FieldType { kU8, kU16, kU32, kU64, kI8, kI16, kI32, kString, kString8, kString16, kFixedBytes, kBytes, kList8, kList16 };

struct Field {
  std::string name;
  FieldType type = FieldType::kU8;
  std::size_t size = 0;       // kFixedBytes
  std::vector<Field> items;   // kList8 / kList16
};

struct TlvDef {
  std::uint8_t type = 0;
  std::string name;
  std::vector<Field> fields;
  bool personal = false;   // IMEI, IMSI, ICCID...: redacted in logs unless asked for
  bool mandatory = false;  // a request without it gets MISSING_ARGUMENT
};

struct MessageDef {
  std::uint8_t service = 0;
  std::uint16_t id = 0;
  std::string name;
  std::vector<TlvDef> request;
  std::vector<TlvDef> response;   // besides the result TLV 0x02, which every response has
  std::vector<TlvDef> indication;

  const TlvDef* find(MessageType type, std::uint8_t tlv) const;
};

// One decoded value: an integer (signed ones sign-extended into the u64), a text or byte
// string, or the records of a list.
struct Value;
using Record = std::vector<Value>;
struct Value {
  std::uint64_t number = 0;
  std::string text;
  std::vector<Record> items;

  Value() = default;
  Value(std::uint64_t n) : number(n) {}  // NOLINT: values are written inline in handlers
  Value(std::int64_t n) : number(static_cast<std::uint64_t>(n)) {}  // NOLINT
  Value(int n) : number(static_cast<std::uint64_t>(static_cast<std::int64_t>(n))) {}  // NOLINT
  Value(unsigned n) : number(n) {}  // NOLINT
  Value(std::string s) : text(std::move(s)) {}  // NOLINT
  Value(const char* s) : text(s) {}  // NOLINT
  Value(std::vector<Record> list) : items(std::move(list)) {}  // NOLINT
  std::int64_t as_signed() const { return static_cast<std::int64_t>(number); }
};

// Parses a layout line; throws std::invalid_argument naming the bad token.
std::vector<Field> parse_layout(std::string_view layout);

// Encodes a record for a TLV; throws std::invalid_argument when the record does not fit the
// layout (a programming error in a service, caught by the golden tests).
Bytes encode_tlv(const TlvDef& def, const Record& record);
// Decodes a TLV value; nothing (and `error` says why) when it does not match the layout.
std::optional<Record> decode_tlv(const TlvDef& def, ByteView value, std::string* error = nullptr);
// "imei=<personal>", "services=[{service=1 major=1 minor=67} ...]".
std::string format_record(const TlvDef& def, const Record& record, bool show_personal);

// The schema of every message the emulator serves.
const std::vector<MessageDef>& messages();
const MessageDef* find_message(std::uint8_t service, std::uint16_t id);
std::string service_name(std::uint8_t service);

// "DMS Get IDs response txn=2 client=1: result=success esn=0 imei=<personal> ..."; unknown
// messages and TLVs are printed in hex.
std::string describe(const Message& message, bool show_personal = false);

}  // namespace modemu::protocols::qmi
