#pragma once
// The modem's AT services: handlers grouped per domain (identity, SIM, network, packet data,
// power, vendor), each with the 27.007 (or vendor manual) syntax it implements written above it.
// Handlers read and change the model through Modem; they never call each other.
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/at/engine.hpp"

namespace modemu::emulator {

class Modem;
class AtPort;
enum class ActionResult;

struct AtCall {
  const protocols::at::Command& cmd;
  protocols::at::Response& response;
  Modem& modem;
  AtPort& port;

  protocols::at::CommandKind kind() const { return cmd.kind; }
  std::size_t argc() const { return cmd.args.size(); }
  const protocols::at::Argument& arg(std::size_t i) const { return cmd.args.at(i); }
  void reply(std::string line) { response.add(std::move(line)); }
};

using AtHandler = std::function<protocols::at::Outcome(AtCall&)>;

class AtCommandTable {
 public:
  // name as the parser gives it: "+CSQ", "!GSTATUS", "I", "D".
  void add(std::string name, AtHandler handler);
  const AtHandler* find(std::string_view name) const;
  std::size_t size() const { return handlers_.size(); }
  std::vector<std::string> names() const;

 private:
  std::map<std::string, AtHandler, std::less<>> handlers_;
};

// The table for a modem's profile: the 27.007 domains plus the vendor's extensions.
AtCommandTable build_at_commands(const Modem& modem);

void register_identity_commands(AtCommandTable& table);
void register_sim_commands(AtCommandTable& table);
void register_network_commands(AtCommandTable& table);
void register_packet_commands(AtCommandTable& table);
void register_power_commands(AtCommandTable& table);
void register_quectel_commands(AtCommandTable& table);
void register_sierra_commands(AtCommandTable& table);

// Maps a model action's result to a final result code (27.007 9.2).
protocols::at::Outcome to_outcome(ActionResult result);

// Registration reports, shared by the read commands and the URCs (27.007 7.2, 10.1.20, 10.1.22).
enum class RegReport { kCreg, kCgreg, kCereg };
std::string_view reg_prefix(RegReport which);
// The value part after "+CREG: " for the given <n>: "<stat>[,<lac>,<ci>,<AcT>]".
std::string reg_fields(const Modem& modem, int n);
// 27.007 <AcT> of the serving network: 0 GSM, 2 UTRAN, 7 E-UTRAN, 13 NR (EN-DC).
int access_technology(const Modem& modem);
// An ICCID read answered "<prefix><ICCID>" (+CCID, +ICCID, +QCCID): readable while a PIN is
// still required, as the ICCID is not PIN protected.
AtHandler iccid_read(std::string prefix);

}  // namespace modemu::emulator
