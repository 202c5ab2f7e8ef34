#pragma once
// Every timer of the emulator goes through one Clock (DESIGN.md "Clock"): real time when a real
// host is attached, virtual time for tests and fast-forwarded scenarios. Nothing sleeps.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <map>
#include <memory>
#include <utility>

#include <boost/asio/io_context.hpp>

namespace modemu::emulator {

using Duration = std::chrono::nanoseconds;
// Time since the clock's epoch (its construction): the same type for real and virtual time.
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

class Clock {
 public:
  using TimerId = std::uint64_t;
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  // Calls fn once after delay, from the clock's executor. Never calls it from inside call_after.
  virtual TimerId call_after(Duration delay, std::function<void()> fn) = 0;
  // Cancels a timer that has not fired; cancelling a fired or unknown timer does nothing.
  virtual void cancel(TimerId id) = 0;
  // Time elapsed since the clock started.
  Duration elapsed() const { return now().time_since_epoch(); }
};

// A one-shot timer owned by an object: cancelled when restarted or destroyed, so a callback
// never reaches an object that is gone.
class Timer {
 public:
  explicit Timer(Clock& clock) : clock_(&clock) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer() { cancel(); }

  void start(Duration delay, std::function<void()> fn);
  void cancel();
  bool pending() const { return id_ != 0; }

 private:
  Clock* clock_;
  Clock::TimerId id_ = 0;
};

// Virtual time: time moves only when the test or the scenario engine advances it. Timers due at
// the same instant fire in the order they were set.
class VirtualClock final : public Clock {
 public:
  TimePoint now() const override { return now_; }
  TimerId call_after(Duration delay, std::function<void()> fn) override;
  void cancel(TimerId id) override;

  // Runs every timer due within `by`, moving time to each one's instant, then to now + by.
  // Returns the number of timers fired.
  std::size_t advance(Duration by);
  // Fires the next timer, whenever it is due. Returns false when none is set.
  bool run_next();
  // Runs timers until none is left or `limit` have fired; returns how many fired.
  std::size_t run_until_idle(std::size_t limit = 1'000'000);
  std::size_t pending() const { return timers_.size(); }
  // When the next timer is due, if one is set.
  std::optional<TimePoint> next_due() const {
    if (timers_.empty()) return std::nullopt;
    return timers_.begin()->first.at;
  }

 private:
  struct Key {
    TimePoint at;
    TimerId id;
    bool operator<(const Key& o) const { return at != o.at ? at < o.at : id < o.id; }
  };
  TimePoint now_{};
  TimerId next_id_ = 1;
  std::map<Key, std::function<void()>> timers_;
  std::map<TimerId, TimePoint> due_;
};

// Real time on an Asio io_context; callbacks run on that context.
class AsioClock final : public Clock {
 public:
  // `speed`: how many clock seconds pass per real second (scenarios fast-forwarded with
  // --speed N while real clients are attached).
  explicit AsioClock(boost::asio::io_context& io, double speed = 1.0);
  ~AsioClock() override;
  TimePoint now() const override;
  TimerId call_after(Duration delay, std::function<void()> fn) override;
  void cancel(TimerId id) override;

 private:
  struct Entry;
  boost::asio::io_context& io_;
  std::chrono::steady_clock::time_point start_;
  double speed_ = 1.0;
  TimerId next_id_ = 1;
  std::map<TimerId, std::shared_ptr<Entry>> timers_;
};

// Parses "250ms", "7.5s", "2m", "4h" (a bare number is seconds). Returns false on anything else.
bool parse_duration(std::string_view text, Duration& out);
std::string format_duration(Duration d);

}  // namespace modemu::emulator
