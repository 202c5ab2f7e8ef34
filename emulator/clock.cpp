#include "emulator/clock.hpp"

#include <charconv>
#include <cmath>

#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

namespace modemu::emulator {

void Timer::start(Duration delay, std::function<void()> fn) {
  cancel();
  id_ = clock_->call_after(delay, [this, fn = std::move(fn)] {
    id_ = 0;
    fn();
  });
}

void Timer::cancel() {
  if (id_ != 0) clock_->cancel(id_);
  id_ = 0;
}

Clock::TimerId VirtualClock::call_after(Duration delay, std::function<void()> fn) {
  if (delay < Duration::zero()) delay = Duration::zero();
  TimerId id = next_id_++;
  timers_.emplace(Key{now_ + delay, id}, std::move(fn));
  due_.emplace(id, now_ + delay);
  return id;
}

void VirtualClock::cancel(TimerId id) {
  auto it = due_.find(id);
  if (it == due_.end()) return;
  timers_.erase(Key{it->second, id});
  due_.erase(it);
}

bool VirtualClock::run_next() {
  if (timers_.empty()) return false;
  auto it = timers_.begin();
  Key key = it->first;
  auto fn = std::move(it->second);
  timers_.erase(it);
  due_.erase(key.id);
  if (key.at > now_) now_ = key.at;
  fn();
  return true;
}

std::size_t VirtualClock::advance(Duration by) {
  const TimePoint until = now_ + by;
  std::size_t fired = 0;
  while (!timers_.empty() && timers_.begin()->first.at <= until) {
    run_next();
    ++fired;
  }
  now_ = until;
  return fired;
}

std::size_t VirtualClock::run_until_idle(std::size_t limit) {
  std::size_t fired = 0;
  while (fired < limit && run_next()) ++fired;
  return fired;
}

struct AsioClock::Entry {
  explicit Entry(boost::asio::io_context& io) : timer(io) {}
  boost::asio::steady_timer timer;
  std::function<void()> fn;
};

AsioClock::AsioClock(boost::asio::io_context& io, double speed)
    : io_(io), start_(std::chrono::steady_clock::now()), speed_(speed > 0 ? speed : 1.0) {}

AsioClock::~AsioClock() {
  for (auto& [id, entry] : timers_) entry->timer.cancel();
}

TimePoint AsioClock::now() const {
  auto real = std::chrono::steady_clock::now() - start_;
  if (speed_ == 1.0) return TimePoint(std::chrono::duration_cast<Duration>(real));
  return TimePoint(Duration(static_cast<std::int64_t>(static_cast<double>(std::chrono::duration_cast<Duration>(real).count()) * speed_)));
}

Clock::TimerId AsioClock::call_after(Duration delay, std::function<void()> fn) {
  TimerId id = next_id_++;
  auto entry = std::make_shared<Entry>(io_);
  entry->fn = std::move(fn);
  entry->timer.expires_after(speed_ == 1.0 ? delay : Duration(static_cast<std::int64_t>(static_cast<double>(delay.count()) / speed_)));
  timers_.emplace(id, entry);
  // The handler holds the entry by value: it stays valid even if the clock drops it meanwhile.
  entry->timer.async_wait([this, id, entry](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    auto callback = std::move(it->second->fn);
    timers_.erase(it);
    callback();
  });
  return id;
}

void AsioClock::cancel(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  it->second->timer.cancel();
  timers_.erase(it);
}

bool parse_duration(std::string_view text, Duration& out) {
  if (text.empty()) return false;
  std::size_t unit_at = 0;
  while (unit_at < text.size() && ((text[unit_at] >= '0' && text[unit_at] <= '9') || text[unit_at] == '.')) {
    ++unit_at;
  }
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + unit_at, value);
  if (ec != std::errc{} || ptr != text.data() + unit_at || !std::isfinite(value) || value < 0) return false;
  std::string_view unit = text.substr(unit_at);
  double scale = 0;
  if (unit.empty() || unit == "s") scale = 1e9;
  else if (unit == "ms") scale = 1e6;
  else if (unit == "us") scale = 1e3;
  else if (unit == "m" || unit == "min") scale = 60e9;
  else if (unit == "h") scale = 3600e9;
  else return false;
  double ns = value * scale;
  if (ns > 1e18) return false;
  out = Duration(static_cast<std::int64_t>(std::llround(ns)));
  return true;
}

std::string format_duration(Duration d) {
  using namespace std::chrono;
  if (d >= hours(1) && d % hours(1) == Duration::zero()) return fmt::format("{}h", duration_cast<hours>(d).count());
  if (d >= seconds(1)) return fmt::format("{:g}s", duration<double>(d).count());
  return fmt::format("{:g}ms", duration<double, std::milli>(d).count());
}

}  // namespace modemu::emulator
