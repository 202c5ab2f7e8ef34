// The QMI messages the emulator serves, as data. Message and TLV ids, field order and widths
// are protocol facts (qmi.md; libqmi 1.32's schema as the behavioural reference); the notation
// is ours (schema.hpp). A TLV below 0x10 in a request is mandatory.
#include <stdexcept>

#include <fmt/format.h>

#include "protocols/qmi/schema.hpp"

namespace modemu::protocols::qmi {
namespace {

struct T {
  std::uint8_t type;
  const char* name;
  const char* layout;
  bool personal = false;
};

std::vector<TlvDef> tlvs(std::initializer_list<T> list, bool request) {
  std::vector<TlvDef> out;
  for (const T& t : list) {
    TlvDef d;
    d.type = t.type;
    d.name = t.name;
    d.fields = parse_layout(t.layout);
    d.personal = t.personal;
    d.mandatory = request && t.type < 0x10;
    out.push_back(std::move(d));
  }
  return out;
}

MessageDef msg(std::uint8_t service, std::uint16_t id, const char* name, std::initializer_list<T> request,
               std::initializer_list<T> response, std::initializer_list<T> indication = {}) {
  return MessageDef{service, id, name, tlvs(request, true), tlvs(response, false), tlvs(indication, false)};
}

constexpr std::uint8_t kCtl = 0x00, kWds = 0x01, kDms = 0x02, kNas = 0x03, kUim = 0x0b, kWda = 0x1a;

// Shared layouts.
constexpr const char* kFirmwareList = "images:list8(type:u8 unique_id:bytes16 build_id:str8)";
constexpr const char* kCardStatus =
    "index_gw_primary:u16 index_1x_primary:u16 index_gw_secondary:u16 index_1x_secondary:u16 "
    "cards:list8(card_state:u8 upin_state:u8 upin_retries:u8 upuk_retries:u8 error_code:u8 "
    "applications:list8(type:u8 state:u8 perso_state:u8 perso_feature:u8 perso_retries:u8 "
    "perso_unblock_retries:u8 aid:list8(byte:u8) upin_replaces_pin1:u8 pin1_state:u8 pin1_retries:u8 "
    "puk1_retries:u8 pin2_state:u8 pin2_retries:u8 puk2_retries:u8))";


// The system-info prefix shared by the GSM, WCDMA and LTE system info TLVs (NAS 0x004D/0x004E).
#define MODEMU_SYSINFO_PREFIX                                                                     \
  "domain_valid:u8 domain:u8 capability_valid:u8 capability:u8 roaming_valid:u8 roaming:u8 "     \
  "forbidden_valid:u8 forbidden:u8 lac_valid:u8 lac:u16 cid_valid:u8 cid:u32 reject_valid:u8 "   \
  "reject_domain:u8 reject_cause:u8 network_id_valid:u8 mcc:bytes3 mnc:bytes3 "

constexpr const char* kLteSystemInfo = MODEMU_SYSINFO_PREFIX "tac_valid:u8 tac:u16";
constexpr const char* kServiceStatus = "service_status:u8 true_service_status:u8 preferred_data_path:u8";
constexpr const char* kServingSystem = "registration_state:u8 cs_attach:u8 ps_attach:u8 network_type:u8 "
                                       "radio_interfaces:list8(interface:u8)";
constexpr const char* kPlmn = "mcc:u16 mnc:u16 description:str8";
constexpr const char* kLteSignal = "rssi:i8 rsrq:i8 rsrp:i16 snr:i16";

void append_nas_wds_wda(std::vector<MessageDef>& m) {
  // --- NAS ---------------------------------------------------------------------------------
  m.push_back(msg(kNas, 0x0003, "Register Indications",
                  {{0x10, "system_selection_preference", "enable:u8"}, {0x12, "ddtm", "enable:u8"},
                   {0x13, "serving_system", "enable:u8"}, {0x14, "dual_standby", "enable:u8"},
                   {0x15, "subscription_info", "enable:u8"}, {0x17, "network_time", "enable:u8"},
                   {0x18, "system_info", "enable:u8"}, {0x19, "signal_info", "enable:u8"},
                   {0x1a, "error_rate", "enable:u8"}, {0x1d, "managed_roaming", "enable:u8"},
                   {0x1e, "current_plmn_name", "enable:u8"}, {0x1f, "embms", "enable:u8"},
                   {0x20, "rf_band_information", "enable:u8"}, {0x21, "network_reject", "enable:u8 suppress_system_info:u8"}},
                  {}));
  m.push_back(msg(kNas, 0x0020, "Get Signal Strength", {{0x10, "request_mask", "mask:u16"}},
                  {{0x01, "signal_strength", "strength:i8 radio_interface:i8"},
                   {0x10, "strength_list", "list:list16(strength:i8 radio_interface:i8)"},
                   {0x11, "rssi_list", "list:list16(rssi:u8 radio_interface:i8)"},
                   {0x16, "rsrq", "rsrq:i8 radio_interface:i8"}, {0x17, "lte_snr", "snr:i16"},
                   {0x18, "lte_rsrp", "rsrp:i16"}}));
  // Action 0x01 is not marked mandatory by the reference schema: a request may omit it.
  m.push_back(msg(kNas, 0x0022, "Initiate Network Register",
                  {{0x11, "change_duration", "duration:u8"}, {0x10, "manual_registration", "mcc:u16 mnc:u16 radio_interface:i8"},
                   {0x12, "mnc_pcs_digit", "include:u8"}},
                  {}));
  m.back().request.insert(m.back().request.begin(), TlvDef{0x01, "action", parse_layout("action:u8"), false, false});
  m.push_back(msg(kNas, 0x0024, "Get Serving System", {},
                  {{0x01, "serving_system", kServingSystem}, {0x10, "roaming_indicator", "value:u8"},
                   {0x11, "data_service_capability", "list:list8(capability:u8)"}, {0x12, "current_plmn", kPlmn},
                   {0x1c, "lac_3gpp", "lac:u16"}, {0x1d, "cid_3gpp", "cid:u32"},
                   {0x21, "detailed_service_status", "status:u8 capability:u8 hdr_status:u8 hdr_hybrid:u8 forbidden:u8"},
                   {0x24, "lte_tac", "tac:u16"}},
                  {{0x01, "serving_system", kServingSystem}, {0x10, "roaming_indicator", "value:u8"},
                   {0x11, "data_service_capability", "list:list8(capability:u8)"}, {0x12, "current_plmn", kPlmn},
                   {0x1d, "lac_3gpp", "lac:u16"}, {0x1e, "cid_3gpp", "cid:u32"}, {0x25, "lte_tac", "tac:u16"}}));
  m.push_back(msg(kNas, 0x0025, "Get Home Network", {},
                  {{0x01, "home_network", kPlmn}, {0x12, "home_network_3gpp_mnc", "is_3gpp:u8 includes_pcs_digit:u8"}}));
  m.push_back(msg(kNas, 0x0031, "Get RF Band Information", {},
                  {{0x01, "list", "list:list8(radio_interface:i8 active_band:u16 active_channel:u16)"},
                   {0x11, "extended_list", "list:list8(radio_interface:i8 active_band:u16 active_channel:u32)"},
                   {0x12, "bandwidth_list", "list:list8(radio_interface:i8 bandwidth:u32)"}}));
  m.push_back(msg(kNas, 0x0034, "Get System Selection Preference", {},
                  {{0x10, "emergency_mode", "value:u8"}, {0x11, "mode_preference", "mask:u16"},
                   {0x12, "band_preference", "mask:u64"}, {0x15, "lte_band_preference", "mask:u64"},
                   {0x16, "network_selection_preference", "value:u8"}}));
  // Signal reporting thresholds: accepted, reports go out on registration and signal changes.
  m.push_back(msg(kNas, 0x0050, "Config Signal Info", {}, {}));
  m.push_back(msg(kNas, 0x006c, "Config Signal Info v2", {}, {}));
  m.push_back(msg(kNas, 0x004d, "Get System Info", {},
                  {{0x12, "gsm_service_status", kServiceStatus}, {0x13, "wcdma_service_status", kServiceStatus},
                   {0x14, "lte_service_status", kServiceStatus}, {0x19, "lte_system_info", kLteSystemInfo}}));
  m.push_back(msg(kNas, 0x004e, "System Info", {}, {},
                  {{0x12, "gsm_service_status", kServiceStatus}, {0x13, "wcdma_service_status", kServiceStatus},
                   {0x14, "lte_service_status", kServiceStatus}, {0x19, "lte_system_info", kLteSystemInfo}}));
  m.push_back(msg(kNas, 0x004f, "Get Signal Info", {}, {{0x14, "lte", kLteSignal}}));
  m.push_back(msg(kNas, 0x0051, "Signal Info", {}, {}, {{0x14, "lte", kLteSignal}}));
  m.push_back(msg(kNas, 0x0068, "Network Reject", {}, {},
                  {{0x01, "radio_interface", "value:u8"}, {0x02, "service_domain", "value:u8"},
                   {0x03, "reject_cause", "value:u8"}, {0x10, "plmn", "mcc:u16 mnc:u16 includes_pcs_digit:u8"}}));
  // --- WDS ---------------------------------------------------------------------------------
  m.push_back(msg(kWds, 0x0020, "Start Network",
                  {{0x10, "primary_dns_preference", "address:u32"}, {0x11, "secondary_dns_preference", "address:u32"},
                   {0x14, "apn", "value:str"}, {0x15, "ipv4_address_preference", "address:u32"},
                   {0x16, "authentication", "mask:u8"}, {0x17, "username", "value:str", true},
                   {0x18, "password", "value:str", true}, {0x19, "ip_family", "family:u8"},
                   {0x30, "technology_preference", "mask:u8"}, {0x31, "profile_index_3gpp", "index:u8"},
                   {0x32, "profile_index_3gpp2", "index:u8"}, {0x33, "enable_autoconnect", "enable:u8"},
                   {0x34, "extended_technology_preference", "value:u16"}, {0x35, "call_type", "value:u8"}},
                  {{0x01, "packet_data_handle", "handle:u32"}, {0x10, "call_end_reason", "reason:u16"},
                   {0x11, "verbose_call_end_reason", "type:u16 reason:i16"}}));
  m.push_back(msg(kWds, 0x0021, "Stop Network",
                  {{0x01, "packet_data_handle", "handle:u32"}, {0x10, "disable_autoconnect", "disable:u8"}}, {}));
  m.push_back(msg(kWds, 0x0022, "Get Packet Service Status", {}, {{0x01, "connection_status", "status:u8"}},
                  {{0x01, "connection_status", "status:u8 reconfiguration_required:u8"},
                   {0x10, "call_end_reason", "reason:u16"}, {0x11, "verbose_call_end_reason", "type:u16 reason:i16"},
                   {0x12, "ip_family", "family:u8"}}));
  m.push_back(msg(kWds, 0x0023, "Get Channel Rates", {},
                  {{0x01, "channel_rates", "tx_bps:u32 rx_bps:u32 max_tx_bps:u32 max_rx_bps:u32"}}));
  m.push_back(msg(kWds, 0x0024, "Get Packet Statistics", {{0x01, "mask", "mask:u32"}},
                  {{0x10, "tx_packets_ok", "value:u32"}, {0x11, "rx_packets_ok", "value:u32"},
                   {0x12, "tx_packets_error", "value:u32"}, {0x13, "rx_packets_error", "value:u32"},
                   {0x14, "tx_overflows", "value:u32"}, {0x15, "rx_overflows", "value:u32"},
                   {0x19, "tx_bytes_ok", "value:u64"}, {0x1a, "rx_bytes_ok", "value:u64"},
                   {0x1d, "tx_packets_dropped", "value:u32"}, {0x1e, "rx_packets_dropped", "value:u32"}}));
  const std::initializer_list<T> profile = {
      {0x10, "profile_name", "value:str"}, {0x11, "pdp_type", "type:u8"}, {0x14, "apn", "value:str"},
      {0x15, "primary_dns", "address:u32"}, {0x16, "secondary_dns", "address:u32"},
      {0x1b, "username", "value:str", true}, {0x1c, "password", "value:str", true}, {0x1d, "authentication", "mask:u8"},
      {0x25, "context_number", "value:u8"}, {0x2f, "apn_disabled", "value:u8"}, {0x3e, "roaming_disallowed", "value:u8"}};
  m.push_back(msg(kWds, 0x0027, "Create Profile", {}, {{0x01, "profile_identifier", "type:u8 index:u8"},
                                                       {0xe0, "extended_error", "code:u16"}}));
  m.back().request = tlvs(profile, true);
  m.back().request.insert(m.back().request.begin(), TlvDef{0x01, "profile_type", parse_layout("type:u8"), false, true});
  m.push_back(msg(kWds, 0x0028, "Modify Profile", {}, {{0xe0, "extended_error", "code:u16"}}));
  m.back().request = tlvs(profile, true);
  m.back().request.insert(m.back().request.begin(), TlvDef{0x01, "profile_identifier", parse_layout("type:u8 index:u8"), false, true});
  m.push_back(msg(kWds, 0x002a, "Get Profile List", {{0x10, "profile_type", "type:u8"}},
                  {{0x01, "profiles", "list:list8(type:u8 index:u8 name:str8)"}, {0xe0, "extended_error", "code:u16"}}));
  m.push_back(msg(kWds, 0x002b, "Get Profile Settings", {{0x01, "profile_id", "type:u8 index:u8"}}, {}));
  m.back().response = tlvs(profile, false);
  m.back().response.push_back(TlvDef{0xe0, "extended_error", parse_layout("code:u16"), false, false});
  m.push_back(msg(kWds, 0x002c, "Get Default Settings", {{0x01, "profile_type", "type:u8"}}, {}));
  m.back().response = tlvs(profile, false);
  m.push_back(msg(kWds, 0x002d, "Get Current Settings", {{0x10, "requested_settings", "mask:u32"}},
                  {{0x10, "profile_name", "value:str"}, {0x11, "pdp_type", "type:u8"}, {0x14, "apn", "value:str"},
                   {0x15, "primary_ipv4_dns", "address:u32"}, {0x16, "secondary_ipv4_dns", "address:u32"},
                   {0x1e, "ipv4_address", "address:u32"}, {0x1f, "profile_id", "type:u8 index:u8"},
                   {0x20, "ipv4_gateway", "address:u32"}, {0x21, "ipv4_subnet_mask", "mask:u32"},
                   {0x25, "ipv6_address", "address:bytes16 prefix_length:u8"},
                   {0x26, "ipv6_gateway", "address:bytes16 prefix_length:u8"},
                   {0x27, "primary_ipv6_dns", "address:bytes16"}, {0x28, "secondary_ipv6_dns", "address:bytes16"},
                   {0x29, "mtu", "value:u32"},
                   {0x2b, "ip_family", "family:u8"}}));
  m.back().request[0].mandatory = true;  // qmicli always sends the requested-settings mask
  m.push_back(msg(kWds, 0x0034, "Get Autoconnect Settings", {},
                  {{0x01, "status", "status:u8"}, {0x10, "roaming", "roaming:u8"}}));
  m.push_back(msg(kWds, 0x0037, "Get Data Bearer Technology", {}, {{0x01, "current", "technology:i8"}, {0x10, "last", "technology:i8"}}));
  m.push_back(msg(kWds, 0x0044, "Get Current Data Bearer Technology", {},
                  {{0x01, "current", "network_type:u8 rat_mask:u32 so_mask:u32"},
                   {0x10, "last", "network_type:u8 rat_mask:u32 so_mask:u32"}}));
  m.push_back(msg(kWds, 0x004d, "Set IP Family", {{0x01, "preference", "family:u8"}}, {}));
  m.push_back(msg(kWds, 0x0051, "Set Autoconnect Settings", {{0x01, "status", "status:u8"}, {0x10, "roaming", "roaming:u8"}}, {}));
  m.push_back(msg(kWds, 0x00a2, "Bind Mux Data Port",
                  {{0x10, "endpoint", "type:u32 interface:u32"}, {0x11, "mux_id", "id:u8"}, {0x13, "client_type", "type:u32"}},
                  {}));
  // --- WDA ---------------------------------------------------------------------------------
  const std::initializer_list<T> format_out = {
      {0x10, "qos_format", "value:u8"}, {0x11, "link_layer_protocol", "protocol:u32"},
      {0x12, "ul_aggregation_protocol", "protocol:u32"}, {0x13, "dl_aggregation_protocol", "protocol:u32"},
      {0x14, "ndp_signature", "value:u32"}, {0x15, "dl_max_datagrams", "value:u32"}, {0x16, "dl_max_size", "value:u32"},
      {0x17, "ul_max_datagrams", "value:u32"}, {0x18, "ul_max_size", "value:u32"}};
  m.push_back(msg(kWda, 0x0020, "Set Data Format",
                  {{0x10, "qos_format", "value:u8"}, {0x11, "link_layer_protocol", "protocol:u32"},
                   {0x12, "ul_aggregation_protocol", "protocol:u32"}, {0x13, "dl_aggregation_protocol", "protocol:u32"},
                   {0x14, "ndp_signature", "value:u32"}, {0x15, "dl_max_datagrams", "value:u32"},
                   {0x16, "dl_max_size", "value:u32"}, {0x17, "endpoint", "type:u32 interface:u32"},
                   {0x1b, "ul_max_datagrams", "value:u32"}, {0x1c, "ul_max_size", "value:u32"}},
                  {}));
  m.back().response = tlvs(format_out, false);
  m.push_back(msg(kWda, 0x0021, "Get Data Format", {{0x10, "endpoint", "type:u32 interface:u32"}}, {}));
  m.back().response = tlvs(format_out, false);
}
#undef MODEMU_SYSINFO_PREFIX

std::vector<MessageDef> build() {
  std::vector<MessageDef> m;
  // --- CTL ---------------------------------------------------------------------------------
  m.push_back(msg(kCtl, 0x0020, "Set Instance ID", {{0x01, "id", "id:u8"}}, {{0x01, "link_id", "link_id:u16"}}));
  m.push_back(msg(kCtl, 0x0021, "Get Version Info", {},
                  {{0x01, "services", "services:list8(service:u8 major:u16 minor:u16)"}}));
  m.push_back(msg(kCtl, 0x0022, "Allocate CID", {{0x01, "service", "service:u8"}},
                  {{0x01, "allocation", "service:u8 cid:u8"}}));
  m.push_back(msg(kCtl, 0x0023, "Release CID", {{0x01, "release", "service:u8 cid:u8"}},
                  {{0x01, "release", "service:u8 cid:u8"}}));
  m.push_back(msg(kCtl, 0x0026, "Set Data Format", {{0x01, "qos_header", "format:u8"}, {0x10, "link_protocol", "protocol:u16"}},
                  {{0x10, "link_protocol", "protocol:u16"}}));
  m.push_back(msg(kCtl, 0x0027, "Sync", {}, {}));
  m.push_back(msg(kCtl, 0xff00, "Internal Proxy Open", {{0x01, "device_path", "path:str"}}, {}));
  // --- DMS ---------------------------------------------------------------------------------
  m.push_back(msg(kDms, 0x0020, "Get Capabilities", {},
                  {{0x01, "info", "max_tx:u32 max_rx:u32 data_service:u8 sim:u8 radio_interfaces:list8(interface:u8)"}}));
  m.push_back(msg(kDms, 0x0021, "Get Manufacturer", {}, {{0x01, "manufacturer", "value:str"}}));
  m.push_back(msg(kDms, 0x0022, "Get Model", {}, {{0x01, "model", "value:str"}}));
  m.push_back(msg(kDms, 0x0023, "Get Revision", {}, {{0x01, "revision", "value:str"}}));
  m.push_back(msg(kDms, 0x0024, "Get MSISDN", {}, {{0x01, "msisdn", "value:str", true}}));
  m.push_back(msg(kDms, 0x0025, "Get IDs", {},
                  {{0x10, "esn", "value:str"}, {0x11, "imei", "value:str", true}, {0x12, "meid", "value:str", true},
                   {0x13, "imei_sv", "value:str"}}));
  m.push_back(msg(kDms, 0x0026, "Get Power State", {}, {{0x01, "info", "flags:u8 battery_level:u8"}}));
  m.push_back(msg(kDms, 0x002b, "UIM Get PIN Status", {},
                  {{0x11, "pin1", "status:u8 verify_left:u8 unblock_left:u8"},
                   {0x12, "pin2", "status:u8 verify_left:u8 unblock_left:u8"}}));
  m.push_back(msg(kDms, 0x002c, "Get Hardware Revision", {}, {{0x01, "revision", "value:str"}}));
  m.push_back(msg(kDms, 0x002d, "Get Operating Mode", {},
                  {{0x01, "mode", "mode:u8"}, {0x10, "offline_reason", "flags:u16"}, {0x11, "hw_restricted", "value:u8"}}));
  m.push_back(msg(kDms, 0x002e, "Set Operating Mode", {{0x01, "mode", "mode:u8"}}, {}));
  m.push_back(msg(kDms, 0x003c, "UIM Get ICCID", {}, {{0x01, "iccid", "value:str", true}}));
  m.push_back(msg(kDms, 0x003e, "Set Firmware ID", {}, {}));
  m.push_back(msg(kDms, 0x0043, "UIM Get IMSI", {}, {{0x01, "imsi", "value:str", true}}));
  m.push_back(msg(kDms, 0x0045, "Get Band Capabilities", {},
                  {{0x01, "band_capability", "mask:u64"}, {0x10, "lte_band_capability", "mask:u64"},
                   {0x12, "extended_lte_bands", "bands:list16(band:u16)"}}));
  m.push_back(msg(kDms, 0x0047, "Get Firmware Preference", {}, {{0x01, "list", kFirmwareList}}));
  m.push_back(msg(kDms, 0x0048, "Set Firmware Preference",
                  {{0x01, "list", kFirmwareList}, {0x10, "download_override", "value:u8"}, {0x11, "storage_index", "value:u8"}},
                  {{0x01, "download_list", "types:list8(type:u8)"}}));
  m.push_back(msg(kDms, 0x0049, "List Stored Images", {},
                  {{0x01, "list",
                    "types:list8(type:u8 max_images:u8 running_index:u8 "
                    "images:list8(storage_index:u8 failure_count:u8 unique_id:bytes16 build_id:str8))"}}));
  m.push_back(msg(kDms, 0x004c, "Get Stored Image Info", {{0x01, "image", "type:u8 unique_id:bytes16 build_id:str8"}},
                  {{0x10, "boot_version", "major:u16 minor:u16"}, {0x11, "pri_version", "version:u32 info:bytes32"},
                   {0x12, "oem_lock_id", "value:u32"}}));
  m.push_back(msg(kDms, 0x004f, "Get Boot Image Download Mode", {}, {{0x10, "mode", "mode:u8"}}));
  m.push_back(msg(kDms, 0x0050, "Set Boot Image Download Mode", {{0x01, "mode", "mode:u8"}}, {}));
  m.push_back(msg(kDms, 0x0051, "Get Software Version", {}, {{0x01, "version", "value:str"}}));
  m.push_back(msg(kDms, 0x5556, "SWI Get Current Firmware", {},
                  {{0x10, "model", "value:str"}, {0x11, "boot_version", "value:str"}, {0x12, "amss_version", "value:str"},
                   {0x13, "sku_id", "value:str"}, {0x14, "package_id", "value:str"}, {0x15, "carrier_id", "value:str"},
                   {0x16, "pri_version", "value:str"}, {0x17, "carrier", "value:str"}, {0x18, "config_version", "value:str"}}));
  m.push_back(msg(kDms, 0x555b, "SWI Get USB Composition", {},
                  {{0x10, "current", "value:u8"}, {0x11, "supported", "values:list8(value:u8)"}}));
  m.push_back(msg(kDms, 0x555c, "SWI Set USB Composition", {{0x01, "current", "value:u8"}}, {}));
  // --- UIM ---------------------------------------------------------------------------------
  m.push_back(msg(kUim, 0x0020, "Read Transparent",
                  {{0x01, "session", "type:u8 aid:list8(byte:u8)"}, {0x02, "file", "file_id:u16 path:list8(byte:u8)"},
                   {0x03, "read", "offset:u16 length:u16"}, {0x10, "token", "value:u32"}},
                  {{0x10, "card_result", "sw1:u8 sw2:u8"}, {0x11, "read_result", "data:list16(byte:u8)", true},
                   {0x12, "token", "value:u32"}}));
  m.push_back(msg(kUim, 0x002e, "Register Events", {{0x01, "mask", "mask:u32"}}, {{0x10, "mask", "mask:u32"}}));
  m.push_back(msg(kUim, 0x002f, "Get Card Status", {}, {{0x10, "card_status", kCardStatus}}));
  m.push_back(msg(kUim, 0x0030, "Power Off SIM", {{0x01, "slot", "slot:u8"}}, {}));
  m.push_back(msg(kUim, 0x0031, "Power On SIM", {{0x01, "slot", "slot:u8"}}, {}));
  m.push_back(msg(kUim, 0x0032, "Card Status", {}, {}, {{0x10, "card_status", kCardStatus}}));
  m.push_back(msg(kUim, 0x0047, "Get Slot Status", {},
                  {{0x10, "physical_slot_status",
                    "slots:list8(card_state:u32 slot_state:u32 logical_slot:u8 iccid:list8(byte:u8))", true},
                   {0x11, "physical_slot_information",
                    "slots:list8(card_protocol:u32 valid_applications:u8 atr:list8(byte:u8) is_euicc:u8)"}}));
  append_nas_wds_wda(m);
  return m;
}

}  // namespace

const std::vector<MessageDef>& messages() {
  static const std::vector<MessageDef> all = build();
  return all;
}

const MessageDef* find_message(std::uint8_t service, std::uint16_t id) {
  for (const auto& m : messages()) {
    if (m.service == service && m.id == id) return &m;
  }
  return nullptr;
}

std::string service_name(std::uint8_t service) {
  switch (service) {
    case 0x00: return "CTL";
    case 0x01: return "WDS";
    case 0x02: return "DMS";
    case 0x03: return "NAS";
    case 0x04: return "QOS";
    case 0x05: return "WMS";
    case 0x06: return "PDS";
    case 0x09: return "VOICE";
    case 0x0b: return "UIM";
    case 0x0c: return "PBM";
    case 0x10: return "LOC";
    case 0x1a: return "WDA";
    case 0x24: return "PDC";
    default: return fmt::format("service 0x{:02x}", service);
  }
}

}  // namespace modemu::protocols::qmi
