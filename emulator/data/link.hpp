#pragma once
// The timing parts of the radio link, on the modem's Clock (virtual in tests): a delay line for
// latency and a token-bucket shaper for a throughput cap. Packets carry the id of the data path
// and the session (cid) they belong to; the receiver looks them up when they come out, as the
// path or the session may be gone by then.
#include <cstdint>
#include <deque>
#include <functional>
#include <utility>

#include "emulator/clock.hpp"
#include "protocols/common/bytes.hpp"

namespace modemu::emulator {

struct InFlight {
  std::uint64_t path = 0;
  std::uint32_t cid = 0;
  protocols::Bytes packet;
};
using Forward = std::function<void(InFlight)>;

// Every packet comes out `delay` after it went in, in order. What a link holds in flight is
// bounded: beyond kMaxBytes waiting, new packets are dropped.
class DelayLine {
 public:
  static constexpr std::size_t kMaxBytes = 8 * 1024 * 1024;

  DelayLine(Clock& clock, Forward out) : clock_(clock), out_(std::move(out)), timer_(clock) {}
  // False: dropped (too much in flight).
  bool push(InFlight p, Duration delay);
  void clear();
  std::size_t size() const { return queue_.size(); }

 private:
  void arm();
  Clock& clock_;
  Forward out_;
  Timer timer_;
  std::deque<std::pair<TimePoint, InFlight>> queue_;
  std::size_t bytes_ = 0;
};

// A token bucket: tokens (bits) accrue at the rate up to a depth of one full-size packet or
// 10 ms of the rate, whichever is more; a packet leaves when the bucket holds its size, and
// waits in order until then. While more than `queue_limit()` bytes wait, new packets are
// dropped, as a modem's full buffer drops them.
class Shaper {
 public:
  Shaper(Clock& clock, Forward out) : clock_(clock), out_(std::move(out)), timer_(clock) {}
  // 0: no cap, packets pass at once.
  void set_rate(std::uint64_t bits_per_second);
  std::uint64_t rate() const { return rate_; }
  // False: dropped (the queue is full).
  bool push(InFlight p);
  void clear();
  std::size_t queued_bytes() const { return queued_bytes_; }
  std::size_t queue_limit() const;

 private:
  void refill();
  void drain();
  Clock& clock_;
  Forward out_;
  Timer timer_;
  std::uint64_t rate_ = 0;
  double tokens_ = 0;  // bits
  TimePoint last_{};
  std::deque<InFlight> queue_;
  std::size_t queued_bytes_ = 0;
};

}  // namespace modemu::emulator
