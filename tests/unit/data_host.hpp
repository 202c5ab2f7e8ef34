#pragma once
// A host on a modem's data interface, for tests without a kernel: it plays wwan0 on the QMI
// port's DataPath in-process, sending frames as qmi_wwan would and keeping what comes back.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "emulator/data/data_path.hpp"
#include "emulator/qmi/qmi_function.hpp"
#include "protocols/net/address.hpp"
#include "protocols/net/packet.hpp"
#include "support.hpp"

namespace modemu::test {

struct DataHost {
  emulator::QmiPort* port = nullptr;
  std::vector<protocols::Bytes> received;
  bool accepting = true;  // false: the host does not read (its interface is down)
  protocols::net::MacAddress mac{0x02, 0x11, 0x22, 0x33, 0x44, 0x55};

  explicit DataHost(emulator::Modem& modem, const std::string& node = "cdc-wdm0") {
    port = dynamic_cast<emulator::QmiPort*>(modem.port_by_node(node));
    port->data_path().set_sink([this](protocols::ByteView b) {
      if (!accepting) return false;
      received.emplace_back(b.begin(), b.end());
      return true;
    });
  }

  // WDA Set Data Format's link layer, as the host chose it.
  void raw_ip(bool on) { port->function().settings["wda.link_layer"] = on ? 2 : 1; }
  bool is_raw() { return port->function().setting("wda.link_layer", 1) == 2; }

  void send_frame(const protocols::Bytes& frame) { port->data_path().from_host(frame); }
  // An IP packet, framed for the link layer (802.3: to the modem's address).
  void send_ip(const protocols::Bytes& ip) {
    if (is_raw()) {
      send_frame(ip);
    } else {
      auto type = protocols::net::ip_version(ip) == 6 ? protocols::net::kEtherTypeIpv6 : protocols::net::kEtherTypeIpv4;
      send_frame(protocols::net::build_ethernet(emulator::DataPath::kModemMac, mac, type, ip));
    }
  }
  // What came back, as IP packets (802.3 headers checked and removed) and cleared.
  std::vector<protocols::Bytes> take_ip() {
    std::vector<protocols::Bytes> out;
    for (const auto& frame : received) {
      if (is_raw()) {
        out.push_back(frame);
        continue;
      }
      auto f = protocols::net::parse_ethernet(frame);
      if (f && f->ether_type != protocols::net::kEtherTypeArp) out.emplace_back(f->payload.begin(), f->payload.end());
    }
    received.clear();
    return out;
  }
};

}  // namespace modemu::test
