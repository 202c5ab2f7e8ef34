#include "protocols/at/engine.hpp"

#include <fmt/format.h>

namespace modemu::protocols::at {
namespace {

bool is_repeat(std::string_view line) {
  return line.size() == 2 && (line[0] == 'A' || line[0] == 'a') && line[1] == '/';
}

// Leading white space and stray line feeds before "AT" are not part of the command line.
std::string_view trim_leading(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\0')) {
    s.remove_prefix(1);
  }
  return s;
}

}  // namespace

Engine::Engine(Dispatcher& dispatcher, Output output) : dispatcher_(dispatcher), output_(std::move(output)) {}

void Engine::receive(std::string_view bytes) {
  for (char ch : bytes) {
    const auto byte = static_cast<std::uint8_t>(ch);
    if (settings_.echo) output_(std::string_view(&ch, 1));
    if (byte == settings_.s3()) {
      std::string line = std::move(line_);
      line_.clear();
      if (overflow_) {
        overflow_ = false;
        write_final(Outcome::error());
        flush_urcs();
        continue;
      }
      auto trimmed = trim_leading(line);
      if (trimmed.empty()) continue;  // an empty line is not a command (V.250 5.2.1)
      execute_line(std::string(trimmed));
      continue;
    }
    if (byte == settings_.s5() || byte == 0x7f) {  // command line editing (V.250 6.2.3)
      if (!line_.empty()) line_.pop_back();
      continue;
    }
    if (overflow_) continue;
    if (line_.size() >= kMaxLineLength) {
      overflow_ = true;
      line_.clear();
      continue;
    }
    line_.push_back(ch);
    // "A/" repeats the last command line at once, without S3 (V.250 5.2.4).
    auto trimmed = trim_leading(line_);
    if (is_repeat(trimmed)) {
      line_.clear();
      if (!last_line_.empty()) {
        std::string again = last_line_;
        execute_line(again);
      } else {
        write_final(Outcome::error());
      }
    }
  }
}

void Engine::urc(std::string_view text) {
  if (executing_ || !trim_leading(line_).empty() || overflow_) {
    held_urcs_.emplace_back(text);
    return;
  }
  write_urc(text);
}

void Engine::clear_input() {
  line_.clear();
  overflow_ = false;
  held_urcs_.clear();
}

void Engine::execute_line(const std::string& line) {
  executing_ = true;
  last_line_ = line;
  ParsedLine parsed = parse_line(line);
  Outcome outcome = Outcome::ok();
  if (parsed.error) {
    // V.250 5.2.1: a line with a syntax error executes none of its commands.
    outcome = Outcome::error();
  } else {
    for (const Command& command : parsed.commands) {
      Response response;
      std::optional<Outcome> result = execute_builtin(command, response);
      if (!result) result = dispatcher_.execute(command, response);
      if (!result) result = Outcome::error();  // unknown command
      write_information(response);
      outcome = *result;
      if (!outcome.is_ok()) break;  // V.250 5.2.1: the rest of the line is not executed
    }
  }
  write_final(outcome);
  executing_ = false;
  if (observer_) observer_(LineReport{line, outcome});
  flush_urcs();
}

std::optional<Outcome> Engine::execute_builtin(const Command& command, Response& response) {
  const std::string& name = command.name;
  auto value = [&](long max) -> std::optional<long> {
    if (command.args.empty()) return 0;  // V.250 5.3.1: a missing value means 0
    return command.args[0].as_int(0, max);
  };
  if (name.size() > 1 && name[0] == 'S' && name[1] >= '0' && name[1] <= '9') {
    auto index = Argument{name.substr(1)}.as_int(0, static_cast<long>(settings_.s.size()) - 1);
    if (!index) return Outcome::error();
    auto& reg = settings_.s[static_cast<std::size_t>(*index)];
    if (command.kind == CommandKind::kRead) {
      response.add(fmt::format("{:03}", reg));
      return Outcome::ok();
    }
    auto v = command.args.empty() ? std::optional<long>{} : command.args[0].as_int(0, 255);
    if (!v) return Outcome::error();
    // S3, S4 and S5 hold 7-bit characters (V.250 6.2.1 to 6.2.3).
    if ((*index == 3 || *index == 4 || *index == 5) && *v > 127) return Outcome::error();
    reg = static_cast<std::uint8_t>(*v);
    return Outcome::ok();
  }
  if (command.kind == CommandKind::kBasic) {
    if (name == "E" || name == "V" || name == "Q") {
      auto v = value(1);
      if (!v) return Outcome::error();
      bool on = *v == 1;
      if (name == "E") settings_.echo = on;
      if (name == "V") settings_.verbose = on;
      if (name == "Q") settings_.quiet = on;
      return Outcome::ok();
    }
    if (name == "Z" || name == "&F") {
      auto v = value(0);
      if (!v) return Outcome::error();
      settings_ = Settings{};
      dispatcher_.reset_port_settings();
      return Outcome::ok();
    }
    // Circuit-switched data settings with no effect on a USB port; accepted as real modules do.
    if (name == "&C" || name == "&D" || name == "&W" || name == "X" || name == "L" || name == "M" ||
        name == "&K") {
      return value(9) ? Outcome::ok() : Outcome::error();
    }
    return std::nullopt;
  }
  if (name == "+CMEE") {
    // 27.007 9.1: +CMEE=[<n>]  +CMEE?  +CMEE=?
    switch (command.kind) {
      case CommandKind::kRead:
        response.add(fmt::format("+CMEE: {}", settings_.cmee));
        return Outcome::ok();
      case CommandKind::kTest:
        response.add("+CMEE: (0-2)");
        return Outcome::ok();
      case CommandKind::kAction:
        settings_.cmee = 0;
        return Outcome::ok();
      case CommandKind::kSet: {
        auto v = command.args.size() == 1 ? command.args[0].as_int(0, 2) : std::nullopt;
        if (!v) return Outcome::cme_error(CmeError::kIncorrectParameters);
        settings_.cmee = static_cast<int>(*v);
        return Outcome::ok();
      }
      default:
        return Outcome::error();
    }
  }
  return std::nullopt;
}

void Engine::write_information(const Response& response) {
  if (response.lines.empty()) return;
  const char s3 = static_cast<char>(settings_.s3());
  const char s4 = static_cast<char>(settings_.s4());
  std::string out;
  if (settings_.verbose) out += {s3, s4};
  for (const auto& l : response.lines) {
    out += l;
    out += {s3, s4};
  }
  output_(out);
}

void Engine::write_final(const Outcome& outcome) {
  if (settings_.quiet) return;
  const char s3 = static_cast<char>(settings_.s3());
  const char s4 = static_cast<char>(settings_.s4());
  std::string text;
  if (outcome.cme && settings_.cmee != 0) {
    text = settings_.cmee == 1 ? fmt::format("+CME ERROR: {}", static_cast<int>(*outcome.cme))
                               : fmt::format("+CME ERROR: {}", verbose_text(*outcome.cme));
    // An extended error is information text framed like any other (27.007 9.2).
    output_(settings_.verbose ? fmt::format("{}{}{}{}{}", s3, s4, text, s3, s4) : fmt::format("{}{}{}", text, s3, s4));
    return;
  }
  if (settings_.verbose) {
    output_(fmt::format("{}{}{}{}{}", s3, s4, verbose_text(outcome.code), s3, s4));
  } else {
    output_(fmt::format("{}{}", static_cast<int>(outcome.code), s3));
  }
}

void Engine::write_urc(std::string_view text) {
  const char s3 = static_cast<char>(settings_.s3());
  const char s4 = static_cast<char>(settings_.s4());
  output_(settings_.verbose ? fmt::format("{}{}{}{}{}", s3, s4, text, s3, s4) : fmt::format("{}{}{}", text, s3, s4));
}

void Engine::flush_urcs() {
  while (!held_urcs_.empty() && trim_leading(line_).empty()) {
    std::string text = std::move(held_urcs_.front());
    held_urcs_.pop_front();
    write_urc(text);
  }
}

}  // namespace modemu::protocols::at
