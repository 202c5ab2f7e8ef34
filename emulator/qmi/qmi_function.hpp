#pragma once
// One QMI function of the modem (a QMI interface: cdc-wdm0, cdc-wdm1 on Sierra): its client ids
// per service, the host sessions talking to it, and the dispatch of requests to the services.
//
// A session is one host connection: the cdc-wdm port itself, or one client of the qmi-proxy
// socket. Client ids are the function's, shared by its sessions as on a real module; a reply
// goes to the session that asked, an indication to the session that owns the client id.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "emulator/data/data_path.hpp"
#include "emulator/port.hpp"
#include "protocols/qmi/message.hpp"
#include "protocols/qmi/qmux.hpp"

namespace modemu::emulator {

class Modem;
class QmiFunction;
class QmiSession;

struct QmiCall {
  Modem& modem;
  QmiFunction& function;
  QmiSession& session;
  const protocols::qmi::Request& request;
  protocols::qmi::Reply& reply;
};

using QmiHandler = std::function<void(QmiCall&)>;

class QmiHandlerTable {
 public:
  void add(std::uint8_t service, std::uint16_t message, QmiHandler handler);
  const QmiHandler* find(std::uint8_t service, std::uint16_t message) const;
  std::vector<std::pair<std::uint8_t, std::uint16_t>> keys() const;

 private:
  std::map<std::pair<std::uint8_t, std::uint16_t>, QmiHandler> handlers_;
};

// The services a modem's profile serves.
QmiHandlerTable build_qmi_handlers(const Modem& modem);
void register_ctl_handlers(QmiHandlerTable& table);
void register_dms_handlers(QmiHandlerTable& table);
void register_dms_sierra_handlers(QmiHandlerTable& table);
void register_nas_handlers(QmiHandlerTable& table);
void register_wds_handlers(QmiHandlerTable& table);
void register_wda_handlers(QmiHandlerTable& table);
void register_uim_handlers(QmiHandlerTable& table);
// The indications each service sends when the model changes.
void nas_model_changed(QmiFunction& function, ModelChange change);
void wds_model_changed(QmiFunction& function, ModelChange change);
void uim_model_changed(QmiFunction& function, ModelChange change);

// A setting from a settings map, or `fallback` when it was never set.
inline std::uint64_t setting_or(const std::map<std::string, std::uint64_t>& settings, const std::string& key,
                                std::uint64_t fallback) {
  auto it = settings.find(key);
  return it == settings.end() ? fallback : it->second;
}

// What a client id carries besides its number: per-client settings and the indications it
// asked for (keys are the services' own, e.g. "ip_family", "nas.signal_info").
struct QmiClient {
  std::uint8_t service = 0;
  std::uint8_t id = 0;
  QmiSession* owner = nullptr;
  std::map<std::string, std::uint64_t> settings;

  std::uint64_t setting(const std::string& key, std::uint64_t fallback) const { return setting_or(settings, key, fallback); }
};

class QmiSession {
 public:
  using Sink = std::function<void(protocols::ByteView)>;

  QmiSession(QmiFunction& function, std::string name, Sink sink);
  ~QmiSession();
  QmiSession(const QmiSession&) = delete;
  QmiSession& operator=(const QmiSession&) = delete;

  const std::string& name() const { return name_; }
  // Bytes from the host: split into frames, each answered exactly once.
  void receive(protocols::ByteView bytes);
  void send(const protocols::qmi::Message& message);
  // The host re-opened the device: half-received frames are dropped.
  void reset_input() { framer_.clear(); }

 private:
  QmiFunction& function_;
  std::string name_;
  Sink sink_;
  protocols::qmi::Framer framer_;
};

class QmiFunction {
 public:
  QmiFunction(Modem& modem, const QmiHandlerTable& handlers, std::string name);
  ~QmiFunction();

  Modem& modem() { return modem_; }
  const std::string& name() const { return name_; }

  void handle(QmiSession& session, const protocols::qmi::Message& request);

  // CTL Allocate / Release CID. Ids run 1..254 per service and are reused once released.
  std::optional<std::uint8_t> allocate_client(std::uint8_t service, QmiSession& owner);
  bool release_client(std::uint8_t service, std::uint8_t id);
  // Every client id a session holds (CTL Sync, a closed proxy connection).
  void release_clients(const QmiSession& owner);
  QmiClient* client(std::uint8_t service, std::uint8_t id);
  std::vector<QmiClient*> clients(std::uint8_t service);

  // Sends an indication to one client (its owner session), or to every client of the service
  // with `id` = kBroadcastClient.
  void indicate(const protocols::qmi::Message& indication);

  void model_changed(ModelChange change);

  void attach(QmiSession* session);
  void detach(QmiSession* session);

  // Function-wide settings of the services ("wda.link_layer", "wds.autoconnect", ...).
  std::map<std::string, std::uint64_t> settings;
  std::uint64_t setting(const std::string& key, std::uint64_t fallback) const { return setting_or(settings, key, fallback); }
  // WDS packet data handles of the calls started here: handle -> context id and IP family (a
  // dual-stack session is one context with a call per family).
  struct PacketCall {
    std::uint32_t cid = 0;
    std::uint64_t family = 4;
    std::uint8_t client = 0;  // the WDS client that started it
  };
  std::map<std::uint32_t, PacketCall> packet_handles;
  // QMAP: the context of the call a client bound to `mux_id` started, and the mux id a
  // context's call is carried on (WDS Bind Mux Data Port, qmi.md).
  std::optional<std::uint32_t> context_of_mux(std::uint8_t mux_id);
  std::optional<std::uint8_t> mux_of_context(std::uint32_t cid);
  // The context of the call `client` started, if it has one up.
  std::optional<std::uint32_t> context_of_client(std::uint8_t client) const;
  std::uint32_t next_packet_handle = 0x8a4b2f01;

  // While silent, requests are swallowed with no answer and no indication goes out: the "QMI
  // silence with USB up" failure (F12).
  bool silent = false;

 private:
  Modem& modem_;
  const QmiHandlerTable& handlers_;
  std::string name_;
  std::map<std::pair<std::uint8_t, std::uint8_t>, QmiClient> clients_;
  std::set<QmiSession*> sessions_;
  // Indications raised while a request is handled go out after its response, as a module
  // answers first and reports the change after.
  bool handling_ = false;
  std::vector<protocols::qmi::Message> deferred_;
};

// The QMI function on the modem's port list: its own session is the cdc-wdm device, and the
// interface's bulk endpoints are its data path (wwan0), framed as WDA Set Data Format says.
class QmiPort final : public Port {
 public:
  QmiPort(PortInfo info, Modem& modem, const QmiHandlerTable& handlers);
  void from_host(std::string_view bytes) override;
  void host_opened() override;
  void model_changed(ModelChange change) override {
    function_.model_changed(change);
    data_path_.model_changed(change);
  }
  QmiFunction& function() { return function_; }
  DataPath& data_path() { return data_path_; }

 private:
  QmiFunction function_;
  QmiSession session_;
  DataPath data_path_;
};

}  // namespace modemu::emulator
