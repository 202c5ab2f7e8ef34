#include "protocols/at/command.hpp"

#include <charconv>

#include <fmt/format.h>

namespace modemu::protocols::at {
namespace {

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Extended command prefixes: '+' from 27.007; the others are vendor extensions seen on the
// modules we emulate (Sierra '!', Qualcomm '$', vendor '%', '^', '_', '*').
bool is_extended_prefix(char c) {
  return c == '+' || c == '!' || c == '$' || c == '%' || c == '^' || c == '_' || c == '*';
}

// V.250 5.4.1: extended names are letters, digits and ! % - . / : _
bool is_name_char(char c) {
  return is_alpha(c) || is_digit(c) || c == '!' || c == '%' || c == '-' || c == '.' || c == '/' ||
         c == ':' || c == '_';
}

class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool done() const { return pos_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[pos_]; }
  char take() { return s_[pos_++]; }
  std::size_t pos() const { return pos_; }
  void skip_spaces() {
    while (!done() && s_[pos_] == ' ') ++pos_;
  }
  std::string_view rest() const { return s_.substr(pos_); }
  std::string_view since(std::size_t from) const { return s_.substr(from, pos_ - from); }
  void advance(std::size_t n) { pos_ += n; }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

std::optional<ParseError> parse_arguments(Cursor& c, Command& cmd) {
  // Arguments run to the next ';' outside quotes (27.007 4.2: compound values separated by ',').
  std::size_t start = c.pos();
  Argument current;
  bool have_content = false;
  auto finish = [&] {
    if (!have_content && !current.quoted) current.omitted = true;
    cmd.args.push_back(std::move(current));
    current = Argument{};
    have_content = false;
  };
  while (!c.done() && c.peek() != ';') {
    char ch = c.take();
    if (ch == '"') {
      if (have_content || current.quoted) {
        return ParseError{c.pos() - 1, "unexpected quote inside an argument"};
      }
      current.quoted = true;
      bool closed = false;
      while (!c.done()) {
        char q = c.take();
        if (q == '"') {
          closed = true;
          break;
        }
        current.text.push_back(q);
      }
      if (!closed) return ParseError{c.pos(), "unterminated quoted string"};
      c.skip_spaces();
      if (!c.done() && c.peek() != ',' && c.peek() != ';') {
        return ParseError{c.pos(), "expected ',' or ';' after a quoted string"};
      }
    } else if (ch == ',') {
      finish();
    } else if (ch == ' ' && !have_content) {
      // leading spaces are ignored (V.250 5.1)
    } else {
      // Unquoted values are upper-cased like the rest of the command line (V.250 5.1).
      current.text.push_back(upper(ch));
      have_content = true;
    }
  }
  while (!current.text.empty() && current.text.back() == ' ' && !current.quoted) {
    current.text.pop_back();
  }
  finish();
  cmd.raw_args = std::string(c.since(start));
  return std::nullopt;
}

}  // namespace

std::optional<long> Argument::as_int(long min, long max) const {
  if (omitted || quoted || text.empty()) return std::nullopt;
  long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  if (value < min || value > max) return std::nullopt;
  return value;
}

std::string Command::to_string() const {
  switch (kind) {
    case CommandKind::kBasic:
      return name + raw_args;
    case CommandKind::kAction:
      return name;
    case CommandKind::kRead:
      return name + "?";
    case CommandKind::kTest:
      return name + "=?";
    case CommandKind::kSet:
      return name + "=" + raw_args;
  }
  return name;
}

ParsedLine parse_line(std::string_view line) {
  ParsedLine out;
  Cursor c(line);
  c.skip_spaces();
  if (line.size() - c.pos() < 2 || upper(line[c.pos()]) != 'A' || upper(line[c.pos() + 1]) != 'T') {
    out.error = ParseError{c.pos(), "command line does not start with AT"};
    return out;
  }
  c.advance(2);
  while (true) {
    c.skip_spaces();
    if (c.done()) break;
    std::size_t cmd_start = c.pos();
    char ch = c.peek();
    Command cmd;
    if (is_extended_prefix(ch)) {
      cmd.name.push_back(c.take());
      while (!c.done() && is_name_char(c.peek())) cmd.name.push_back(upper(c.take()));
      if (cmd.name.size() == 1) {
        out.error = ParseError{cmd_start, "extended command without a name"};
        return out;
      }
      if (!c.done() && c.peek() == '?') {
        c.take();
        cmd.kind = CommandKind::kRead;
      } else if (!c.done() && c.peek() == '=') {
        c.take();
        if (!c.done() && c.peek() == '?') {
          c.take();
          cmd.kind = CommandKind::kTest;
        } else {
          cmd.kind = CommandKind::kSet;
          if (auto err = parse_arguments(c, cmd)) {
            out.error = err;
            return out;
          }
        }
      } else {
        cmd.kind = CommandKind::kAction;
      }
      c.skip_spaces();
      if (!c.done()) {
        if (c.peek() != ';') {
          out.error = ParseError{c.pos(), fmt::format("unexpected '{}' after {}", c.peek(), cmd.name)};
          return out;
        }
        c.take();
      }
      out.commands.push_back(std::move(cmd));
      continue;
    }
    if (ch == ';') {  // a stray separator between basic commands is tolerated
      c.take();
      continue;
    }
    cmd.kind = CommandKind::kBasic;
    if (upper(ch) == 'D') {
      // V.250 6.3.1: the dial string runs to the end of the line (or a ';' that ends it).
      c.take();
      cmd.name = "D";
      auto rest = c.rest();
      cmd.raw_args.assign(rest.begin(), rest.end());
      c.advance(rest.size());
      out.commands.push_back(std::move(cmd));
      break;
    }
    if (ch == '&') {
      c.take();
      if (c.done() || !is_alpha(c.peek())) {
        out.error = ParseError{cmd_start, "'&' must be followed by a letter"};
        return out;
      }
      cmd.name = std::string("&") + upper(c.take());
    } else if (is_alpha(ch)) {
      cmd.name = std::string(1, upper(c.take()));
      if (cmd.name == "S") {
        // S-parameters: Sn? or Sn=value (V.250 5.3.2)
        std::string number;
        while (!c.done() && is_digit(c.peek())) number.push_back(c.take());
        if (number.empty()) {
          out.error = ParseError{c.pos(), "S-parameter without a number"};
          return out;
        }
        cmd.name += number;
        if (!c.done() && c.peek() == '?') {
          c.take();
          cmd.kind = CommandKind::kRead;
        } else if (!c.done() && c.peek() == '=') {
          c.take();
          cmd.kind = CommandKind::kSet;
          std::string value;
          while (!c.done() && is_digit(c.peek())) value.push_back(c.take());
          cmd.raw_args = value;
          Argument a;
          a.text = value;
          a.omitted = value.empty();
          cmd.args.push_back(std::move(a));
        } else {
          out.error = ParseError{c.pos(), "S-parameter needs '?' or '='"};
          return out;
        }
        out.commands.push_back(std::move(cmd));
        continue;
      }
    } else {
      out.error = ParseError{cmd_start, fmt::format("unexpected character 0x{:02x}", static_cast<unsigned char>(ch))};
      return out;
    }
    // Optional numeric value of a basic command (E0, V1, I3, &F0).
    std::string value;
    while (!c.done() && is_digit(c.peek())) value.push_back(c.take());
    cmd.raw_args = value;
    if (!value.empty()) {
      Argument a;
      a.text = value;
      cmd.args.push_back(std::move(a));
    }
    out.commands.push_back(std::move(cmd));
  }
  return out;
}

}  // namespace modemu::protocols::at
