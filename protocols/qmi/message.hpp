#pragma once
// Requests validated against the schema at the boundary, and responses and indications built
// through it: a service handler never touches TLV bytes.
#include <map>
#include <optional>
#include <string>

#include "protocols/qmi/errors.hpp"
#include "protocols/qmi/qmux.hpp"
#include "protocols/qmi/schema.hpp"

namespace modemu::protocols::qmi {

// A request whose known TLVs decoded according to the schema.
class Request {
 public:
  // Validates `message` against `def`: every TLV the schema knows must match its layout
  // (MALFORMED_MESSAGE otherwise) and every mandatory one must be there (MISSING_ARGUMENT).
  // Unknown TLVs are ignored, as real modules ignore them.
  static std::optional<QmiError> validate(const MessageDef& def, const Message& message, Request& out,
                                          std::string* why = nullptr);

  const Message& message() const { return *message_; }
  bool has(std::uint8_t tlv) const { return fields_.count(tlv) != 0; }
  const Record* get(std::uint8_t tlv) const;
  // The field of a TLV, if the TLV was sent.
  std::optional<std::uint64_t> number(std::uint8_t tlv, std::size_t field = 0) const;
  std::optional<std::string> text(std::uint8_t tlv, std::size_t field = 0) const;

 private:
  const Message* message_ = nullptr;
  std::map<std::uint8_t, Record> fields_;
};

class Reply {
 public:
  Reply(const MessageDef& def, const Message& request);

  // Sets a response TLV from its values; throws std::invalid_argument when the schema has no
  // such TLV or the values do not fit it (a service bug, caught by tests).
  Reply& set(std::uint8_t tlv, Record values);
  // The response fails with `error`; TLVs set so far stay (some errors carry details).
  Reply& fail(QmiError error);
  bool failed() const { return error_ != QmiError::kNone; }
  QmiError error() const { return error_; }
  // The response: result TLV 0x02 first, then the TLVs in the order they were set.
  Message build() const;

 private:
  const MessageDef& def_;
  Message base_;
  QmiError error_ = QmiError::kNone;
};

// A response to a message the schema does not know: failure with INVALID_QMI_COMMAND.
Message unknown_command_reply(const Message& request);

// An indication of `def` to `client_id` (kBroadcastClient for every client).
Message build_indication(const MessageDef& def, std::uint8_t client_id, const std::map<std::uint8_t, Record>& tlvs);

}  // namespace modemu::protocols::qmi
