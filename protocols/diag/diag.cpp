#include "protocols/diag/diag.hpp"

namespace modemu::protocols::diag {

bool is_edl_switch(ByteView p) {
  return p.size() == 4 && p[0] == kSubsystemDispatch && p[1] == 0x65 && p[2] == 0x01 && p[3] == 0x00;
}

Bytes edl_switch_request() { return {kSubsystemDispatch, 0x65, 0x01, 0x00}; }

Bytes version_info_response(const VersionInfo& v) {
  Writer w;
  w.u8(kVersionInfo);
  w.padded(v.comp_date, 11);
  w.padded(v.comp_time, 8);
  w.padded(v.rel_date, 11);
  w.padded(v.rel_time, 8);
  w.padded(v.ver_dir, 8);
  w.u8(0).u8(0).u8(v.mob_model).le16(v.mob_firm_rev).u8(0).u8(v.hw_major).u8(v.hw_minor);
  return w.take();
}

Bytes extended_build_id_response(std::uint32_t msm, std::uint32_t mobile_model, const std::string& revision,
                                 const std::string& model) {
  Writer w;
  w.u8(kExtendedBuildId).u8(0).le16(0).le32(msm).le32(mobile_model);
  w.text(revision).u8(0).text(model).u8(0);
  return w.take();
}

Bytes bad_command_response(ByteView request) {
  Writer w;
  w.u8(kBadCommand).bytes(request);
  return w.take();
}

}  // namespace modemu::protocols::diag
