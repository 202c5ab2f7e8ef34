// WDS, wireless data (service 1): data sessions on the model's PDP contexts, profiles, settings.
// A session started here is the context AT+CGACT shows, and the other way round.
#include <utility>

#include <fmt/format.h>

#include "emulator/data/data_service.hpp"
#include "emulator/data/session.hpp"
#include "emulator/modem.hpp"
#include "emulator/qmi/qmi_function.hpp"
#include "emulator/qmi/services.hpp"

namespace modemu::emulator {

namespace qmi = protocols::qmi;
using qmi::QmiError;

namespace {

constexpr std::uint32_t kAllHandles = 0xffffffff;
// Packet service status: 1 disconnected, 2 connected.
constexpr std::uint8_t kDisconnected = 1, kConnected = 2;
// Call end reasons and their verbose types (WDS Start Network 0x10 / 0x11).
constexpr std::uint16_t kEndUnspecified = 1, kEndClientEnd = 2, kEndNoService = 3;
constexpr std::uint16_t kVerboseInternal = 2, kVerbose3gpp = 6;
constexpr std::int16_t kInternalNoService = 1, kSmRegularDeactivation = 36, kSmIpv4OnlyAllowed = 50;
constexpr std::int16_t kSmIpv6OnlyAllowed = 51, kSmUnknownApn = 27;

// PDP type as WDS numbers it: 0 IPv4, 1 PPP, 2 IPv6, 3 IPv4v6.
std::uint8_t pdp_type_number(const std::string& t) {
  return t == "PPP" ? 1 : t == "IPV6" ? 2 : t == "IPV4V6" ? 3 : 0;
}
std::string pdp_type_name(std::uint64_t n) { return n == 1 ? "PPP" : n == 2 ? "IPV6" : n == 3 ? "IPV4V6" : "IP"; }

// An address as QMI's fixed 16-byte field carries it.
std::string bytes16(const protocols::net::Ipv6Address& a) { return std::string(a.begin(), a.end()); }

void call_failed(qmi::Reply& reply, std::uint16_t reason, std::uint16_t verbose_type, std::int16_t verbose_reason) {
  reply.fail(QmiError::kCallFailed).set(0x10, {reason}).set(0x11, {verbose_type, verbose_reason});
}

bool bound_to_mux(const QmiClient* c) { return c != nullptr && c->settings.count("mux_id") != 0; }

// The session a WDS client hears of (Packet Service Status, Current Settings, Packet
// Statistics): the one its own call runs on; none for a client bound to a mux id (QMAP) that
// has no call up; for any other client (one that only watches, a fresh qmicli client) the first
// session up, as on a module with one data port.
const PdpContextState* client_context(QmiFunction& f, std::uint8_t client) {
  const auto& contexts = f.modem().state().contexts;
  if (auto cid = f.context_of_client(client)) {
    auto it = contexts.find(*cid);
    if (it != contexts.end() && it->second.active) return &it->second;
  }
  if (bound_to_mux(f.client(kWds, client))) return nullptr;
  return active_context(f.modem());
}

// The profile TLVs of a context (Get Profile Settings, Get Default Settings).
void set_profile(qmi::Reply& r, const PdpContextState& ctx) {
  r.set(0x10, {""}).set(0x11, {pdp_type_number(ctx.pdp_type)}).set(0x14, {ctx.apn}).set(0x1d, {0});
}

}  // namespace

void register_wds_handlers(QmiHandlerTable& t) {
  // Start Network: 0x14 APN, 0x19 IP family, 0x31 profile index -> 0x01 packet data handle, or
  // CALL_FAILED with 0x10 call end reason and 0x11 verbose reason.
  t.add(kWds, 0x0020, [](QmiCall& c) {
    QmiClient* client = c.function.client(kWds, c.request.message().client_id);
    auto cid = static_cast<std::uint32_t>(c.request.number(0x31).value_or(1));
    auto family = c.request.number(0x19).value_or(client->setting("ip_family", 4));
    const auto& contexts = c.modem.state().contexts;
    auto it = contexts.find(cid);
    if (it == contexts.end()) {
      c.reply.fail(QmiError::kInvalidProfile);
      return;
    }
    bool up = it->second.active;
    if (up) {
      // The call is up already (uqmi treats NO_EFFECT as success), unless this client asks for
      // the other family of a dual-stack session started here: that is a second call.
      bool other_family = false, same_family = false;
      for (const auto& [h, call] : c.function.packet_handles) {
        if (call.cid != cid) continue;
        (call.family == family ? same_family : other_family) = true;
      }
      bool explicit_family = family == 4 || family == 6;  // 8: "unspecified" joins what is up
      if (same_family || !other_family || !explicit_family) {
        c.reply.fail(QmiError::kNoEffect);
        return;
      }
    }
    if (family == 6 && (c.modem.profile().data().ipv6_address().empty() || !carries_ipv6(it->second.pdp_type))) {
      call_failed(c.reply, kEndUnspecified, kVerbose3gpp, kSmIpv4OnlyAllowed);
      return;
    }
    if (family == 4 && !carries_ipv4(it->second.pdp_type)) {
      call_failed(c.reply, kEndUnspecified, kVerbose3gpp, kSmIpv6OnlyAllowed);
      return;
    }
    if (auto apn = c.request.text(0x14); apn && !apn->empty() && !it->second.apn.empty() && *apn != it->second.apn) {
      call_failed(c.reply, kEndUnspecified, kVerbose3gpp, kSmUnknownApn);
      return;
    }
    if (c.request.number(0x33)) c.function.settings["wds.autoconnect"] = *c.request.number(0x33);
    // The call exists before the context comes up, so that what the activation reports (the
    // status indication, a router advertisement on the client's mux id) already knows it.
    std::uint32_t handle = c.function.next_packet_handle++;
    c.function.packet_handles[handle] = {cid, family, c.request.message().client_id};
    ActionResult r = up ? ActionResult::kOk : c.modem.set_context_active(cid, true);
    if (r != ActionResult::kOk) {
      c.function.packet_handles.erase(handle);
      call_failed(c.reply, kEndNoService, kVerboseInternal, kInternalNoService);
      return;
    }
    c.reply.set(0x01, {handle});
  });
  // Stop Network: 0x01 handle (0xffffffff: every call), 0x10 disable autoconnect.
  t.add(kWds, 0x0021, [](QmiCall& c) {
    auto handle = static_cast<std::uint32_t>(*c.request.number(0x01));
    if (c.request.number(0x10).value_or(0) != 0) c.function.settings["wds.autoconnect"] = 0;
    if (handle == kAllHandles) {
      // Every call of the function (uqmi clears a previous run's this way), or the client's own
      // when it is bound to a mux id: the other mux ids' sessions are other clients'.
      // Deactivating reports the change (and its indication forgets the handles): work on a copy.
      const QmiClient* client = c.function.client(kWds, c.request.message().client_id);
      bool own = bound_to_mux(client);
      std::map<std::uint32_t, QmiFunction::PacketCall> calls;
      for (auto it = c.function.packet_handles.begin(); it != c.function.packet_handles.end();) {
        if (own && it->second.client != client->id) {
          ++it;
          continue;
        }
        calls.insert(*it);
        it = c.function.packet_handles.erase(it);
      }
      for (auto& [h, call] : calls) c.modem.set_context_active(call.cid, false);
      return;
    }
    auto it = c.function.packet_handles.find(handle);
    if (it == c.function.packet_handles.end()) {
      c.reply.fail(QmiError::kInvalidHandle);
      return;
    }
    std::uint32_t cid = it->second.cid;
    c.function.packet_handles.erase(it);
    // The context stays up while the other family's call of a dual-stack session does.
    for (const auto& [h, call] : c.function.packet_handles) {
      if (call.cid == cid) return;
    }
    c.modem.set_context_active(cid, false);
  });
  t.add(kWds, 0x0022, [](QmiCall& c) {
    bool up = client_context(c.function, c.request.message().client_id) != nullptr;
    c.reply.set(0x01, {up ? kConnected : kDisconnected});
  });
  // Get Channel Rates -> {current tx, rx, max tx, max rx} in bits per second
  t.add(kWds, 0x0023, [](QmiCall& c) {
    const auto& q = c.modem.profile().qmi();
    c.reply.set(0x01, {0, 0, q.max_tx_bps(), q.max_rx_bps()});
  });
  // Get Packet Statistics: the data path's counters of the client's session, or of the last
  // one (tx = uplink, the packets the modem sent for the host; rx = downlink). Errors and
  // overflows: none.
  t.add(kWds, 0x0024, [](QmiCall& c) {
    auto mask = *c.request.number(0x01);
    auto own = c.function.context_of_client(c.request.message().client_id);
    const DataCounters& n = own ? c.modem.data().counters(*own) : c.modem.data().counters();
    const std::uint64_t values[] = {n.uplink_packets, n.downlink_packets, 0, 0, 0, 0};
    for (std::uint8_t bit = 0; bit < 6; ++bit) {
      if (mask & (1u << bit)) c.reply.set(static_cast<std::uint8_t>(0x10 + bit), {values[bit] & 0xffffffff});
    }
    if (mask & (1u << 6)) c.reply.set(0x19, {n.uplink_bytes});
    if (mask & (1u << 7)) c.reply.set(0x1a, {n.downlink_bytes});
    if (mask & (1u << 8)) c.reply.set(0x1d, {n.uplink_dropped & 0xffffffff});
    if (mask & (1u << 9)) c.reply.set(0x1e, {n.downlink_dropped & 0xffffffff});
  });
  // Create Profile: 0x01 profile type (0 = 3GPP) + settings -> 0x01 {type, index}
  t.add(kWds, 0x0027, [](QmiCall& c) {
    if (*c.request.number(0x01) != 0) {
      c.reply.fail(QmiError::kInvalidProfile);
      return;
    }
    std::uint32_t index = 1;
    while (index <= 15 && c.modem.state().contexts.count(index) != 0) ++index;
    if (index > 15) {
      c.reply.fail(QmiError::kInvalidProfile);
      return;
    }
    ActionResult r = c.modem.define_context(index, pdp_type_name(c.request.number(0x11).value_or(0)),
                                            c.request.text(0x14).value_or(""));
    if (r != ActionResult::kOk) {
      c.reply.fail(to_qmi_error(r));
      return;
    }
    c.reply.set(0x01, {0, index});
  });
  // Modify Profile: 0x01 {type, index} + settings to change.
  t.add(kWds, 0x0028, [](QmiCall& c) {
    const auto& id = *c.request.get(0x01);
    auto index = static_cast<std::uint32_t>(id[1].number);
    auto it = c.modem.state().contexts.find(index);
    if (id[0].number != 0 || it == c.modem.state().contexts.end()) {
      c.reply.fail(QmiError::kInvalidProfile);
      return;
    }
    std::string type = c.request.number(0x11) ? pdp_type_name(*c.request.number(0x11)) : it->second.pdp_type;
    std::string apn = c.request.text(0x14).value_or(it->second.apn);
    c.reply.fail(to_qmi_error(c.modem.define_context(index, type, apn)));
  });
  // Get Profile List: 0x10 type -> 0x01 [{type, index, name}]
  t.add(kWds, 0x002a, [](QmiCall& c) {
    std::vector<qmi::Record> list;
    if (c.request.number(0x10).value_or(0) == 0) {
      for (const auto& [cid, ctx] : c.modem.state().contexts) list.push_back({0, cid, ""});
    }
    c.reply.set(0x01, {list});
  });
  t.add(kWds, 0x002b, [](QmiCall& c) {
    const auto& id = *c.request.get(0x01);
    auto it = c.modem.state().contexts.find(static_cast<std::uint32_t>(id[1].number));
    if (id[0].number != 0 || it == c.modem.state().contexts.end()) {
      c.reply.fail(QmiError::kInvalidProfile);
      return;
    }
    set_profile(c.reply, it->second);
  });
  t.add(kWds, 0x002c, [](QmiCall& c) {
    auto it = c.modem.state().contexts.find(1);
    if (*c.request.number(0x01) != 0 || it == c.modem.state().contexts.end()) {
      c.reply.fail(QmiError::kInvalidProfile);
      return;
    }
    set_profile(c.reply, it->second);
  });
  // Get Current Settings: 0x10 requested mask -> what the session was given, from the same
  // source the data path serves (emulator/data/session.hpp). OUT_OF_CALL when no session is up.
  // A client that set an IP family hears of that family; one that did not, of all the session has.
  t.add(kWds, 0x002d, [](QmiCall& c) {
    namespace net = protocols::net;
    const PdpContextState* ctx = client_context(c.function, c.request.message().client_id);
    auto s = ctx != nullptr ? session_addresses(c.modem, ctx->cid) : std::nullopt;
    if (ctx == nullptr || !s) {
      c.reply.fail(QmiError::kOutOfCall);
      return;
    }
    const QmiClient* client = c.function.client(kWds, c.request.message().client_id);
    auto family = client != nullptr && client->settings.count("ip_family") != 0 ? client->setting("ip_family", 4) : 8;
    bool v4 = s->ipv4 && family != 6;
    bool v6 = s->ipv6 && family != 4;
    if (!v4 && !v6) {  // the family asked for is not in the session: report the one there is
      v4 = s->ipv4.has_value();
      v6 = !v4;
    }
    auto mask = *c.request.number(0x10);
    if (mask & (1u << 1)) c.reply.set(0x10, {""});
    if (mask & (1u << 2)) c.reply.set(0x11, {pdp_type_number(ctx->pdp_type)});
    if (mask & (1u << 3)) c.reply.set(0x14, {ctx->apn});
    if ((mask & (1u << 4)) && v4 && !s->ipv4_dns.empty()) c.reply.set(0x15, {net::to_u32(s->ipv4_dns[0])});
    if ((mask & (1u << 4)) && v6 && !s->ipv6_dns.empty()) c.reply.set(0x27, {bytes16(s->ipv6_dns[0])});
    if (mask & (1u << 0)) c.reply.set(0x1f, {0, ctx->cid});
    if ((mask & (1u << 8)) && v4) c.reply.set(0x1e, {net::to_u32(*s->ipv4)});
    if ((mask & (1u << 8)) && v6) c.reply.set(0x25, {bytes16(*s->ipv6), s->ipv6_prefix_length});
    if ((mask & (1u << 9)) && v4) c.reply.set(0x20, {net::to_u32(s->ipv4_gateway)}).set(0x21, {net::to_u32(s->ipv4_netmask)});
    if ((mask & (1u << 9)) && v6) c.reply.set(0x26, {bytes16(s->ipv6_gateway), s->ipv6_prefix_length});
    if (mask & (1u << 13)) c.reply.set(0x29, {s->mtu});
    if (mask & (1u << 15)) c.reply.set(0x2b, {v4 ? 4 : 6});
  });
  // Get Autoconnect Settings -> 0x01 status (0 disabled, 1 enabled), 0x10 roaming (0 allowed)
  t.add(kWds, 0x0034, [](QmiCall& c) {
    c.reply.set(0x01, {c.function.setting("wds.autoconnect", 0)}).set(0x10, {c.function.setting("wds.autoconnect_roaming", 0)});
  });
  // Get Data Bearer Technology -> 0x01 current (0x0a = LTE); OUT_OF_CALL with no session
  t.add(kWds, 0x0037, [](QmiCall& c) {
    if (active_context(c.modem) == nullptr) {
      c.reply.fail(QmiError::kOutOfCall).set(0x10, {0x0a});
      return;
    }
    c.reply.set(0x01, {0x0a});
  });
  // Set IP Family: 0x01 preference (4, 6, 8 = unspecified), kept on the client id.
  t.add(kWds, 0x004d, [](QmiCall& c) {
    auto family = *c.request.number(0x01);
    if (family != 4 && family != 6 && family != 8) {
      c.reply.fail(QmiError::kInvalidIpFamilyPreference);
      return;
    }
    c.function.client(kWds, c.request.message().client_id)->settings["ip_family"] = family;
  });
  t.add(kWds, 0x0051, [](QmiCall& c) {
    auto status = *c.request.number(0x01);
    if (status > 2) {
      c.reply.fail(QmiError::kInvalidArgument);
      return;
    }
    c.function.settings["wds.autoconnect"] = status;
    if (auto roaming = c.request.number(0x10)) c.function.settings["wds.autoconnect_roaming"] = *roaming;
  });
  // Bind Mux Data Port: 0x10 endpoint, 0x11 mux id; kept for the data path (QMAP).
  t.add(kWds, 0x00a2, [](QmiCall& c) {
    if (auto mux = c.request.number(0x11)) {
      c.function.client(kWds, c.request.message().client_id)->settings["mux_id"] = *mux;
    }
  });
}

// Each client hears of its own session (client_context) going up or down. A client with no
// call and no mux id follows the first session, from the function's last status on (it may be
// younger than the change).
void wds_model_changed(QmiFunction& f, ModelChange change) {
  if (change != ModelChange::kData) return;
  // Calls whose context went down are over.
  const auto& contexts = f.modem().state().contexts;
  std::erase_if(f.packet_handles, [&](const auto& h) {
    auto it = contexts.find(h.second.cid);
    return it == contexts.end() || !it->second.active;
  });
  std::uint64_t shared_last = f.setting("wds.last_status", kDisconnected);
  f.settings["wds.last_status"] = active_context(f.modem()) != nullptr ? kConnected : kDisconnected;
  const qmi::MessageDef* def = qmi::find_message(kWds, 0x0022);
  for (QmiClient* c : f.clients(kWds)) {
    bool up = client_context(f, c->id) != nullptr;
    std::uint8_t now = up ? kConnected : kDisconnected;
    std::uint64_t last = c->setting("wds.last_status", bound_to_mux(c) ? kDisconnected : shared_last);
    c->settings["wds.last_status"] = now;
    if (last == now) continue;
    std::map<std::uint8_t, qmi::Record> tlvs{{0x01, {now, 0}}, {0x12, {4}}};
    if (!up) {
      // The network's reason while a drop is reported (DataService::drop_session), else the client's.
      const CallEndReason* ending = f.modem().data().ending_reason();
      tlvs[0x10] = {ending != nullptr ? ending->reason : kEndClientEnd};
      tlvs[0x11] = {ending != nullptr ? ending->verbose_type : kVerbose3gpp,
                    ending != nullptr ? ending->verbose_reason : kSmRegularDeactivation};
    }
    f.indicate(qmi::build_indication(*def, c->id, tlvs));
  }
}

}  // namespace modemu::emulator
