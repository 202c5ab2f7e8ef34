#pragma once
// The faults that act on a modem's data path (issue 10), as plain data the scenario engine sets
// through DataService::set_faults and the command line sets with `modemu run --data-fault SPEC`.
// Every field is independent; the default value means "no fault". Timing goes through the
// modem's Clock, randomness through a generator seeded from `seed`, so a run under virtual time
// is reproducible.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/clock.hpp"

namespace modemu::emulator {

// Why a session ended, as WDS reports it: TLV 0x10 call end reason and TLV 0x11 verbose reason
// (type 6 = 3GPP, the reason a TS 24.008 10.5.6.6 SM cause; type 2 = modem internal).
struct CallEndReason {
  std::string name;                  // "network-failure", "3gpp:38", ...
  std::uint16_t reason = 5;          // 1 unspecified, 2 client end, 3 no service, 4 fade, 5 release normal
  std::uint16_t verbose_type = 6;
  std::int16_t verbose_reason = 38;  // SM cause 38: network failure
};
// "network-failure" (SM 38), "regular-deactivation" (36), "reactivation-requested" (39),
// "insufficient-resources" (26), "operator-barring" (8), "no-service" (generic 3), or
// "3gpp:N" for any SM cause N. Nothing for anything else.
std::optional<CallEndReason> parse_call_end_reason(std::string_view text);

struct SessionDrop {
  Duration after{};      // after the session came up
  CallEndReason reason;
  std::optional<std::uint32_t> cid;  // the session on this context only; nothing: every session
};

struct DataFaults {
  // F6, seed 001: registered, connected, addresses assigned, uplink counted, nothing comes back.
  // The modem's own link services (ARP, DHCP, router advertisements) still answer.
  bool no_downlink = false;
  // Nothing at all on the data interface, either way, not even ARP or DHCP; nothing counted.
  // USB and QMI stay up (combine with QMI silence for a modem that says nothing).
  bool silence = false;
  // Added to every packet the network sends back, so a round trip takes this much longer.
  Duration latency{};
  // Each packet, either direction, is lost with this probability.
  double loss = 0.0;
  std::uint64_t seed = 1;
  // Throughput cap in bits per second of IP packets, each direction on its own (a token bucket
  // with a queue; a full queue drops). 0: none.
  std::uint64_t cap_bps = 0;
  // The network ends every session (or the one on `cid`) this long after it came up.
  std::optional<SessionDrop> drop;

  bool any() const { return no_downlink || silence || latency.count() > 0 || loss > 0 || cap_bps > 0 || drop; }
};

// Adds one SPEC to `faults`; returns what is wrong with it ("" when it is fine, and then
// `faults` changed). Specs, one fault each:
//   no-downlink | silence | latency=DURATION | loss=P[,seed=N] | cap=RATE | drop=DURATION[,reason=R][,cid=N]
// RATE: a number with bit, kbit, mbit or gbit (per second; k = 1000). Giving a fault twice is an
// error.
std::string add_data_fault(std::string_view spec, DataFaults& faults);
// "no-downlink, latency=200ms, loss=0.3 (seed 1), cap=1000kbit" or "none".
std::string describe(const DataFaults& faults);
std::string format_rate(std::uint64_t bits_per_second);

}  // namespace modemu::emulator
