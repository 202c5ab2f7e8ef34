#include "emulator/diag/diag_port.hpp"

#include <fmt/format.h>

#include "emulator/modem.hpp"
#include "emulator/profile.hpp"
#include "protocols/diag/diag.hpp"

namespace modemu::emulator {

namespace diag = protocols::diag;

void DiagPort::from_host(std::string_view bytes) {
  deframer_.push(protocols::as_bytes(bytes));
  while (true) {
    auto r = deframer_.next();
    if (r.outcome == diag::Deframer::Outcome::kNeedMore) return;
    if (r.outcome != diag::Deframer::Outcome::kFrame) {
      modem_.event("diag.framing", fmt::format("{}: dropped {} byte(s) ({})", info().node_name, r.dropped,
                                               r.outcome == diag::Deframer::Outcome::kLostSync ? "no frame end" : "bad frame"));
      continue;
    }
    handle(r.payload);
  }
}

void DiagPort::send(const protocols::Bytes& payload) {
  auto framed = diag::frame(payload);
  to_host(protocols::as_chars(framed));
}

void DiagPort::handle(const protocols::Bytes& p) {
  const auto& fw = modem_.firmware();
  if (diag::is_edl_switch(p)) {
    if (find_composition(modem_.profile(), profile::EDL) == nullptr) {
      modem_.event("diag", fmt::format("{}: EDL switch refused: the profile has no EDL mode", info().node_name));
      send(diag::bad_command_response(p));
      return;
    }
    modem_.event("diag", fmt::format("{}: switch to emergency download requested", info().node_name));
    send(p);  // the module echoes the request, then resets into EDL
    modem_.reset_after_reply("DIAG switch to emergency download", profile::EDL);
    return;
  }
  if (p.empty()) return;
  switch (p[0]) {
    case diag::kVersionInfo: {
      diag::VersionInfo v;
      v.ver_dir = fw.version().substr(0, 8);
      send(diag::version_info_response(v));
      break;
    }
    case diag::kExtendedBuildId:
      send(diag::extended_build_id_response(0, 0, fw.version(), modem_.profile().identity().model()));
      break;
    default:
      modem_.event("diag", fmt::format("{}: command 0x{:02x} not served: DIAG_BAD_CMD_F", info().node_name, p[0]));
      send(diag::bad_command_response(p));
  }
}

}  // namespace modemu::emulator
