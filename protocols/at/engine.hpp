#pragma once
// A line-oriented AT command engine (ITU-T V.250 section 5, 3GPP TS 27.007 section 4).
//
// The engine owns what V.250 makes a property of the port: command line assembly (S3, S4, S5),
// echo (E), result code format (V, Q), error reporting (+CMEE) and the S-registers. Everything
// else is asked of a Dispatcher. Unsolicited result codes are held while a command line is
// being entered or executed and go out between responses, never inside one (27.007 4.1).
//
// No I/O: bytes come in through receive(), bytes go out through the Output callback.
#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/at/command.hpp"
#include "protocols/at/result.hpp"

namespace modemu::protocols::at {

// Information text of one command, one entry a line (an empty entry is an empty line).
struct Response {
  std::vector<std::string> lines;
  void add(std::string line) { lines.push_back(std::move(line)); }
};

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  // Executes one command. Returns nothing when the command is unknown to this port.
  virtual std::optional<Outcome> execute(const Command& command, Response& response) = 0;
  // ATZ / AT&F restored the port's defaults: reset per-port settings kept by the dispatcher.
  virtual void reset_port_settings() {}
};

struct Settings {
  bool echo = true;      // E
  bool verbose = true;   // V
  bool quiet = false;    // Q
  int cmee = 0;          // +CMEE: 0 ERROR, 1 numeric, 2 verbose
  std::array<std::uint8_t, 13> s{0, 0, 43, 13, 10, 8, 2, 50, 2, 0, 15, 0, 0};  // S0..S12

  std::uint8_t s3() const { return s[3]; }  // command line termination character
  std::uint8_t s4() const { return s[4]; }  // response formatting character
  std::uint8_t s5() const { return s[5]; }  // command line editing character
};

// What the engine reports of each executed command line, for the event log.
struct LineReport {
  std::string line;
  Outcome outcome;
};

class Engine {
 public:
  using Output = std::function<void(std::string_view)>;
  using Observer = std::function<void(const LineReport&)>;

  // V.250 does not bound a command line; real modules accept a few hundred characters.
  static constexpr std::size_t kMaxLineLength = 2048;

  Engine(Dispatcher& dispatcher, Output output);

  // Bytes from the host.
  void receive(std::string_view bytes);
  // An unsolicited result code; delivered now if the port is idle, or after the current line.
  void urc(std::string_view text);
  // Drops a partly entered line and any held URCs (the host opened the port afresh).
  void clear_input();

  const Settings& settings() const { return settings_; }
  void set_observer(Observer observer) { observer_ = std::move(observer); }

 private:
  void execute_line(const std::string& line);
  std::optional<Outcome> execute_builtin(const Command& command, Response& response);
  void write_information(const Response& response);
  void write_final(const Outcome& outcome);
  void write_urc(std::string_view text);
  void flush_urcs();

  Dispatcher& dispatcher_;
  Output output_;
  Observer observer_;
  Settings settings_;
  std::string line_;
  bool overflow_ = false;
  std::string last_line_;
  std::deque<std::string> held_urcs_;
  bool executing_ = false;
};

}  // namespace modemu::protocols::at
