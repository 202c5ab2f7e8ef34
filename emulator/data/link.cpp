#include "emulator/data/link.hpp"

#include <algorithm>
#include <cmath>

namespace modemu::emulator {

namespace {

constexpr double kFullPacketBits = 1500 * 8;

}  // namespace

bool DelayLine::push(InFlight p, Duration delay) {
  if (bytes_ + p.packet.size() > kMaxBytes) return false;
  bytes_ += p.packet.size();
  queue_.emplace_back(clock_.now() + delay, std::move(p));
  if (queue_.size() == 1) arm();
  return true;
}

void DelayLine::clear() {
  queue_.clear();
  bytes_ = 0;
  timer_.cancel();
}

void DelayLine::arm() {
  if (queue_.empty()) return;
  Duration wait = std::max(Duration::zero(), queue_.front().first - clock_.now());
  timer_.start(wait, [this] {
    // Everything due by now leaves; `out_` may push more (a reply), which lands at the back.
    while (!queue_.empty() && queue_.front().first <= clock_.now()) {
      InFlight p = std::move(queue_.front().second);
      queue_.pop_front();
      bytes_ -= p.packet.size();
      out_(std::move(p));
    }
    arm();
  });
}

void Shaper::set_rate(std::uint64_t bits_per_second) {
  if (rate_ == bits_per_second) return;
  refill();
  rate_ = bits_per_second;
  last_ = clock_.now();
  tokens_ = 0;
  if (rate_ == 0) {
    // Uncapped: whatever waited leaves now.
    timer_.cancel();
    while (!queue_.empty()) {
      InFlight p = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= p.packet.size();
      out_(std::move(p));
    }
  } else {
    drain();
  }
}

std::size_t Shaper::queue_limit() const {
  // A quarter of a second of the rate, and never less than 64 KiB.
  return std::max<std::size_t>(64 * 1024, static_cast<std::size_t>(static_cast<double>(rate_) / 8 / 4));
}

void Shaper::refill() {
  if (rate_ == 0) return;
  TimePoint now = clock_.now();
  // A packet larger than the usual depth must still be able to leave.
  double head = queue_.empty() ? 0 : static_cast<double>(queue_.front().packet.size()) * 8;
  double depth = std::max({kFullPacketBits, static_cast<double>(rate_) / 100, head});
  double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(depth, tokens_ + elapsed * static_cast<double>(rate_));
  last_ = now;
}

bool Shaper::push(InFlight p) {
  if (rate_ == 0) {
    out_(std::move(p));
    return true;
  }
  if (queued_bytes_ + p.packet.size() > queue_limit()) return false;
  queued_bytes_ += p.packet.size();
  queue_.push_back(std::move(p));
  if (queue_.size() == 1) drain();
  return true;
}

void Shaper::drain() {
  refill();
  while (!queue_.empty()) {
    double need = static_cast<double>(queue_.front().packet.size()) * 8;
    if (tokens_ < need) {
      double seconds = (need - tokens_) / static_cast<double>(rate_);
      auto wait = Duration(static_cast<std::int64_t>(std::ceil(seconds * 1e9)));
      timer_.start(wait, [this] { drain(); });
      return;
    }
    tokens_ -= need;
    InFlight p = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= p.packet.size();
    out_(std::move(p));
  }
}

void Shaper::clear() {
  queue_.clear();
  queued_bytes_ = 0;
  timer_.cancel();
}

}  // namespace modemu::emulator
