#pragma once
// A modem's packet data service (Modem::data()): the radio link between the data paths of its
// QMI interfaces and the network behind it, with the faults that act on that link and the
// session's counters.
//
//   host -> DataPath -> uplink: silence? count, loss, cap -> BuiltinNetwork
//   BuiltinNetwork -> downlink: no-downlink / silence? loss, latency, cap -> count -> DataPath -> host
//
// Packets flow only while a data session is up. Counters start at zero with each session and
// go to the event log ("data.counters") every second while they change and when the session
// ends. Everything runs on the modem's executor and Clock.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string_view>

#include "emulator/clock.hpp"
#include "emulator/data/data_faults.hpp"
#include "emulator/data/link.hpp"
#include "emulator/data/network.hpp"
#include "emulator/data/session.hpp"
#include "protocols/common/bytes.hpp"

namespace modemu::emulator {

class DataPath;
class Modem;

struct DataCounters {
  // Uplink: IP packets the host sent through the modem; downlink: IP packets delivered to it.
  std::uint64_t uplink_packets = 0;
  std::uint64_t uplink_bytes = 0;
  std::uint64_t downlink_packets = 0;
  std::uint64_t downlink_bytes = 0;
  // Lost to a fault (loss, no-downlink), to a full queue, or to a host that does not read.
  std::uint64_t uplink_dropped = 0;
  std::uint64_t downlink_dropped = 0;
  bool operator==(const DataCounters&) const = default;
};

class DataService {
 public:
  static constexpr Duration kReportPeriod = std::chrono::seconds(1);

  explicit DataService(Modem& modem);
  ~DataService();
  DataService(const DataService&) = delete;
  DataService& operator=(const DataService&) = delete;

  // --- the faults: what the scenario engine drives --------------------------------------
  const DataFaults& faults() const { return faults_; }
  // Replaces the faults; the event log says what changed and why ("data.fault").
  void set_faults(const DataFaults& faults, std::string_view cause);
  // The network ends the session now: WDS clients get the packet service status indication
  // with `reason`. False when no session is up.
  bool drop_session(const CallEndReason& reason, std::string_view cause);
  // While a drop is being reported, its reason (WDS reads it for the indication).
  const CallEndReason* ending_reason() const { return ending_ ? &*ending_ : nullptr; }

  // --- the session ------------------------------------------------------------------------
  // Re-reads the model: a session came up or went down. Cheap when nothing changed.
  void sync_session();
  const SessionAddresses* session() const { return session_ ? &*session_ : nullptr; }
  const DataCounters& counters() const { return counters_; }
  const BuiltinNetwork* network() const { return network_ ? &*network_ : nullptr; }

  // --- the data paths (one per QMI interface) ---------------------------------------------
  std::uint64_t attach(DataPath& path);
  void detach(std::uint64_t id);
  // An IP packet a data path took from the host.
  void uplink(std::uint64_t path, protocols::ByteView ip_packet);

 private:
  void to_network(InFlight p);
  void downlink(InFlight p);
  void shape_downlink(InFlight p);
  void deliver(InFlight p);
  bool lost();
  void counted();
  void report(std::string_view why);
  void start_session();
  void end_session();
  void arm_drop();

  Modem& modem_;
  DataFaults faults_;
  std::mt19937_64 rng_;
  std::optional<SessionAddresses> session_;
  std::optional<BuiltinNetwork> network_;
  DataCounters counters_;
  DataCounters reported_;
  std::map<std::uint64_t, DataPath*> paths_;
  std::uint64_t next_path_ = 1;
  Shaper uplink_cap_;
  Shaper downlink_cap_;
  DelayLine latency_;
  Timer report_timer_;
  Timer drop_timer_;
  std::optional<CallEndReason> ending_;
};

}  // namespace modemu::emulator
