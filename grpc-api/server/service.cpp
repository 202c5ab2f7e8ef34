#include "grpc-api/server/service.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include "emulator/data/data_service.hpp"
#include "emulator/firmware/boot.hpp"
#include "emulator/firmware/image.hpp"
#include "emulator/flash/flash.hpp"
#include "emulator/faults/faults.hpp"
#include "emulator/profile.hpp"
#include "emulator/textproto.hpp"
#include "grpc-api/server/transport.hpp"
#include "protocols/net/address.hpp"
#include "modemu/v1/modemu.grpc.pb.h"
#include "scenarios/engine.hpp"
#include "scenarios/scenario.hpp"
#include "scenarios/timeline.hpp"

namespace modemu::server {

namespace em = modemu::emulator;
namespace v1 = modemu::v1;
using grpc::ServerContext;
using grpc::Status;
using grpc::StatusCode;

namespace {

Status not_found_modem(const std::string& id) {
  return {StatusCode::NOT_FOUND, fmt::format("no modem \"{}\" (ListModems lists them)", id)};
}
Status invalid(std::string message) { return {StatusCode::INVALID_ARGUMENT, std::move(message)}; }
Status precondition(std::string message) { return {StatusCode::FAILED_PRECONDITION, std::move(message)}; }

double seconds(em::Duration d) { return std::chrono::duration<double>(d).count(); }

void to_proto(const em::Event& e, v1::Event& out) {
  out.set_seq(e.seq);
  out.set_t(seconds(e.t));
  out.set_modem(e.modem);
  out.set_kind(e.kind);
  out.set_message(e.message);
  auto& fields = *out.mutable_fields();
  for (const auto& [k, v] : e.fields) fields[k] = v;
}

// A kind filter entry: exact, or "family.*" for every kind starting with "family.".
bool kind_matches(const std::string& pattern, const std::string& kind) {
  if (pattern.size() >= 2 && pattern.compare(pattern.size() - 2, 2, ".*") == 0) {
    return kind.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  }
  return pattern == kind;
}

// One WatchEvents stream: the io thread queues what matches, the stream's gRPC thread writes.
struct Watch {
  std::set<std::string> modems;
  std::vector<std::string> kinds;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<em::Event> queue;
  bool overflow = false;
  std::size_t limit = 0;

  bool wants(const em::Event& e) const {
    if (!modems.empty() && modems.count(e.modem) == 0) return false;
    if (kinds.empty()) return true;
    return std::any_of(kinds.begin(), kinds.end(), [&](const std::string& k) { return kind_matches(k, e.kind); });
  }
  void push(const em::Event& e) {
    std::lock_guard lock(mu);
    if (overflow) return;
    if (queue.size() >= limit) {
      overflow = true;
    } else {
      queue.push_back(e);
    }
    cv.notify_one();
  }
};

// Refuses a unix socket path another live server listens on; removes a stale one.
void prepare_socket(const std::filesystem::path& path) {
  std::error_code ec;
  auto dir = path.parent_path();
  if (!dir.empty() && !std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) throw std::runtime_error(fmt::format("unix:{}: cannot create {}: {}", path.string(), dir.string(), ec.message()));
    ::chmod(dir.c_str(), 0700);
  }
  if (!std::filesystem::exists(std::filesystem::symlink_status(path, ec))) return;
  if (!std::filesystem::is_socket(std::filesystem::symlink_status(path, ec))) {
    throw std::runtime_error(fmt::format("unix:{}: exists and is not a socket", path.string()));
  }
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.string().size() >= sizeof(sa.sun_path)) {
    throw std::runtime_error(fmt::format("unix:{}: the path is too long for a unix socket", path.string()));
  }
  std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool live = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
  if (fd >= 0) ::close(fd);
  if (live) throw std::runtime_error(fmt::format("unix:{}: another server is listening there", path.string()));
  std::filesystem::remove(path, ec);
}

}  // namespace

class ApiServer::Impl final : public v1::Modemu::Service {
 public:
  Impl(boost::asio::io_context& io, scenarios::Fleet& fleet, ServerOptions options)
      : io_(io), fleet_(fleet), options_(std::move(options)) {
    std::random_device random;
    server_id_ = fmt::format("{:08x}{:08x}-{}", random(), random(), ::getpid());
  }

  std::vector<std::string> start(const std::vector<Listener>& listeners);
  void shutdown();
  void release_modems();

  // --- modems ---
  Status CreateModem(ServerContext* ctx, const v1::CreateModemRequest* req, v1::Modem* out) override;
  Status ListModems(ServerContext* ctx, const v1::ListModemsRequest*, v1::ListModemsResponse* out) override {
    return on_io(ctx, [&] {
      for (const auto& m : fleet_.modems()) describe(*m, *out->add_modems());
      return Status::OK;
    });
  }
  Status GetModem(ServerContext* ctx, const v1::ModemRef* req, v1::Modem* out) override {
    return with_modem(ctx, req->id(), [&](em::Modem& m) {
      describe(m, *out);
      return Status::OK;
    });
  }
  Status DeleteModem(ServerContext* ctx, const v1::ModemRef* req, v1::DeleteModemResponse*) override;
  Status SetPower(ServerContext* ctx, const v1::SetPowerRequest* req, v1::Modem* out) override;
  Status ResetModem(ServerContext* ctx, const v1::ModemRef* req, v1::Modem* out) override;
  Status AttachTransport(ServerContext* ctx, const v1::AttachTransportRequest* req, v1::Modem* out) override;
  Status DetachTransport(ServerContext* ctx, const v1::ModemRef* req, v1::Modem* out) override {
    return with_modem(ctx, req->id(), [&](em::Modem& m) {
      if (transports_.erase(m.id()) != 0) m.event("transport", "detached (API)");
      describe(m, *out);
      return Status::OK;
    });
  }
  Status GetFlash(ServerContext* ctx, const v1::ModemRef* req, v1::FlashInfo* out) override;

  // --- faults ---
  Status InjectFault(ServerContext* ctx, const v1::InjectFaultRequest* req, v1::FaultInfo* out) override;
  Status ListFaults(ServerContext* ctx, const v1::ListFaultsRequest* req, v1::ListFaultsResponse* out) override;
  Status ClearFaults(ServerContext* ctx, const v1::ClearFaultsRequest* req, v1::ClearFaultsResponse* out) override;
  Status ListFaultTypes(ServerContext* ctx, const v1::ListFaultTypesRequest*, v1::ListFaultTypesResponse* out) override;

  // --- scenarios ---
  Status StartScenario(ServerContext* ctx, const v1::StartScenarioRequest* req, v1::ScenarioStatus* out) override;
  Status GetScenario(ServerContext* ctx, const v1::ScenarioRef* req, v1::ScenarioStatus* out) override {
    return with_scenario(ctx, req->id(), [&](Running& r) {
      describe(r, *out);
      return Status::OK;
    });
  }
  Status ListScenarios(ServerContext* ctx, const v1::ListScenariosRequest*, v1::ListScenariosResponse* out) override {
    return on_io(ctx, [&] {
      for (auto& r : scenarios_) describe(*r, *out->add_scenarios());
      return Status::OK;
    });
  }
  Status StopScenario(ServerContext* ctx, const v1::ScenarioRef* req, v1::ScenarioStatus* out) override {
    return with_scenario(ctx, req->id(), [&](Running& r) {
      if (r.engine->finished()) return precondition(fmt::format("scenario \"{}\" has already finished", r.id));
      r.engine->stop("StopScenario");
      describe(r, *out);
      return Status::OK;
    });
  }

  // --- events ---
  Status WatchEvents(ServerContext* ctx, const v1::WatchEventsRequest* req,
                     grpc::ServerWriter<v1::EventBatch>* writer) override;

 private:
  struct ApiFault {
    std::uint64_t id = 0;
    std::string modem;
    std::unique_ptr<scenarios::FaultTimeline> timeline;
  };
  struct Running {
    std::string id;
    std::unique_ptr<scenarios::Engine> engine;
    std::vector<std::string> modems;  // ids: a finished scenario's modems may be deleted
    std::vector<std::string> owned;   // those not deleted since: an id may be reused later
  };

  Status authorize(const ServerContext* ctx) const;
  // Runs fn on the io thread and waits for its status (fn fills the reply there).
  template <class F>
  Status on_io(ServerContext* ctx, F&& fn) {
    if (Status s = authorize(ctx); !s.ok()) return s;
    std::promise<Status> done;
    boost::asio::post(io_, [&] {
      try {
        done.set_value(fn());
      } catch (const std::exception& e) {
        done.set_value(Status(StatusCode::INTERNAL, e.what()));
      }
    });
    return done.get_future().get();
  }
  template <class F>
  Status with_modem(ServerContext* ctx, const std::string& id, F&& fn) {
    return on_io(ctx, [&] {
      em::Modem* m = fleet_.find(id);
      if (m == nullptr) return not_found_modem(id);
      return fn(*m);
    });
  }
  template <class F>
  Status with_scenario(ServerContext* ctx, const std::string& id, F&& fn) {
    return on_io(ctx, [&] {
      for (auto& r : scenarios_) {
        if (r->id == id) return fn(*r);
      }
      return Status(StatusCode::NOT_FOUND, fmt::format("no scenario \"{}\" (ListScenarios lists them)", id));
    });
  }

  void describe(em::Modem& m, v1::Modem& out) const;
  void describe(const ApiFault& f, v1::FaultInfo& out) const;
  void describe(const Running& r, v1::ScenarioStatus& out) const;
  const Running* owner(const std::string& modem) const;
  Status check_transport(const v1::TransportSpec& spec, const std::string& id, TransportSpec& out) const;
  Status check_spec(const scenario::ModemSpec& spec) const;

  boost::asio::io_context& io_;
  scenarios::Fleet& fleet_;
  ServerOptions options_;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<bool> stopping_{false};
  std::string server_id_;
  // io thread only:
  std::map<std::string, std::unique_ptr<Attachment>> transports_;
  std::vector<ApiFault> faults_;
  std::uint64_t next_fault_id_ = 1;
  std::vector<std::unique_ptr<Running>> scenarios_;
};

// --- server -------------------------------------------------------------------------------

std::vector<std::string> ApiServer::Impl::start(const std::vector<Listener>& listeners) {
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.RegisterService(this);
  std::vector<int> ports(listeners.size(), 0);
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    const auto& l = listeners[i];
    std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
    if (l.address.unix_socket) {
      prepare_socket(l.address.path);
    } else if (!l.tls_cert.empty()) {
      grpc::SslServerCredentialsOptions ssl;
      ssl.pem_key_cert_pairs.push_back({em::read_text_file(l.tls_key), em::read_text_file(l.tls_cert)});
      creds = grpc::SslServerCredentials(ssl);
    }
    builder.AddListeningPort(l.address.target(), creds, &ports[i]);
  }
  // The socket is made by the server: no other user may connect to it at any instant.
  mode_t old = ::umask(0077);
  server_ = builder.BuildAndStart();
  ::umask(old);
  std::vector<std::string> where;
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    const auto& a = listeners[i].address;
    if (server_ == nullptr || ports[i] == 0) {
      server_.reset();
      throw std::runtime_error(fmt::format("cannot listen on {} (in use, or not an address of this machine?)", a.target()));
    }
    if (a.unix_socket) {
      ::chmod(a.path.c_str(), 0600);
      where.push_back(a.target());
    } else {
      where.push_back(fmt::format("{}:{}", a.host_port.substr(0, a.host_port.rfind(':')), ports[i]));
    }
  }
  return where;
}

void ApiServer::Impl::shutdown() {
  stopping_ = true;
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

void ApiServer::Impl::release_modems() {
  faults_.clear();
  scenarios_.clear();
  transports_.clear();
}

Status ApiServer::Impl::authorize(const ServerContext* ctx) const {
  if (options_.token.empty()) return Status::OK;
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return {StatusCode::UNAUTHENTICATED, "this server needs a bearer token (authorization metadata)"};
  std::string_view given(it->second.data(), it->second.size());
  std::string wanted = "Bearer " + options_.token;
  // Compared in constant time: the time taken says nothing about how much of it matched.
  unsigned char diff = given.size() == wanted.size() ? 0 : 1;
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    diff |= static_cast<unsigned char>(wanted[i] ^ (i < given.size() ? given[i] : 0));
  }
  if (diff != 0) return {StatusCode::UNAUTHENTICATED, "wrong bearer token"};
  return Status::OK;
}

// --- modems -------------------------------------------------------------------------------

void ApiServer::Impl::describe(em::Modem& m, v1::Modem& out) const {
  out.set_id(m.id());
  out.set_profile(m.profile().name());
  out.set_description(m.profile().description());
  out.set_power(std::string(em::to_string(m.power_state())));
  out.set_firmware(m.firmware().version());
  if (const auto* c = m.composition(); c != nullptr) {
    out.set_usb_id(fmt::format("{:04x}:{:04x}", c->idvendor(), c->idproduct()));
  }
  for (const auto& p : m.ports()) {
    auto& port = *out.add_ports();
    port.set_node(p->info().node_name);
    port.set_function(std::string(em::function_name(p->info().function)));
    port.set_interface(p->info().interface_number);
  }
  const auto& s = m.state();
  out.mutable_sim()->set_state(profile::SimState_Name(s.sim));
  out.mutable_sim()->set_powered(s.sim_powered);
  auto& r = *out.mutable_radio();
  r.set_functionality(s.functionality);
  r.set_registration(std::string(em::to_string(s.registration)));
  r.set_operator_name(s.network.operator_long());
  r.set_mcc(s.network.mcc());
  r.set_mnc(s.network.mnc());
  r.set_rssi_dbm(s.signal.rssi_dbm());
  r.set_rsrp_dbm(s.signal.rsrp_dbm());
  r.set_rsrq_db(s.signal.rsrq_db());
  r.set_sinr_db(s.signal.sinr_db());
  r.set_qmi_silent(m.qmi_silent());
  r.set_offline(m.offline());
  r.set_active_contexts(static_cast<std::uint32_t>(
      std::count_if(s.contexts.begin(), s.contexts.end(), [](const auto& c) { return c.second.active; })));
  if (auto it = transports_.find(m.id()); it != transports_.end()) {
    const auto& spec = it->second->spec();
    out.mutable_transport()->set_kind(spec.kind == TransportSpec::Kind::kLocal ? v1::TRANSPORT_LOCAL
                                                                               : v1::TRANSPORT_USBREDIR);
    out.mutable_transport()->set_where(it->second->where());
  }
  for (const em::SessionAddresses* session : m.data().sessions()) {
    auto& d = *out.add_data_sessions();
    const em::DataCounters& c = m.data().counters(session->cid);
    d.set_cid(session->cid);
    if (session->ipv4) d.set_ipv4_address(protocols::net::to_string(*session->ipv4));
    if (session->ipv6) d.set_ipv6_address(protocols::net::to_string(*session->ipv6));
    d.set_uplink_packets(c.uplink_packets);
    d.set_uplink_bytes(c.uplink_bytes);
    d.set_downlink_packets(c.downlink_packets);
    d.set_downlink_bytes(c.downlink_bytes);
    d.set_uplink_dropped(c.uplink_dropped);
    d.set_downlink_dropped(c.downlink_dropped);
  }
  out.set_boot_count(s.boot_count);
  if (const Running* r2 = owner(m.id()); r2 != nullptr) out.set_scenario(r2->id);
  std::uint32_t active = 0;
  for (const auto& f : faults_) {
    if (f.modem == m.id()) active += static_cast<std::uint32_t>(f.timeline->active());
  }
  out.set_active_faults(active);
}

const ApiServer::Impl::Running* ApiServer::Impl::owner(const std::string& modem) const {
  for (const auto& r : scenarios_) {
    if (std::find(r->owned.begin(), r->owned.end(), modem) != r->owned.end()) return r.get();
  }
  return nullptr;
}

Status ApiServer::Impl::check_spec(const scenario::ModemSpec& spec) const {
  if (spec.profile().empty()) return invalid("spec.profile: is missing (a profile name or file: modemu profiles list)");
  profile::Profile p;
  try {
    p = em::load_profile(spec.profile());
  } catch (const std::exception& e) {
    return invalid(fmt::format("spec.profile: {}", e.what()));
  }
  std::string id = spec.id().empty() ? p.name() : spec.id();
  if (!scenarios::valid_modem_id(id)) {
    return invalid(fmt::format("spec.id: \"{}\" is not valid: use 1 to 64 letters, digits, '-', '_' or '.', "
                               "not starting with '.'", id));
  }
  if (!spec.firmware().empty() && em::find_firmware(p, spec.firmware()) == nullptr) {
    return invalid(fmt::format("spec.firmware: \"{}\" is not in the catalogue of {}", spec.firmware(), p.name()));
  }
  profile::SimState sim{};
  if (!spec.sim().empty() && !profile::SimState_Parse(spec.sim(), &sim)) {
    return invalid(fmt::format("spec.sim: \"{}\" is not a SIM state (SIM_READY, SIM_ABSENT, ...)", spec.sim()));
  }
  if (spec.flash() != scenario::FLASH_FACTORY && !p.has_flash()) {
    return invalid(fmt::format("spec.flash: profile {} has no flash model", p.name()));
  }
  if (spec.time_scale() < 0) return invalid("spec.time_scale: must not be negative");
  if (fleet_.find(id) != nullptr) return {StatusCode::ALREADY_EXISTS, fmt::format("a modem \"{}\" already exists", id)};
  return Status::OK;
}

Status ApiServer::Impl::check_transport(const v1::TransportSpec& spec, const std::string& id, TransportSpec& out) const {
  switch (spec.kind()) {
    case v1::TRANSPORT_LOCAL:
      out.kind = TransportSpec::Kind::kLocal;
      out.dev_dir = spec.dev_dir().empty() ? options_.base.state_root.value_or("/tmp") / id / "dev"
                                           : std::filesystem::path(spec.dev_dir());
      if (!spec.listen().empty() || !spec.pcap().empty()) {
        return invalid("transport.listen: listen and pcap go with TRANSPORT_USBREDIR");
      }
      return Status::OK;
    case v1::TRANSPORT_USBREDIR:
      out.kind = TransportSpec::Kind::kUsbredir;
      if (spec.listen().empty()) return invalid("transport.listen: is missing (unix:PATH or tcp:HOST:PORT)");
      out.listen = spec.listen();
      out.pcap = spec.pcap();
      return Status::OK;
    case v1::TRANSPORT_KIND_UNSPECIFIED:
      out.kind = TransportSpec::Kind::kNone;
      return Status::OK;
    default:
      return invalid(fmt::format("transport.kind: {} is not a transport kind", static_cast<int>(spec.kind())));
  }
}

Status ApiServer::Impl::CreateModem(ServerContext* ctx, const v1::CreateModemRequest* req, v1::Modem* out) {
  return on_io(ctx, [&] {
    if (Status s = check_spec(req->spec()); !s.ok()) return s;
    TransportSpec transport;
    std::string id = req->spec().id().empty() ? em::load_profile(req->spec().profile()).name() : req->spec().id();
    if (Status s = check_transport(req->transport(), id, transport); !s.ok()) return s;
    std::optional<std::filesystem::path> state;
    std::error_code ec;
    if (options_.base.state_root && !std::filesystem::exists(*options_.base.state_root / id, ec)) {
      state = *options_.base.state_root / id;
    }
    em::Modem& m = scenarios::add_modem(fleet_, req->spec(), options_.base);
    if (transport.kind != TransportSpec::Kind::kNone) {
      try {
        transports_[m.id()] = std::make_unique<Attachment>(io_, m, transport);
      } catch (const std::exception& e) {
        // Nothing half-made stays: the modem goes, and the state directory it just made.
        transports_.erase(m.id());
        fleet_.remove(m.id());
        if (state) std::filesystem::remove_all(*state, ec);
        return invalid(fmt::format("transport: {}", e.what()));
      }
    }
    m.event("api", fmt::format("created ({}){}", m.profile().description(),
                               transport.kind == TransportSpec::Kind::kNone ? std::string()
                                                                            : ", " + transports_[m.id()]->where()),
            {{"profile", m.profile().name()}});
    scenarios::start_modem(m, req->spec());
    describe(m, *out);
    return Status::OK;
  });
}

Status ApiServer::Impl::DeleteModem(ServerContext* ctx, const v1::ModemRef* req, v1::DeleteModemResponse*) {
  return with_modem(ctx, req->id(), [&](em::Modem& m) {
    if (const Running* r = owner(m.id()); r != nullptr && !r->engine->finished()) {
      return precondition(fmt::format("modem \"{}\" belongs to the running scenario \"{}\" (StopScenario first)",
                                      m.id(), r->id));
    }
    std::string id = m.id();
    faults_.erase(std::remove_if(faults_.begin(), faults_.end(), [&](const ApiFault& f) { return f.modem == id; }),
                  faults_.end());
    transports_.erase(id);
    if (m.power_state() != em::PowerState::kPoweredOff) m.power_off("deleted (API)");
    fleet_.log().emit(id, "api", "deleted");
    for (auto& r : scenarios_) r->owned.erase(std::remove(r->owned.begin(), r->owned.end(), id), r->owned.end());
    // A finished scenario no longer touches its modems, but it must not list this one.
    fleet_.remove(id);
    return Status::OK;
  });
}

Status ApiServer::Impl::SetPower(ServerContext* ctx, const v1::SetPowerRequest* req, v1::Modem* out) {
  std::optional<em::Duration> off_time;
  bool off_time_given = !req->off_time().empty();
  if (off_time_given && req->off_time() != "never") {
    em::Duration d{};
    if (!em::parse_duration(req->off_time(), d)) {
      return authorize(ctx).ok() ? invalid(fmt::format("off_time: \"{}\" is not a duration or \"never\"", req->off_time()))
                                 : authorize(ctx);
    }
    off_time = d;
  }
  return with_modem(ctx, req->id(), [&](em::Modem& m) {
    bool off = m.power_state() == em::PowerState::kPoweredOff;
    switch (req->action()) {
      case v1::POWER_ON:
        if (!off) return precondition(fmt::format("modem \"{}\" is already powered ({})", m.id(), em::to_string(m.power_state())));
        m.power_on("API: power on");
        break;
      case v1::POWER_OFF:
        if (off) return precondition(fmt::format("modem \"{}\" is already powered off", m.id()));
        m.power_off("API: power off");
        break;
      case v1::POWER_CUT:
        if (off) return precondition(fmt::format("modem \"{}\" is powered off: there is no supply to cut", m.id()));
        if (off_time_given) m.set_power_restore(off_time);
        m.power_cut("API: power cut");
        break;
      default:
        return invalid("action: say POWER_ON, POWER_OFF or POWER_CUT");
    }
    describe(m, *out);
    return Status::OK;
  });
}

Status ApiServer::Impl::ResetModem(ServerContext* ctx, const v1::ModemRef* req, v1::Modem* out) {
  return with_modem(ctx, req->id(), [&](em::Modem& m) {
    auto p = m.power_state();
    if (p == em::PowerState::kPoweredOff || p == em::PowerState::kDead) {
      return precondition(fmt::format("modem \"{}\" is {}: nothing to reset", m.id(), em::to_string(p)));
    }
    m.reset("API: reset");
    describe(m, *out);
    return Status::OK;
  });
}

Status ApiServer::Impl::AttachTransport(ServerContext* ctx, const v1::AttachTransportRequest* req, v1::Modem* out) {
  return with_modem(ctx, req->id(), [&](em::Modem& m) {
    TransportSpec spec;
    if (Status s = check_transport(req->transport(), m.id(), spec); !s.ok()) return s;
    if (spec.kind == TransportSpec::Kind::kNone) return invalid("transport.kind: is missing (TRANSPORT_LOCAL or TRANSPORT_USBREDIR)");
    // The old transport goes first: a usbredir listener may be moved to the same address.
    auto old = std::move(transports_[m.id()]);
    transports_.erase(m.id());
    std::optional<TransportSpec> old_spec;
    if (old) old_spec = old->spec();
    old.reset();
    try {
      transports_[m.id()] = std::make_unique<Attachment>(io_, m, spec);
    } catch (const std::exception& e) {
      // Refused: the modem is put back on what it had.
      if (old_spec) {
        try {
          transports_[m.id()] = std::make_unique<Attachment>(io_, m, *old_spec);
        } catch (const std::exception&) {
          m.event("transport", "the previous transport could not be restored");
        }
      }
      return invalid(fmt::format("transport: {}", e.what()));
    }
    m.event("transport", fmt::format("attached: {} (API)", transports_[m.id()]->where()));
    describe(m, *out);
    return Status::OK;
  });
}

Status ApiServer::Impl::GetFlash(ServerContext* ctx, const v1::ModemRef* req, v1::FlashInfo* out) {
  return with_modem(ctx, req->id(), [&](em::Modem& m) {
    out->set_id(m.id());
    out->set_running_firmware(m.firmware().version());
    out->set_power(std::string(em::to_string(m.power_state())));
    for (const auto& f : m.profile().firmware().versions()) out->add_catalogue(f.version());
    em::Flash* flash = m.flash();
    out->set_has_flash(flash != nullptr);
    if (flash == nullptr) return Status::OK;
    const auto& g = m.profile().flash();
    out->set_memory(g.memory_name());
    out->set_page_size(g.page_size());
    out->set_pages_per_block(g.pages_per_block());
    out->set_blocks(g.blocks());
    for (const auto& place : em::firmware::layout(g)) {
      auto& p = *out->add_partitions();
      p.set_label(place.partition->label());
      p.set_start_block(place.start_block);
      p.set_blocks(place.partition->blocks());
      p.set_boot(place.partition->boot());
      protocols::Bytes header;
      std::string error;
      if (!flash->read(place.offset, 1024, header, error)) {
        p.set_state(error);
        continue;
      }
      auto h = em::firmware::decode_header(header, error);
      if (!h) {
        p.set_state(error);
        continue;
      }
      p.set_image_version(h->version);
      p.set_image_revision(h->full_revision);
      p.set_state("valid");
    }
    auto verdict = em::firmware::read_boot_chain(m.profile(), *flash);
    out->set_next_boot_mode(profile::BootMode_Name(verdict.mode));
    out->set_next_boot_version(verdict.version);
    out->set_next_boot_reason(verdict.reason);
    out->set_download_flag(em::firmware::download_flag(m.profile(), *flash));
    return Status::OK;
  });
}

// --- faults -------------------------------------------------------------------------------

void ApiServer::Impl::describe(const ApiFault& f, v1::FaultInfo& out) const {
  out.set_id(f.id);
  *out.mutable_fault() = f.timeline->fault();
  out.set_modem(f.modem);
  out.set_occurrences(f.timeline->occurrences());
  out.set_state(f.timeline->active() > 0 ? "active" : f.timeline->pending() ? "scheduled" : "ended");
}

Status ApiServer::Impl::InjectFault(ServerContext* ctx, const v1::InjectFaultRequest* req, v1::FaultInfo* out) {
  return on_io(ctx, [&] {
    const auto& f = req->fault();
    if (f.modem().empty()) return invalid("fault.modem: is missing (the target modem's id)");
    if (std::string why = scenarios::check_fault(f); !why.empty()) return invalid("fault." + why);
    em::Modem* m = fleet_.find(f.modem());
    if (m == nullptr) return not_found_modem(f.modem());
    ApiFault a;
    a.id = next_fault_id_++;
    a.modem = m->id();
    // Seeded as a scenario of this seed seeds its first fault (scenarios/engine.cpp).
    a.timeline = std::make_unique<scenarios::FaultTimeline>(fleet_.log(), *m, f, req->seed() * 1000003u,
                                                            fleet_.clock().now());
    a.timeline->start();
    describe(a, *out);
    faults_.push_back(std::move(a));
    return Status::OK;
  });
}

Status ApiServer::Impl::ListFaults(ServerContext* ctx, const v1::ListFaultsRequest* req, v1::ListFaultsResponse* out) {
  return on_io(ctx, [&] {
    if (!req->modem().empty() && fleet_.find(req->modem()) == nullptr) return not_found_modem(req->modem());
    for (const auto& f : faults_) {
      if (req->modem().empty() || f.modem == req->modem()) describe(f, *out->add_faults());
    }
    return Status::OK;
  });
}

Status ApiServer::Impl::ClearFaults(ServerContext* ctx, const v1::ClearFaultsRequest* req, v1::ClearFaultsResponse* out) {
  return on_io(ctx, [&] {
    if (req->modem().empty() && req->id() == 0) return invalid("modem: say which modem's faults to clear (or id: which fault)");
    if (!req->modem().empty() && fleet_.find(req->modem()) == nullptr) return not_found_modem(req->modem());
    auto chosen = [&](const ApiFault& f) {
      return req->id() != 0 ? f.id == req->id() && (req->modem().empty() || f.modem == req->modem())
                            : f.modem == req->modem();
    };
    if (req->id() != 0 && std::none_of(faults_.begin(), faults_.end(), chosen)) {
      return Status(StatusCode::NOT_FOUND, fmt::format("no fault {} (ListFaults lists them)", req->id()));
    }
    for (auto it = faults_.begin(); it != faults_.end();) {
      if (!chosen(*it)) {
        ++it;
        continue;
      }
      describe(*it, *out->add_cleared());
      bool was_active = it->timeline->active() > 0;
      std::string type = it->timeline->fault().type();
      em::Modem& m = it->timeline->modem();
      it->timeline.reset();  // ends the occurrences in force
      if (was_active) m.event("fault.end", fmt::format("{} ends (cleared)", type), {{"fault", type}});
      it = faults_.erase(it);
    }
    return Status::OK;
  });
}

Status ApiServer::Impl::ListFaultTypes(ServerContext* ctx, const v1::ListFaultTypesRequest*,
                                       v1::ListFaultTypesResponse* out) {
  if (Status s = authorize(ctx); !s.ok()) return s;
  for (const auto& t : em::faults::registry()) {  // immutable after start: no need for the io thread
    auto& o = *out->add_types();
    o.set_name(t.name);
    o.set_summary(t.summary);
    o.set_field_failure(t.field_failure);
    o.set_lasting(t.lasting);
    for (const auto& p : t.params) {
      auto& q = *o.add_params();
      q.set_name(p.name);
      q.set_kind(p.kind);
      q.set_help(p.help);
      q.set_default_value(p.default_value);
      q.set_optional(p.optional);
    }
  }
  return Status::OK;
}

// --- scenarios ----------------------------------------------------------------------------

void ApiServer::Impl::describe(const Running& r, v1::ScenarioStatus& out) const {
  out.set_id(r.id);
  out.set_name(r.engine->scenario().name());
  out.set_running(!r.engine->finished());
  out.set_elapsed_s(seconds(r.engine->elapsed()));
  out.set_duration_s(seconds(r.engine->duration()));
  for (const auto& m : r.modems) out.add_modems(m);
  bool all = true;
  for (const auto& v : r.engine->verdicts()) {
    auto& o = *out.add_verdicts();
    o.set_name(v.name);
    o.set_held(v.held);
    o.set_detail(v.detail);
    all = all && v.held;
  }
  out.set_all_held(all);
}

Status ApiServer::Impl::StartScenario(ServerContext* ctx, const v1::StartScenarioRequest* req, v1::ScenarioStatus* out) {
  return on_io(ctx, [&] {
    const auto& s = req->scenario();
    try {
      scenarios::check_scenario(s, "scenario");
    } catch (const scenarios::ScenarioError& e) {
      return invalid(e.what());
    }
    std::string id = req->id().empty() ? s.name() : req->id();
    if (id.empty()) return invalid("id: is missing (or give scenario.name)");
    for (const auto& r : scenarios_) {
      if (r->id == id) return Status(StatusCode::ALREADY_EXISTS, fmt::format("a scenario \"{}\" exists", id));
    }
    for (int i = 0; i < s.modems_size(); ++i) {
      const auto& spec = s.modems(i);
      std::string mid = spec.id().empty() ? em::load_profile(spec.profile()).name() : spec.id();
      if (!scenarios::valid_modem_id(mid)) {
        return invalid(fmt::format("scenario: modems[{}].id: \"{}\" is not valid: use 1 to 64 letters, digits, '-', "
                                   "'_' or '.', not starting with '.'", i, mid));
      }
      if (fleet_.find(mid) != nullptr) {
        return Status(StatusCode::ALREADY_EXISTS, fmt::format("a modem \"{}\" already exists (the scenario's modem)", mid));
      }
    }
    auto r = std::make_unique<Running>();
    r->id = id;
    r->engine = std::make_unique<scenarios::Engine>(s, fleet_, options_.base);
    for (const auto* m : r->engine->modems()) r->modems.push_back(m->id());
    r->owned = r->modems;
    r->engine->start();
    describe(*r, *out);
    scenarios_.push_back(std::move(r));
    return Status::OK;
  });
}

// --- events -------------------------------------------------------------------------------

Status ApiServer::Impl::WatchEvents(ServerContext* ctx, const v1::WatchEventsRequest* req,
                                    grpc::ServerWriter<v1::EventBatch>* writer) {
  auto watch = std::make_shared<Watch>();
  watch->modems.insert(req->modems().begin(), req->modems().end());
  watch->kinds.assign(req->kinds().begin(), req->kinds().end());
  watch->limit = options_.watch_queue_limit;
  em::EventLog::SubscriptionId subscription = 0;
  std::uint64_t missed = 0;
  Status subscribed = on_io(ctx, [&] {
    // Replay and subscription happen in one step on the io thread: no event falls between.
    const auto& history = fleet_.log().history();
    std::uint64_t after = req->resume_after();
    if ((after > 0 || req->replay()) && !history.empty()) {
      if (after > 0 && history.front().seq > after + 1) missed = history.front().seq - after - 1;
      for (const auto& e : history) {
        if (e.seq > after && watch->wants(e)) watch->queue.push_back(e);
      }
    }
    subscription = fleet_.log().subscribe([watch](const em::Event& e) {
      if (watch->wants(e)) watch->push(e);
    });
    return Status::OK;
  });
  if (!subscribed.ok()) return subscribed;
  Status result = Status::OK;
  bool first = true;
  while (true) {
    v1::EventBatch batch;
    {
      std::unique_lock lock(watch->mu);
      watch->cv.wait_for(lock, std::chrono::milliseconds(100),
                         [&] { return !watch->queue.empty() || watch->overflow || stopping_; });
      if (stopping_) {
        result = Status(StatusCode::UNAVAILABLE, "the server is stopping");
        break;
      }
      if (watch->overflow && watch->queue.empty()) {
        result = Status(StatusCode::RESOURCE_EXHAUSTED,
                        "the client reads events more slowly than they come: resume from the last seq seen");
        break;
      }
      // Batches of up to 1000: big enough to keep up, small enough to stay well under the
      // message size limit.
      for (int n = 0; n < 1000 && !watch->queue.empty(); ++n) {
        to_proto(watch->queue.front(), *batch.add_events());
        watch->queue.pop_front();
      }
    }
    if (ctx->IsCancelled()) break;
    // The first batch goes at once, even empty: the client knows its subscription is in place.
    if (batch.events_size() == 0 && !first) continue;
    if (first) {
      batch.set_missed(missed);
      batch.set_server_id(server_id_);
    }
    first = false;
    if (!writer->Write(batch)) break;
  }
  boost::asio::post(io_, [this, subscription] { fleet_.log().unsubscribe(subscription); });
  return result;
}

// --- ApiServer ----------------------------------------------------------------------------

ApiServer::ApiServer(boost::asio::io_context& io, scenarios::Fleet& fleet, ServerOptions options)
    : impl_(std::make_unique<Impl>(io, fleet, std::move(options))) {}
ApiServer::~ApiServer() = default;
std::vector<std::string> ApiServer::start(const std::vector<Listener>& listeners) { return impl_->start(listeners); }
void ApiServer::shutdown() { impl_->shutdown(); }
void ApiServer::release_modems() { impl_->release_modems(); }

}  // namespace modemu::server
