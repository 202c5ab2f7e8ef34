#pragma once
// A modem's packet data service (Modem::data()): the radio link between the data paths of its
// QMI interfaces and the network behind it, with the faults that act on that link and the
// sessions' counters.
//
//   host -> DataPath -> uplink: silence? count, loss, cap -> the session's BuiltinNetwork
//   BuiltinNetwork -> downlink: no-downlink / silence? loss, latency, cap -> count -> DataPath -> host
//
// One session per active PDP context, several at once (QMAP: one per mux id), each with its own
// addresses, network and counters. Packets flow only while their session is up. Counters start
// at zero with each session and go to the event log ("data.counters", with the session's cid)
// every second while they change and when the session ends. The radio link (latency, the cap)
// is the modem's, shared by its sessions. Everything runs on the modem's executor and Clock.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string_view>
#include <vector>

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
  // The network ends the session on context `cid` (every session: nothing) now: WDS clients
  // get the packet service status indication with `reason`. False when no such session is up.
  bool drop_session(const CallEndReason& reason, std::string_view cause, std::optional<std::uint32_t> cid = std::nullopt);
  // While a drop is being reported, its reason (WDS reads it for the indication).
  const CallEndReason* ending_reason() const { return ending_ ? &*ending_ : nullptr; }

  // --- the sessions -----------------------------------------------------------------------
  // Re-reads the model: sessions came up or went down. Cheap when nothing changed.
  void sync_session();
  // The first session up (lowest cid): the one a single-session link (802.3, raw IP) serves.
  const SessionAddresses* session() const;
  const SessionAddresses* session(std::uint32_t cid) const;
  std::vector<const SessionAddresses*> sessions() const;
  // The session an IP packet's destination (from the network) or source (from the host)
  // address belongs to.
  const SessionAddresses* session_of_destination(protocols::ByteView ip_packet) const;
  const SessionAddresses* session_of_source(protocols::ByteView ip_packet) const;
  // The counters of the first session up, or of the last one that ended.
  const DataCounters& counters() const;
  // A session's counters (its last ones after it ended; zero for one never up).
  const DataCounters& counters(std::uint32_t cid) const;
  const BuiltinNetwork* network() const;
  const BuiltinNetwork* network(std::uint32_t cid) const;

  // --- an external network (modemu run --data-tun NAME) -------------------------------------
  // Replaces the built-in network: what the sessions send (from their own addresses) goes to
  // `out`, and what the network sends back comes in through from_network().
  using ExternalNetwork = std::function<void(std::uint32_t cid, protocols::ByteView ip_packet)>;
  void set_external_network(ExternalNetwork out) { external_ = std::move(out); }
  // An IP packet from the external network: downlink to the session its destination address
  // belongs to. False when none does (the packet is dropped).
  bool from_network(protocols::ByteView ip_packet);

  // --- the data paths (one per QMI interface) ---------------------------------------------
  std::uint64_t attach(DataPath& path);
  void detach(std::uint64_t id);
  // An IP packet a data path took from the host for session `cid` (nothing: the session its
  // source address belongs to, or else the first).
  void uplink(std::uint64_t path, protocols::ByteView ip_packet, std::optional<std::uint32_t> cid = std::nullopt);
  // A data path could not hand packets it had taken (an aggregate the host did not read):
  // they count as dropped instead of delivered.
  void undelivered(std::uint32_t cid, std::size_t bytes);

 private:
  struct Session {
    explicit Session(Clock& clock) : drop_timer(clock) {}
    SessionAddresses addresses;
    std::optional<BuiltinNetwork> network;
    Timer drop_timer;
  };
  void to_network(InFlight p);
  void downlink(InFlight p);
  void shape_downlink(InFlight p);
  void deliver(InFlight p);
  bool lost();
  void counted();
  void report(std::uint32_t cid, std::string_view why);
  void start_session(std::uint32_t cid);
  void end_session(std::uint32_t cid);
  void arm_drop(std::uint32_t cid, Session& s);
  Session* find(std::uint32_t cid);

  Modem& modem_;
  DataFaults faults_;
  std::mt19937_64 rng_;
  std::map<std::uint32_t, std::unique_ptr<Session>> sessions_;
  // Per cid, kept after the session ends until the context's next session.
  std::map<std::uint32_t, DataCounters> counters_;
  std::map<std::uint32_t, DataCounters> reported_;
  std::uint32_t last_cid_ = 0;  // the session that ended last
  std::map<std::uint64_t, DataPath*> paths_;
  std::map<std::uint32_t, std::uint64_t> last_path_;  // per cid: the path its uplink came from
  ExternalNetwork external_;
  std::uint64_t next_path_ = 1;
  Shaper uplink_cap_;
  Shaper downlink_cap_;
  DelayLine latency_;
  Timer report_timer_;
  std::optional<CallEndReason> ending_;
};

}  // namespace modemu::emulator
