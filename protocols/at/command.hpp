#pragma once
// AT command line parsing (3GPP TS 27.007 section 4, ITU-T V.250 section 5.2).
//
// A command line is "AT" followed by any number of commands:
//   basic commands      E0 V1 Q0 Z &F I S3=13 S3? D<dial string>   (V.250 5.3, 6.2)
//   extended commands   +CMD, +CMD?, +CMD=?, +CMD=<args>, separated by ';'  (27.007 4.1, 4.2)
// Vendors use other prefixes for extended commands (Sierra "!", some "$", "%", "^", "_").
// Parsing works on the text of one line without the terminating S3 character.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modemu::protocols::at {

enum class CommandKind {
  kBasic,   // E0, V1, I, &F, S3=13 ... (name holds the letter(s), args[0] the value if any)
  kAction,  // +CMD       execute
  kRead,    // +CMD?      read current value
  kTest,    // +CMD=?     list supported values
  kSet,     // +CMD=args  set
};

// One argument of an extended command. Quoted strings keep their quotes removed; an omitted
// argument ("AT+X=1,,3") is empty with omitted set.
struct Argument {
  std::string text;
  bool quoted = false;
  bool omitted = false;

  // The argument as an integer in [min, max], or nothing when it is not a plain decimal in range.
  std::optional<long> as_int(long min, long max) const;
};

struct Command {
  CommandKind kind = CommandKind::kAction;
  std::string name;  // upper-case: "E", "&F", "S3", "+CSQ", "!GSTATUS", "D"
  std::vector<Argument> args;
  std::string raw_args;  // the argument text as sent (dial strings, vendor commands)

  // "AT+CSQ?"-style rendering, for logs.
  std::string to_string() const;
};

struct ParseError {
  std::size_t column = 0;  // 0-based offset in the line
  std::string message;
};

struct ParsedLine {
  std::vector<Command> commands;  // empty for a bare "AT"
  std::optional<ParseError> error;
};

// Parses one command line. The line must start with "AT" (any case). Parsing stops at the first
// error; commands before it are returned so the caller may decide (V.250: none are executed).
ParsedLine parse_line(std::string_view line);

}  // namespace modemu::protocols::at
