#include "emulator/textproto.hpp"

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <google/protobuf/io/tokenizer.h>

namespace modemu::emulator {
namespace pb = google::protobuf;

namespace {

class CollectErrors : public pb::io::ErrorCollector {
 public:
  explicit CollectErrors(std::string origin) : origin_(std::move(origin)) {}
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    if (first_.empty()) first_ = fmt::format("{}:{}:{}: {}", origin_, line + 1, column + 1, message);
  }
  void AddWarning(int, pb::io::ColumnNumber, const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  std::string origin_;
  std::string first_;
};

}  // namespace

std::string read_text_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw TextProtoError(fmt::format("{}: cannot be read", file.string()));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void parse_text_proto(std::string_view text, const std::string& origin, pb::Message& message,
                      pb::TextFormat::ParseInfoTree& tree) {
  pb::TextFormat::Parser parser;
  CollectErrors errors(origin);
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(std::string(text), &message)) {
    throw TextProtoError(errors.first().empty() ? origin + ": cannot be parsed" : errors.first());
  }
}

void Locator::fail(const pb::Descriptor* root, std::initializer_list<std::pair<const char*, int>> path,
                 const std::string& message) const {
  const pb::TextFormat::ParseInfoTree* tree = tree_;
  const pb::Descriptor* desc = root;
  pb::TextFormat::ParseLocation loc;
  std::string field_path;
  for (auto [name, index] : path) {
    const pb::FieldDescriptor* field = desc != nullptr ? desc->FindFieldByName(name) : nullptr;
    if (field == nullptr) break;
    // A message built in code (the gRPC API) has no locations: the path alone names the field.
    if (tree != nullptr) {
      auto here = tree->GetLocation(field, field->is_repeated() ? index : -1);
      if (here.line >= 0) loc = here;
    }
    if (!field_path.empty()) field_path += '.';
    field_path += name;
    if (field->is_repeated()) field_path += fmt::format("[{}]", index);
    if (field->type() == pb::FieldDescriptor::TYPE_MESSAGE) {
      if (tree != nullptr) tree = tree->GetTreeForNested(field, field->is_repeated() ? index : -1);
      desc = field->message_type();
    } else {
      tree = nullptr;
    }
  }
  if (loc.line >= 0) {
    throw TextProtoError(fmt::format("{}:{}:{}: {}: {}", origin_, loc.line + 1, loc.column + 1, field_path, message));
  }
  throw TextProtoError(fmt::format("{}: {}: {}", origin_, field_path.empty() ? "top level" : field_path, message));
}

}  // namespace modemu::emulator
