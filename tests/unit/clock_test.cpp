#include <doctest/doctest.h>

#include <vector>

#include "emulator/clock.hpp"

using namespace modemu::emulator;
using namespace std::chrono_literals;

TEST_CASE("virtual time fires timers in order, at their instant") {
  VirtualClock clock;
  std::vector<std::pair<int, Duration>> fired;
  clock.call_after(2s, [&] { fired.emplace_back(2, clock.elapsed()); });
  clock.call_after(1s, [&] { fired.emplace_back(1, clock.elapsed()); });
  clock.call_after(1s, [&] { fired.emplace_back(11, clock.elapsed()); });
  CHECK(clock.advance(1500ms) == 2);
  CHECK(clock.elapsed() == 1500ms);
  CHECK(clock.advance(1s) == 1);
  REQUIRE(fired.size() == 3);
  CHECK(fired[0] == std::pair<int, Duration>{1, 1s});
  CHECK(fired[1] == std::pair<int, Duration>{11, 1s});  // same instant: order of setting
  CHECK(fired[2] == std::pair<int, Duration>{2, 2s});
}

TEST_CASE("cancelled timers never fire; Timer cancels when destroyed") {
  VirtualClock clock;
  int count = 0;
  auto id = clock.call_after(1s, [&] { ++count; });
  clock.cancel(id);
  {
    Timer t(clock);
    t.start(1s, [&] { ++count; });
    CHECK(t.pending());
  }
  CHECK(clock.pending() == 0);
  clock.advance(10s);
  CHECK(count == 0);
}

TEST_CASE("a timer set from a timer runs in the same advance when due") {
  VirtualClock clock;
  int count = 0;
  clock.call_after(1s, [&] {
    ++count;
    clock.call_after(1s, [&] { ++count; });
  });
  clock.advance(2s);
  CHECK(count == 2);
}

TEST_CASE("durations parse with units and refuse junk") {
  Duration d{};
  CHECK(parse_duration("250ms", d));
  CHECK(d == 250ms);
  CHECK(parse_duration("7.5s", d));
  CHECK(d == 7500ms);
  CHECK(parse_duration("4h", d));
  CHECK(d == 4h);
  CHECK(parse_duration("2", d));
  CHECK(d == 2s);
  CHECK_FALSE(parse_duration("", d));
  CHECK_FALSE(parse_duration("-1s", d));
  CHECK_FALSE(parse_duration("5 parsecs", d));
  CHECK_FALSE(parse_duration("1e30h", d));
  CHECK(format_duration(7500ms) == "7.5s");
  CHECK(format_duration(4h) == "4h");
}
