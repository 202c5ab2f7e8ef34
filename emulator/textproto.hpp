#pragma once
// Protobuf text-format files (profiles, scenarios): parsing with errors that name
// file:line:column, and a locator that points semantic errors at the field that caused them.
#include <filesystem>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <google/protobuf/message.h>
#include <google/protobuf/text_format.h>

namespace modemu::emulator {

class TextProtoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The file's text; throws TextProtoError "FILE: cannot be read".
std::string read_text_file(const std::filesystem::path& file);

// Parses `text` into `message`, recording where each field was written in `tree`. Throws
// TextProtoError "ORIGIN:LINE:COLUMN: what" on the first syntax error.
void parse_text_proto(std::string_view text, const std::string& origin, google::protobuf::Message& message,
                      google::protobuf::TextFormat::ParseInfoTree& tree);

// Finds where a field was written, through the parser's location tree, for semantic errors.
class Locator {
 public:
  Locator(const std::string& origin, const google::protobuf::TextFormat::ParseInfoTree& tree)
      : origin_(origin), tree_(&tree) {}

  // path: {"usb", 0}, {"interfaces", 2}, {"bInterfaceNumber", 0}. Throws TextProtoError
  // "ORIGIN:LINE:COLUMN: usb[0].interfaces[2].bInterfaceNumber: message".
  [[noreturn]] void fail(const google::protobuf::Descriptor* root,
                         std::initializer_list<std::pair<const char*, int>> path, const std::string& message) const;

 private:
  std::string origin_;
  const google::protobuf::TextFormat::ParseInfoTree* tree_;
};

}  // namespace modemu::emulator
