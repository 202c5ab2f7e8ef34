// Packet domain commands: 3GPP TS 27.007 sections 10.1.1 (+CGDCONT), 10.1.10 (+CGACT),
// 10.1.14 (+CGPADDR), and V.250 dialling (D) of the PPP service, which is not emulated.
#include <fmt/format.h>

#include "emulator/at/at_port.hpp"
#include "emulator/at/commands.hpp"
#include "emulator/modem.hpp"

namespace modemu::emulator {

namespace at = protocols::at;
using at::CommandKind;

void register_packet_commands(AtCommandTable& t) {
  // +CGDCONT=[<cid>[,<PDP_type>[,<APN>[,<PDP_addr>[,<d_comp>[,<h_comp>]]]]]]
  // +CGDCONT? -> +CGDCONT: <cid>,<PDP_type>,<APN>,<PDP_addr>,<d_comp>,<h_comp> (one per context)
  t.add("+CGDCONT", [](AtCall& c) {
    switch (c.kind()) {
      case CommandKind::kTest:
        for (const char* type : {"IP", "PPP", "IPV6", "IPV4V6"}) {
          c.reply(fmt::format("+CGDCONT: (1-15),\"{}\",,,(0-3),(0-4)", type));
        }
        return at::Outcome::ok();
      case CommandKind::kRead:
        for (const auto& [cid, ctx] : c.modem.state().contexts) {
          c.reply(fmt::format("+CGDCONT: {},\"{}\",\"{}\",\"{}\",0,0", cid, ctx.pdp_type, ctx.apn,
                              ctx.active ? ctx.address : "0.0.0.0"));
        }
        return at::Outcome::ok();
      case CommandKind::kSet: {
        auto cid = c.arg(0).as_int(1, 15);
        if (!cid) return at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
        auto id = static_cast<std::uint32_t>(*cid);
        if (c.argc() == 1) return to_outcome(c.modem.undefine_context(id));  // 27.007: undefines it
        std::string type = c.arg(1).text;
        std::string apn = c.argc() > 2 ? c.arg(2).text : std::string();
        return to_outcome(c.modem.define_context(id, type, apn));
      }
      default:
        return at::Outcome::error();
    }
  });
  // +CGACT=[<state>[,<cid>[,<cid>[,...]]]]   +CGACT? -> +CGACT: <cid>,<state> (one per context)
  t.add("+CGACT", [](AtCall& c) {
    switch (c.kind()) {
      case CommandKind::kTest:
        c.reply("+CGACT: (0,1)");
        return at::Outcome::ok();
      case CommandKind::kRead:
        for (const auto& [cid, ctx] : c.modem.state().contexts) c.reply(fmt::format("+CGACT: {},{}", cid, ctx.active ? 1 : 0));
        return at::Outcome::ok();
      case CommandKind::kSet: {
        auto state = c.arg(0).as_int(0, 1);
        if (!state) return at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
        std::vector<std::uint32_t> cids;
        for (std::size_t i = 1; i < c.argc(); ++i) {
          auto cid = c.arg(i).as_int(1, 15);
          if (!cid) return at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
          cids.push_back(static_cast<std::uint32_t>(*cid));
        }
        if (cids.empty()) {  // no <cid>: all defined contexts
          for (const auto& [cid, ctx] : c.modem.state().contexts) cids.push_back(cid);
        }
        for (std::uint32_t cid : cids) {
          if (ActionResult r = c.modem.set_context_active(cid, *state == 1); r != ActionResult::kOk) return to_outcome(r);
        }
        return at::Outcome::ok();
      }
      default:
        return at::Outcome::error();
    }
  });
  // +CGPADDR[=<cid>[,<cid>[,...]]] -> +CGPADDR: <cid>[,<PDP_addr>]
  t.add("+CGPADDR", [](AtCall& c) {
    const auto& contexts = c.modem.state().contexts;
    if (c.kind() == CommandKind::kTest) {
      std::string list;
      for (const auto& [cid, ctx] : contexts) list += (list.empty() ? "" : ",") + std::to_string(cid);
      c.reply("+CGPADDR: (" + list + ")");
      return at::Outcome::ok();
    }
    std::vector<std::uint32_t> cids;
    if (c.kind() == CommandKind::kSet) {
      for (std::size_t i = 0; i < c.argc(); ++i) {
        auto cid = c.arg(i).as_int(1, 15);
        if (!cid) return at::Outcome::cme_error(at::CmeError::kIncorrectParameters);
        cids.push_back(static_cast<std::uint32_t>(*cid));
      }
    } else if (c.kind() == CommandKind::kAction) {
      for (const auto& [cid, ctx] : contexts) cids.push_back(cid);
    } else {
      return at::Outcome::error();
    }
    for (std::uint32_t cid : cids) {
      auto it = contexts.find(cid);
      if (it == contexts.end()) continue;
      if (it->second.active) {
        c.reply(fmt::format("+CGPADDR: {},\"{}\"", cid, it->second.address));
      } else {
        c.reply(fmt::format("+CGPADDR: {}", cid));
      }
    }
    return at::Outcome::ok();
  });
  // D<dial string>: PPP (ATD*99#) is not emulated; the host is told so as a module without a
  // carrier tells it.
  t.add("D", [](AtCall& c) {
    c.modem.event("at.unsupported", fmt::format("ATD{}: PPP dial-up is not emulated", c.cmd.raw_args));
    return at::Outcome{at::ResultCode::kNoCarrier, std::nullopt};
  });
}

}  // namespace modemu::emulator
