#include "emulator/qmi/qmi_function.hpp"

#include <utility>

#include <fmt/format.h>

#include "emulator/modem.hpp"
#include "emulator/qmi/services.hpp"

namespace modemu::emulator {

namespace qmi = protocols::qmi;

qmi::QmiError to_qmi_error(ActionResult result) {
  switch (result) {
    case ActionResult::kOk: return qmi::QmiError::kNone;
    case ActionResult::kNotAllowed: return qmi::QmiError::kInvalidTransition;
    case ActionResult::kBadParameter: return qmi::QmiError::kInvalidArgument;
    case ActionResult::kNoSim:
    case ActionResult::kSimPinRequired:
    case ActionResult::kSimPukRequired:
    case ActionResult::kSimFailure:
    case ActionResult::kSimBusy: return qmi::QmiError::kUimUninitialized;
    case ActionResult::kWrongPassword: return qmi::QmiError::kIncorrectPin;
    case ActionResult::kNoService: return qmi::QmiError::kNoNetworkFound;
    case ActionResult::kNotFound: return qmi::QmiError::kInvalidArgument;
    case ActionResult::kNotSupported: return qmi::QmiError::kNotSupported;
  }
  return qmi::QmiError::kInternal;
}

void QmiHandlerTable::add(std::uint8_t service, std::uint16_t message, QmiHandler handler) {
  handlers_[{service, message}] = std::move(handler);
}

const QmiHandler* QmiHandlerTable::find(std::uint8_t service, std::uint16_t message) const {
  auto it = handlers_.find({service, message});
  return it == handlers_.end() ? nullptr : &it->second;
}

std::vector<std::pair<std::uint8_t, std::uint16_t>> QmiHandlerTable::keys() const {
  std::vector<std::pair<std::uint8_t, std::uint16_t>> out;
  for (const auto& [k, h] : handlers_) out.push_back(k);
  return out;
}

QmiHandlerTable build_qmi_handlers(const Modem& modem) {
  QmiHandlerTable table;
  register_ctl_handlers(table);
  register_dms_handlers(table);
  if (modem.profile().vendor() == profile::SIERRA) register_dms_sierra_handlers(table);
  register_nas_handlers(table);
  register_wds_handlers(table);
  register_wda_handlers(table);
  register_uim_handlers(table);
  return table;
}

QmiSession::QmiSession(QmiFunction& function, std::string name, Sink sink)
    : function_(function), name_(std::move(name)), sink_(std::move(sink)) {
  function_.attach(this);
}

QmiSession::~QmiSession() { function_.detach(this); }

void QmiSession::receive(protocols::ByteView bytes) {
  framer_.push(bytes);
  while (true) {
    auto r = framer_.next();
    if (r.outcome == qmi::Framer::Outcome::kNeedMore) return;
    if (r.outcome != qmi::Framer::Outcome::kFrame) {
      function_.modem().event("qmi.framing", fmt::format("{}: {} {} byte(s) that do not start a QMUX frame", name_,
                                                         r.outcome == qmi::Framer::Outcome::kLostSync ? "skipped" : "dropped",
                                                         r.dropped));
      continue;
    }
    auto decoded = qmi::decode(r.frame);
    if (!decoded.message) {
      // Without a trustworthy header there is nobody to answer: drop it and go on.
      function_.modem().event("qmi.malformed", fmt::format("{}: {} ({})", name_, decoded.error->reason, protocols::hex(r.frame, 32)));
      continue;
    }
    if (function_.modem().qmi_silent()) {
      // F12: the module takes the request and never answers; USB and the cdc-wdm node stay up.
      function_.modem().event("qmi.swallowed", fmt::format("{}: request not answered (QMI silence)", name_));
      continue;
    }
    function_.handle(*this, *decoded.message);
  }
}

void QmiSession::send(const qmi::Message& message) {
  if (!sink_) return;
  protocols::Bytes frame = qmi::encode(message);
  sink_(frame);
}

QmiFunction::QmiFunction(Modem& modem, const QmiHandlerTable& handlers, std::string name)
    : modem_(modem), handlers_(handlers), name_(std::move(name)) {}

QmiFunction::~QmiFunction() = default;

void QmiFunction::attach(QmiSession* session) { sessions_.insert(session); }

void QmiFunction::detach(QmiSession* session) {
  sessions_.erase(session);
  // Client ids outlive the connection that allocated them, as on a real device: a later
  // process may use them (qmicli --client-no-release-cid, then --client-cid=N). Until one does,
  // their indications have nowhere to go.
  for (auto& [key, c] : clients_) {
    if (c.owner == session) c.owner = nullptr;
  }
}

void QmiFunction::release_clients(const QmiSession& owner) {
  for (auto it = clients_.begin(); it != clients_.end();) {
    it = it->second.owner == &owner ? clients_.erase(it) : std::next(it);
  }
}

void QmiFunction::handle(QmiSession& session, const qmi::Message& request) {
  if (request.type != qmi::MessageType::kRequest) {
    modem_.event("qmi.malformed", fmt::format("{}: ignored a {} from the host", session.name(), qmi::describe(request, modem_.show_personal())));
    return;
  }
  modem_.event("qmi", fmt::format("{} <- {}", session.name(), qmi::describe(request, modem_.show_personal())),
               {{"direction", "in"}, {"service", qmi::service_name(request.service)},
                {"message", fmt::format("0x{:04x}", request.message_id)}});
  if (silent) return;
  qmi::Message response;
  const qmi::MessageDef* def = qmi::find_message(request.service, request.message_id);
  const QmiHandler* handler = handlers_.find(request.service, request.message_id);
  QmiClient* sender = request.is_ctl() ? nullptr : client(request.service, request.client_id);
  if (sender != nullptr) sender->owner = &session;  // the latest user of a client id owns it
  bool client_ok = request.is_ctl() || sender != nullptr;
  if (def == nullptr || handler == nullptr) {
    response = qmi::unknown_command_reply(request);
  } else if (!client_ok) {
    qmi::Reply reply(*def, request);
    reply.fail(qmi::QmiError::kInvalidClientId);
    response = reply.build();
  } else {
    qmi::Request parsed;
    qmi::Reply reply(*def, request);
    std::string why;
    if (auto error = qmi::Request::validate(*def, request, parsed, &why)) {
      modem_.event("qmi.invalid", fmt::format("{}: {} {}: {}", session.name(), qmi::service_name(request.service),
                                              def->name, why));
      reply.fail(*error);
    } else {
      QmiCall call{modem_, *this, session, parsed, reply};
      handling_ = true;
      (*handler)(call);
      handling_ = false;
    }
    response = reply.build();
  }
  modem_.event("qmi", fmt::format("{} -> {}", session.name(), qmi::describe(response, modem_.show_personal())),
               {{"direction", "out"}, {"service", qmi::service_name(response.service)},
                {"message", fmt::format("0x{:04x}", response.message_id)}});
  session.send(response);
  for (auto& indication : std::exchange(deferred_, {})) indicate(indication);
}

std::optional<std::uint8_t> QmiFunction::allocate_client(std::uint8_t service, QmiSession& owner) {
  for (unsigned id = 1; id < qmi::kBroadcastClient; ++id) {
    auto key = std::make_pair(service, static_cast<std::uint8_t>(id));
    if (clients_.count(key) == 0) {
      clients_[key] = QmiClient{service, static_cast<std::uint8_t>(id), &owner, {}};
      return static_cast<std::uint8_t>(id);
    }
  }
  return std::nullopt;
}

bool QmiFunction::release_client(std::uint8_t service, std::uint8_t id) { return clients_.erase({service, id}) != 0; }

QmiClient* QmiFunction::client(std::uint8_t service, std::uint8_t id) {
  auto it = clients_.find({service, id});
  return it == clients_.end() ? nullptr : &it->second;
}

std::vector<QmiClient*> QmiFunction::clients(std::uint8_t service) {
  std::vector<QmiClient*> out;
  for (auto& [key, c] : clients_) {
    if (key.first == service) out.push_back(&c);
  }
  return out;
}

void QmiFunction::indicate(const qmi::Message& indication) {
  if (silent) return;
  if (handling_) {
    deferred_.push_back(indication);
    return;
  }
  auto deliver = [&](QmiSession* session, const qmi::Message& m) {
    modem_.event("qmi", fmt::format("{} -> {}", session->name(), qmi::describe(m, modem_.show_personal())),
                 {{"direction", "out"}, {"service", qmi::service_name(m.service)},
                  {"message", fmt::format("0x{:04x}", m.message_id)}});
    session->send(m);
  };
  if (indication.client_id != qmi::kBroadcastClient) {
    QmiClient* c = client(indication.service, indication.client_id);
    if (c != nullptr && c->owner != nullptr) deliver(c->owner, indication);
    return;
  }
  // Broadcast: once to every session that has a client of the service.
  std::set<QmiSession*> done;
  for (QmiClient* c : clients(indication.service)) {
    if (c->owner != nullptr && done.insert(c->owner).second) deliver(c->owner, indication);
  }
}

std::optional<std::uint32_t> QmiFunction::context_of_client(std::uint8_t client) const {
  for (const auto& [handle, call] : packet_handles) {
    if (call.client == client) return call.cid;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> QmiFunction::context_of_mux(std::uint8_t mux_id) {
  for (QmiClient* c : clients(kWds)) {
    if (c->settings.count("mux_id") != 0 && c->settings.at("mux_id") == mux_id) {
      if (auto cid = context_of_client(c->id)) return cid;
    }
  }
  return std::nullopt;
}

std::optional<std::uint8_t> QmiFunction::mux_of_context(std::uint32_t cid) {
  for (const auto& [handle, call] : packet_handles) {
    if (call.cid != cid) continue;
    QmiClient* c = client(kWds, call.client);
    if (c != nullptr && c->settings.count("mux_id") != 0) return static_cast<std::uint8_t>(c->settings.at("mux_id"));
  }
  return std::nullopt;
}

void QmiFunction::model_changed(ModelChange change) {
  nas_model_changed(*this, change);
  wds_model_changed(*this, change);
  uim_model_changed(*this, change);
}

QmiPort::QmiPort(PortInfo info, Modem& modem, const QmiHandlerTable& handlers)
    : Port(info), function_(modem, handlers, info.node_name),
      session_(function_, info.node_name, [this](protocols::ByteView b) {
        to_host(protocols::as_chars(b));
      }),
      data_path_(modem, info.node_name,
                 DataBinding{[this] {
                               // WDA / CTL Set Data Format: link layer 1 = 802.3, 2 = raw IP;
                               // aggregation 5 = QMAP with the limits the modem reported. Read
                               // for every packet: the keys are made once.
                               static const std::string kLink = "wda.link_layer", kDl = "wda.dl_aggregation",
                                                        kUl = "wda.ul_aggregation", kDatagrams = "wda.dl_max_datagrams",
                                                        kSize = "wda.dl_max_size";
                               DataFormat f;
                               f.link_layer = function_.setting(kLink, 1) == 2 ? LinkLayer::kRawIp : LinkLayer::kEthernet;
                               f.qmap = function_.setting(kDl, 0) == protocols::net::kAggregationQmap;
                               f.qmap_uplink = function_.setting(kUl, 0) == protocols::net::kAggregationQmap;
                               if (f.qmap) {
                                 f.dl_max_datagrams = function_.setting(kDatagrams, 1);
                                 f.dl_max_size = function_.setting(kSize, 1504);
                               }
                               return f;
                             },
                             [this](std::uint8_t mux) { return function_.context_of_mux(mux); },
                             [this](std::uint32_t cid) { return function_.mux_of_context(cid); }}) {}

void QmiPort::from_host(std::string_view bytes) { session_.receive(protocols::as_bytes(bytes)); }

void QmiPort::host_opened() { session_.reset_input(); }

}  // namespace modemu::emulator
