#pragma once
// One event log for everything that happens (DESIGN.md "Events"): state changes, enumerations,
// protocol exchange summaries and faults, each with the clock's time. Sinks subscribe to it:
// the live console printer, JSON lines files, tests waiting on an event, later the gRPC stream.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "emulator/clock.hpp"

namespace modemu::emulator {

struct Event {
  std::uint64_t seq = 0;
  Duration t{};        // clock time since start
  std::string modem;   // modem id, or "" for the process
  std::string kind;    // "power", "usb.plug", "usb.unplug", "port.up", "at", ...
  std::string message; // readable summary
  std::vector<std::pair<std::string, std::string>> fields;

  std::string_view field(std::string_view key) const;
};

class EventLog {
 public:
  using Subscriber = std::function<void(const Event&)>;
  using SubscriptionId = std::uint64_t;
  static constexpr std::size_t kDefaultHistory = 10'000;

  explicit EventLog(const Clock& clock, std::size_t history = kDefaultHistory);

  void emit(std::string modem, std::string kind, std::string message,
            std::vector<std::pair<std::string, std::string>> fields = {});

  SubscriptionId subscribe(Subscriber subscriber);
  void unsubscribe(SubscriptionId id);
  // The most recent events, oldest first (bounded).
  const std::deque<Event>& history() const { return history_; }

 private:
  const Clock& clock_;
  std::size_t history_limit_;
  std::uint64_t next_seq_ = 1;
  SubscriptionId next_sub_ = 1;
  std::map<SubscriptionId, Subscriber> subscribers_;
  std::deque<Event> history_;
};

// "[   12.345] eg12 power: booting -> application (boot complete)"
std::string format_text(const Event& event);
// {"seq":1,"t":12.345,"modem":"eg12","kind":"power","message":"...","from":"booting",...}
std::string format_json(const Event& event);
std::string json_escape(std::string_view text);

}  // namespace modemu::emulator
