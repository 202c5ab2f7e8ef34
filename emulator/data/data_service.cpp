#include "emulator/data/data_service.hpp"

#include <vector>

#include <fmt/format.h>

#include "emulator/data/data_path.hpp"
#include "emulator/modem.hpp"

namespace modemu::emulator {

namespace net = protocols::net;

DataService& Modem::data() {
  if (!data_service_) data_service_ = std::make_shared<DataService>(*this);
  return *data_service_;
}

DataService::DataService(Modem& modem)
    : modem_(modem),
      rng_(faults_.seed),
      uplink_cap_(modem.clock(), [this](InFlight p) { to_network(std::move(p)); }),
      downlink_cap_(modem.clock(), [this](InFlight p) { deliver(std::move(p)); }),
      latency_(modem.clock(), [this](InFlight p) { shape_downlink(std::move(p)); }),
      report_timer_(modem.clock()),
      drop_timer_(modem.clock()) {}

DataService::~DataService() = default;

void DataService::set_faults(const DataFaults& faults, std::string_view cause) {
  bool reseed = faults.seed != faults_.seed || faults.loss != faults_.loss;
  bool redrop = faults.drop.has_value() != faults_.drop.has_value() ||
                (faults.drop && (faults.drop->after != faults_.drop->after || faults.drop->reason.name != faults_.drop->reason.name));
  faults_ = faults;
  if (reseed) rng_.seed(faults_.seed);
  uplink_cap_.set_rate(faults_.cap_bps);
  downlink_cap_.set_rate(faults_.cap_bps);
  if (redrop) arm_drop();
  modem_.event("data.fault", fmt::format("data faults: {} ({})", describe(faults_), cause),
               {{"faults", describe(faults_)}, {"cause", std::string(cause)}});
}

bool DataService::drop_session(const CallEndReason& reason, std::string_view cause) {
  sync_session();
  if (!session_) return false;
  modem_.event("data.drop",
               fmt::format("the network ends the session: {} (call end reason {}, verbose {}:{}) ({})", reason.name,
                           reason.reason, reason.verbose_type, reason.verbose_reason, cause),
               {{"reason", reason.name}, {"cause", std::string(cause)}});
  std::vector<std::uint32_t> active;
  for (const auto& [cid, ctx] : modem_.state().contexts) {
    if (ctx.active) active.push_back(cid);
  }
  ending_ = reason;
  for (std::uint32_t cid : active) modem_.set_context_active(cid, false);
  ending_.reset();
  sync_session();
  return true;
}

void DataService::sync_session() {
  bool up = active_context(modem_) != nullptr;
  if (up == session_.has_value()) return;
  if (up) {
    start_session();
  } else {
    end_session();
  }
}

void DataService::start_session() {
  session_ = session_addresses(modem_);
  network_.emplace(modem_.profile().data(), *session_);
  counters_ = {};
  reported_ = {};
  std::string v4 = session_->ipv4 ? fmt::format("{}/30 via {}", net::to_string(*session_->ipv4),
                                                net::to_string(session_->ipv4_gateway))
                                  : "no IPv4";
  std::string v6 = session_->ipv6 ? fmt::format("{}/{} via {}", net::to_string(*session_->ipv6),
                                                session_->ipv6_prefix_length, net::to_string(session_->ipv6_gateway))
                                  : "no IPv6";
  modem_.event("data.session", fmt::format("session up on context {}: {}, {}; data faults: {}", session_->cid, v4, v6,
                                           describe(faults_)),
               {{"state", "up"}, {"cid", std::to_string(session_->cid)}});
  arm_drop();
  for (auto& [id, path] : std::map<std::uint64_t, DataPath*>(paths_)) path->session_started(*session_);
}

void DataService::end_session() {
  report("session ended");
  session_.reset();
  network_.reset();
  uplink_cap_.clear();
  downlink_cap_.clear();
  latency_.clear();
  report_timer_.cancel();
  drop_timer_.cancel();
}

void DataService::arm_drop() {
  drop_timer_.cancel();
  if (!session_ || !faults_.drop) return;
  drop_timer_.start(faults_.drop->after, [this] {
    if (faults_.drop) drop_session(faults_.drop->reason, fmt::format("drop={} fault", format_duration(faults_.drop->after)));
  });
}

std::uint64_t DataService::attach(DataPath& path) {
  std::uint64_t id = next_path_++;
  paths_[id] = &path;
  return id;
}

void DataService::detach(std::uint64_t id) { paths_.erase(id); }

bool DataService::lost() {
  return faults_.loss > 0 && std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < faults_.loss;
}

void DataService::counted() {
  if (!report_timer_.pending()) report_timer_.start(kReportPeriod, [this] {
    if (counters_ != reported_) report("periodic");
  });
}

void DataService::report(std::string_view why) {
  const DataCounters& c = counters_;
  reported_ = c;
  modem_.event("data.counters",
               fmt::format("{}: uplink {} packets / {} bytes, downlink {} packets / {} bytes, dropped {} up / {} down",
                           why, c.uplink_packets, c.uplink_bytes, c.downlink_packets, c.downlink_bytes, c.uplink_dropped,
                           c.downlink_dropped),
               {{"uplink_packets", std::to_string(c.uplink_packets)},
                {"uplink_bytes", std::to_string(c.uplink_bytes)},
                {"downlink_packets", std::to_string(c.downlink_packets)},
                {"downlink_bytes", std::to_string(c.downlink_bytes)},
                {"uplink_dropped", std::to_string(c.uplink_dropped)},
                {"downlink_dropped", std::to_string(c.downlink_dropped)},
                {"reason", std::string(why)}});
}

void DataService::uplink(std::uint64_t path, protocols::ByteView packet) {
  sync_session();
  if (!session_ || faults_.silence) return;
  ++counters_.uplink_packets;
  counters_.uplink_bytes += packet.size();
  counted();
  if (lost() || !uplink_cap_.push({path, protocols::Bytes(packet.begin(), packet.end())})) ++counters_.uplink_dropped;
}

void DataService::to_network(InFlight p) {
  if (!network_) return;
  for (auto& reply : network_->handle(p.packet)) downlink({p.path, std::move(reply)});
}

void DataService::downlink(InFlight p) {
  if (!session_) return;
  if (faults_.no_downlink || faults_.silence || lost()) {
    ++counters_.downlink_dropped;
    counted();
    return;
  }
  if (faults_.latency.count() > 0) {
    if (!latency_.push(std::move(p), faults_.latency)) {
      ++counters_.downlink_dropped;
      counted();
    }
  } else {
    shape_downlink(std::move(p));
  }
}

void DataService::shape_downlink(InFlight p) {
  if (!downlink_cap_.push(std::move(p))) {
    ++counters_.downlink_dropped;
    counted();
  }
}

void DataService::deliver(InFlight p) {
  // The faults may have changed while the packet was on its way.
  auto it = paths_.find(p.path);
  bool delivered = session_ && !faults_.no_downlink && !faults_.silence && it != paths_.end() && it->second->deliver(p.packet);
  if (delivered) {
    ++counters_.downlink_packets;
    counters_.downlink_bytes += p.packet.size();
  } else {
    ++counters_.downlink_dropped;
  }
  counted();
}

}  // namespace modemu::emulator
