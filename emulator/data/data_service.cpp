#include "emulator/data/data_service.hpp"

#include <vector>

#include <fmt/format.h>

#include "emulator/data/data_path.hpp"
#include "emulator/modem.hpp"
#include "protocols/net/packet.hpp"

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
      report_timer_(modem.clock()) {}

DataService::~DataService() = default;

namespace {

bool same_drop(const std::optional<SessionDrop>& a, const std::optional<SessionDrop>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->after == b->after && a->reason.name == b->reason.name && a->cid == b->cid);
}

std::string drop_target(std::optional<std::uint32_t> cid) {
  return cid ? fmt::format("the session on context {}", *cid) : std::string("every session");
}

}  // namespace

void DataService::set_faults(const DataFaults& faults, std::string_view cause) {
  bool reseed = faults.seed != faults_.seed || faults.loss != faults_.loss;
  bool redrop = !same_drop(faults.drop, faults_.drop);
  faults_ = faults;
  if (reseed) rng_.seed(faults_.seed);
  uplink_cap_.set_rate(faults_.cap_bps);
  downlink_cap_.set_rate(faults_.cap_bps);
  if (redrop) {
    for (auto& [cid, s] : sessions_) arm_drop(cid, *s);
  }
  modem_.event("data.fault", fmt::format("data faults: {} ({})", describe(faults_), cause),
               {{"faults", describe(faults_)}, {"cause", std::string(cause)}});
}

bool DataService::drop_session(const CallEndReason& reason, std::string_view cause, std::optional<std::uint32_t> cid) {
  sync_session();
  std::vector<std::uint32_t> ending;
  for (const auto& [c, s] : sessions_) {
    if (!cid || *cid == c) ending.push_back(c);
  }
  if (ending.empty()) return false;
  modem_.event("data.drop",
               fmt::format("the network ends {}: {} (call end reason {}, verbose {}:{}) ({})", drop_target(cid),
                           reason.name, reason.reason, reason.verbose_type, reason.verbose_reason, cause),
               {{"reason", reason.name}, {"cause", std::string(cause)}, {"cid", cid ? std::to_string(*cid) : "all"}});
  ending_ = reason;
  for (std::uint32_t c : ending) modem_.set_context_active(c, false);
  ending_.reset();
  sync_session();
  return true;
}

void DataService::sync_session() {
  std::vector<std::uint32_t> up, down;
  for (const auto& [cid, ctx] : modem_.state().contexts) {
    if (ctx.active && sessions_.count(cid) == 0) up.push_back(cid);
  }
  for (const auto& [cid, s] : sessions_) {
    auto it = modem_.state().contexts.find(cid);
    if (it == modem_.state().contexts.end() || !it->second.active) down.push_back(cid);
  }
  for (std::uint32_t cid : down) end_session(cid);
  for (std::uint32_t cid : up) start_session(cid);
}

DataService::Session* DataService::find(std::uint32_t cid) {
  auto it = sessions_.find(cid);
  return it == sessions_.end() ? nullptr : it->second.get();
}

const SessionAddresses* DataService::session() const {
  return sessions_.empty() ? nullptr : &sessions_.begin()->second->addresses;
}

const SessionAddresses* DataService::session(std::uint32_t cid) const {
  auto it = sessions_.find(cid);
  return it == sessions_.end() ? nullptr : &it->second->addresses;
}

std::vector<const SessionAddresses*> DataService::sessions() const {
  std::vector<const SessionAddresses*> out;
  for (const auto& [cid, s] : sessions_) out.push_back(&s->addresses);
  return out;
}

namespace {

// The session whose own address is the packet's source (destination = false) or destination.
template <typename Sessions>
const SessionAddresses* session_of(const Sessions& sessions, protocols::ByteView ip, bool destination) {
  // Fixed offsets (RFC 791, RFC 8200): the walk is on packets the caller checked or built.
  if (net::ip_version(ip) == 4 && ip.size() >= 20) {
    net::Ipv4Address a{};
    std::copy_n(ip.begin() + (destination ? 16 : 12), 4, a.begin());
    for (const auto& [cid, session] : sessions) {
      if (session->addresses.ipv4 && *session->addresses.ipv4 == a) return &session->addresses;
    }
  } else if (net::ip_version(ip) == 6 && ip.size() >= 40) {
    net::Ipv6Address a{};
    std::copy_n(ip.begin() + (destination ? 24 : 8), 16, a.begin());
    for (const auto& [cid, session] : sessions) {
      const SessionAddresses& s = session->addresses;
      if (s.ipv6 && same_prefix(*s.ipv6, a, s.ipv6_prefix_length)) return &s;
    }
  }
  return nullptr;
}

}  // namespace

const SessionAddresses* DataService::session_of_destination(protocols::ByteView ip) const {
  return session_of(sessions_, ip, true);
}

const SessionAddresses* DataService::session_of_source(protocols::ByteView ip) const {
  return session_of(sessions_, ip, false);
}

const DataCounters& DataService::counters() const {
  return counters(sessions_.empty() ? last_cid_ : sessions_.begin()->first);
}

const DataCounters& DataService::counters(std::uint32_t cid) const {
  static const DataCounters kNone{};
  auto it = counters_.find(cid);
  return it == counters_.end() ? kNone : it->second;
}

const BuiltinNetwork* DataService::network() const {
  return sessions_.empty() ? nullptr : &*sessions_.begin()->second->network;
}

const BuiltinNetwork* DataService::network(std::uint32_t cid) const {
  auto it = sessions_.find(cid);
  return it == sessions_.end() ? nullptr : &*it->second->network;
}

void DataService::start_session(std::uint32_t cid) {
  auto addresses = session_addresses(modem_, cid);
  if (!addresses) return;
  auto s = std::make_unique<Session>(modem_.clock());
  s->addresses = *addresses;
  s->network.emplace(modem_.profile().data(), s->addresses);
  counters_[cid] = {};
  reported_[cid] = {};
  const SessionAddresses& a = s->addresses;
  std::string v4 = a.ipv4 ? fmt::format("{}/30 via {}", net::to_string(*a.ipv4), net::to_string(a.ipv4_gateway))
                          : "no IPv4";
  std::string v6 = a.ipv6 ? fmt::format("{}/{} via {}", net::to_string(*a.ipv6), a.ipv6_prefix_length,
                                        net::to_string(a.ipv6_gateway))
                          : "no IPv6";
  modem_.event("data.session", fmt::format("session up on context {}: {}, {}; data faults: {}", cid, v4, v6,
                                           describe(faults_)),
               {{"state", "up"}, {"cid", std::to_string(cid)}});
  Session& session = *sessions_.emplace(cid, std::move(s)).first->second;
  arm_drop(cid, session);
  for (auto& [id, path] : std::map<std::uint64_t, DataPath*>(paths_)) path->session_started(session.addresses);
}

void DataService::end_session(std::uint32_t cid) {
  report(cid, "session ended");
  sessions_.erase(cid);
  last_cid_ = cid;
  if (!sessions_.empty()) return;
  // The link's queues hold packets of the sessions that were: with none left, nothing is due.
  uplink_cap_.clear();
  downlink_cap_.clear();
  latency_.clear();
  report_timer_.cancel();
}

void DataService::arm_drop(std::uint32_t cid, Session& s) {
  s.drop_timer.cancel();
  if (!faults_.drop || (faults_.drop->cid && *faults_.drop->cid != cid)) return;
  s.drop_timer.start(faults_.drop->after, [this, cid] {
    if (faults_.drop) drop_session(faults_.drop->reason, fmt::format("drop={} fault", format_duration(faults_.drop->after)), cid);
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
    for (const auto& [cid, s] : std::map<std::uint32_t, DataCounters>(counters_)) {
      if (sessions_.count(cid) != 0 && s != reported_[cid]) report(cid, "periodic");
    }
  });
}

void DataService::report(std::uint32_t cid, std::string_view why) {
  const DataCounters& c = counters_[cid];
  reported_[cid] = c;
  modem_.event("data.counters",
               fmt::format("context {}, {}: uplink {} packets / {} bytes, downlink {} packets / {} bytes, dropped {} up / {} down",
                           cid, why, c.uplink_packets, c.uplink_bytes, c.downlink_packets, c.downlink_bytes,
                           c.uplink_dropped, c.downlink_dropped),
               {{"cid", std::to_string(cid)},
                {"uplink_packets", std::to_string(c.uplink_packets)},
                {"uplink_bytes", std::to_string(c.uplink_bytes)},
                {"downlink_packets", std::to_string(c.downlink_packets)},
                {"downlink_bytes", std::to_string(c.downlink_bytes)},
                {"uplink_dropped", std::to_string(c.uplink_dropped)},
                {"downlink_dropped", std::to_string(c.downlink_dropped)},
                {"reason", std::string(why)}});
}

void DataService::uplink(std::uint64_t path, protocols::ByteView packet, std::optional<std::uint32_t> cid) {
  sync_session();
  if (sessions_.empty() || faults_.silence) return;
  if (!cid) {
    const SessionAddresses* s = session_of_source(packet);
    cid = s != nullptr ? s->cid : sessions_.begin()->first;
  }
  if (sessions_.count(*cid) == 0) return;
  last_path_[*cid] = path;
  DataCounters& c = counters_[*cid];
  ++c.uplink_packets;
  c.uplink_bytes += packet.size();
  counted();
  if (lost() || !uplink_cap_.push({path, *cid, protocols::Bytes(packet.begin(), packet.end())})) ++c.uplink_dropped;
}

void DataService::to_network(InFlight p) {
  Session* s = find(p.cid);
  if (s == nullptr) return;
  if (external_) {
    // A core network drops what does not come from the session's own address.
    const SessionAddresses* from = session_of_source(p.packet);
    if (from != nullptr && from->cid == p.cid) external_(p.cid, p.packet);
    return;
  }
  for (auto& reply : s->network->handle(p.packet)) downlink({p.path, p.cid, std::move(reply)});
}

bool DataService::from_network(protocols::ByteView packet) {
  sync_session();
  const SessionAddresses* s = session_of_destination(packet);
  if (s == nullptr) return false;
  auto last = last_path_.find(s->cid);
  std::uint64_t path = last != last_path_.end() ? last->second : paths_.empty() ? 0 : paths_.begin()->first;
  downlink({path, s->cid, protocols::Bytes(packet.begin(), packet.end())});
  return true;
}

void DataService::downlink(InFlight p) {
  if (find(p.cid) == nullptr) return;
  DataCounters& c = counters_[p.cid];
  if (faults_.no_downlink || faults_.silence || lost()) {
    ++c.downlink_dropped;
    counted();
    return;
  }
  if (faults_.latency.count() > 0) {
    if (!latency_.push(std::move(p), faults_.latency)) {
      ++c.downlink_dropped;
      counted();
    }
  } else {
    shape_downlink(std::move(p));
  }
}

void DataService::shape_downlink(InFlight p) {
  std::uint32_t cid = p.cid;
  if (!downlink_cap_.push(std::move(p))) {
    ++counters_[cid].downlink_dropped;
    counted();
  }
}

void DataService::deliver(InFlight p) {
  // The faults may have changed while the packet was on its way, or the session ended.
  auto it = paths_.find(p.path);
  bool delivered = find(p.cid) != nullptr && !faults_.no_downlink && !faults_.silence && it != paths_.end() && it->second->deliver(p.packet);
  DataCounters& c = counters_[p.cid];
  if (delivered) {
    ++c.downlink_packets;
    c.downlink_bytes += p.packet.size();
  } else {
    ++c.downlink_dropped;
  }
  counted();
}

void DataService::undelivered(std::uint32_t cid, std::size_t bytes) {
  auto it = counters_.find(cid);
  if (it == counters_.end() || it->second.downlink_packets == 0) return;
  --it->second.downlink_packets;
  it->second.downlink_bytes -= std::min<std::uint64_t>(bytes, it->second.downlink_bytes);
  ++it->second.downlink_dropped;
  counted();
}

}  // namespace modemu::emulator
