#include "emulator/sierra/store.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "emulator/profile.hpp"
#include "emulator/state_dir.hpp"
#include "emulator/textproto.hpp"
#include "protocols/cwe/cwe.hpp"

namespace modemu::emulator::sierra {

namespace cwe = protocols::cwe;

namespace {

std::string config_version_of(std::string_view carrier_config) {
  // "GENERIC_002.079_000" -> "002.079_000"
  auto us = carrier_config.find('_');
  return std::string(us == std::string_view::npos ? carrier_config : carrier_config.substr(us + 1));
}

profile::SierraImage modem_image(const profile::Firmware& fw) {
  profile::SierraImage img;
  img.set_type(kModemImage);
  img.set_unique_id(kModemUniqueId);
  img.set_build_id(fw.modem_version() + "_?");
  img.set_version(fw.version());
  return img;
}

profile::SierraImage pri_image(const profile::Firmware& fw) {
  profile::SierraImage img;
  img.set_type(kPriImage);
  img.set_unique_id(config_version_of(fw.carrier_config()));
  img.set_build_id(fw.modem_version() + "_" + fw.carrier());
  img.set_carrier(fw.carrier());
  img.set_config(fw.carrier_config());
  img.set_version("_" + fw.modem_version() + "_" + fw.carrier_config());
  return img;
}

SinkError sink_error(std::uint32_t code, std::string text) { return SinkError{code, std::move(text)}; }

}  // namespace

std::string modem_version_of(std::string_view firmware_version) {
  if (auto v = cwe::parse_version(firmware_version)) return v->firmware;
  return std::string(firmware_version);
}

Store::Store(const profile::Profile& profile, const profile::Firmware& factory, std::optional<std::filesystem::path> file,
             Events events)
    : profile_(profile), file_(std::move(file)), events_(std::move(events)) {
  if (file_ && std::filesystem::exists(*file_)) {
    std::string text = read_text_file(*file_);
    google::protobuf::TextFormat::ParseInfoTree tree;
    try {
      parse_text_proto(text, file_->string(), state_, tree);
    } catch (const TextProtoError& e) {
      throw std::runtime_error(fmt::format("{} (move it away to start from the factory firmware)", e.what()));
    }
    return;
  }
  created_ = true;
  reset_to_factory(factory);
}

void Store::reset_to_factory(const profile::Firmware& factory) {
  state_.Clear();
  *state_.add_images() = modem_image(factory);
  *state_.add_images() = pri_image(factory);
  auto* pref = state_.mutable_preference();
  pref->set_modem_build(state_.images(0).build_id());
  pref->set_pri_unique(state_.images(1).unique_id());
  pref->set_pri_build(state_.images(1).build_id());
  *state_.mutable_running() = *pref;
  save();
}

void Store::event(std::string kind, std::string message) const {
  if (events_) events_(std::move(kind), std::move(message));
}

void Store::save() {
  if (!file_) return;
  std::string text;
  google::protobuf::TextFormat::PrintToString(state_, &text);
  write_file_atomic(*file_, "# modemu: the Sierra firmware storage of this modem\n" + text);
}

const profile::SierraImage* Store::find_modem(std::string_view build_id) const {
  for (const auto& img : state_.images()) {
    if (img.type() == kModemImage && img.build_id() == build_id) return &img;
  }
  return nullptr;
}

const profile::SierraImage* Store::find_pri(std::string_view unique_id, std::string_view build_id) const {
  for (const auto& img : state_.images()) {
    if (img.type() == kPriImage && img.unique_id() == unique_id && img.build_id() == build_id) return &img;
  }
  return nullptr;
}

std::vector<std::uint8_t> Store::missing() const {
  std::vector<std::uint8_t> out;
  const auto& p = state_.preference();
  if (find_modem(p.modem_build()) == nullptr) out.push_back(kModemImage);
  if (find_pri(p.pri_unique(), p.pri_build()) == nullptr) out.push_back(kPriImage);
  return out;
}

std::optional<std::vector<std::uint8_t>> Store::set_preference(const profile::SierraImagePair& pref, std::string* error) {
  auto bad = [&](std::string why) -> std::optional<std::vector<std::uint8_t>> {
    if (error != nullptr) *error = std::move(why);
    return std::nullopt;
  };
  // Build ids as the updater writes them: "<dd.dd.dd.dd>_?" and "<dd.dd.dd.dd>_<carrier>".
  auto modem = cwe::parse_version("_" + pref.modem_build());
  if (!modem || pref.modem_build() != modem->firmware + "_?") {
    return bad(fmt::format("modem build id \"{}\" is not <dd.dd.dd.dd>_?", pref.modem_build()));
  }
  auto pri = cwe::parse_version("_" + pref.pri_build() + "_" + pref.pri_unique());
  if (!pri || pri->carrier.empty() || pref.pri_build() != pri->firmware + "_" + pri->carrier ||
      pri->config != pref.pri_unique()) {
    return bad(fmt::format("PRI \"{}\" / \"{}\" is not <dd.dd.dd.dd>_<carrier> / <ddd.ddd_ddd>", pref.pri_build(),
                           pref.pri_unique()));
  }
  *state_.mutable_preference() = pref;
  save();
  auto want = missing();
  event("sierra.preference", fmt::format("firmware preference {} + {} {} ({} to download)", pref.modem_build(),
                                         pref.pri_build(), pref.pri_unique(), want.size()));
  return want;
}

void Store::force_preference(const profile::SierraImagePair& pref, std::string_view cause) {
  *state_.mutable_preference() = pref;
  save();
  event("sierra.preference", fmt::format("firmware preference {} + {} {} ({})", pref.modem_build(), pref.pri_build(),
                                         pref.pri_unique(), cause));
}

bool Store::boot_preferred() {
  if (!missing().empty()) return false;
  if (state_.running().SerializeAsString() != state_.preference().SerializeAsString()) {
    *state_.mutable_running() = state_.preference();
    save();
  }
  return true;
}

profile::Firmware Store::firmware_for(const profile::SierraImagePair& pair) const {
  std::string version = pair.modem_build();
  if (version.size() > 2 && version.ends_with("_?")) version.resize(version.size() - 2);
  profile::Firmware fw;
  const profile::Firmware* known = nullptr;
  for (const auto& f : profile_.firmware().versions()) {
    if (f.modem_version() == version) known = &f;
  }
  if (known != nullptr) {
    fw = *known;
  } else {
    const auto* img = find_modem(pair.modem_build());
    std::string name = img != nullptr && !img->version().empty()
                           ? img->version()
                           : fmt::format("{}_{}", profile_.sierra().firmware_prefix(), version);
    fw.set_version(name);
    fw.set_modem_version(version);
    fw.set_full_revision(fmt::format("{} r0000 CARMD-EV-FRMWR2 {}", name, profile_.sierra().build_date()));
  }
  if (const auto* pri = find_pri(pair.pri_unique(), pair.pri_build())) {
    fw.set_carrier(pri->carrier());
    fw.set_carrier_config(pri->config());
  } else if (!pair.pri_build().empty()) {
    auto us = pair.pri_build().find('_');
    fw.set_carrier(us == std::string::npos ? "" : pair.pri_build().substr(us + 1));
    fw.set_carrier_config(fw.carrier() + "_" + pair.pri_unique());
  }
  return fw;
}

profile::Firmware Store::running_firmware() const { return firmware_for(state_.running()); }
profile::Firmware Store::preferred_firmware() const { return firmware_for(state_.preference()); }

// --- downloads -----------------------------------------------------------------------------

std::optional<SinkError> Store::begin(std::uint8_t image_type, std::uint64_t total) {
  if (total < cwe::kHeaderSize) {
    return sink_error(protocols::qdl::kErrBadLength, fmt::format("an image of {} bytes cannot hold a CWE header", total));
  }
  if (total > kMaxImage) {
    return sink_error(protocols::qdl::kErrOutOfSpace, fmt::format("an image of {} bytes does not fit the storage", total));
  }
  receiving_ = true;
  expected_ = total;
  received_.clear();
  received_.reserve(static_cast<std::size_t>(total));
  if (!state_.download_in_progress() || state_.download_image_type() != image_type) {
    state_.set_download_in_progress(true);
    state_.set_download_image_type(image_type);
    save();
  }
  event("sierra.download", fmt::format("download of a {} byte image (type {:#04x}) starts", total, image_type));
  return std::nullopt;
}

std::optional<SinkError> Store::write(ByteView chunk) {
  if (!receiving_) return sink_error(protocols::qdl::kErrCommandSequence, "image data before the download was opened");
  if (chunk.size() > expected_ - received_.size()) {
    return sink_error(protocols::qdl::kErrBadLength, fmt::format("{} bytes more than the {} announced", received_.size() + chunk.size() - expected_,
                                                 expected_));
  }
  received_.insert(received_.end(), chunk.begin(), chunk.end());
  return std::nullopt;
}

std::optional<SinkError> Store::finish() {
  if (!receiving_) return sink_error(protocols::qdl::kErrCommandSequence, "close without an open download");
  receiving_ = false;
  protocols::Bytes bytes = std::move(received_);
  received_ = {};
  if (bytes.size() != expected_) {
    return sink_error(protocols::qdl::kErrBadLength, fmt::format("{} of {} announced bytes arrived", bytes.size(), expected_));
  }
  auto result = install(bytes);
  if (result) {
    event("sierra.download", fmt::format("image refused: {}", result->text));
    return result;
  }
  state_.set_download_in_progress(false);
  state_.clear_download_image_type();
  save();
  ++installs_;
  return std::nullopt;
}

bool Store::make_room(std::uint32_t type, const std::vector<profile::SierraImage>& incoming) {
  std::uint32_t limit = type == kModemImage ? profile_.sierra().max_modem_images() : profile_.sierra().max_pri_images();
  if (limit == 0) limit = type == kModemImage ? 4 : 50;
  auto count = [&] {
    return static_cast<std::uint32_t>(std::count_if(state_.images().begin(), state_.images().end(),
                                                    [&](const profile::SierraImage& i) { return i.type() == type; }));
  };
  std::uint32_t adding = static_cast<std::uint32_t>(
      std::count_if(incoming.begin(), incoming.end(), [&](const profile::SierraImage& i) { return i.type() == type; }));
  // The oldest images that neither run nor are preferred make way, as the module overwrites a
  // slot of its own choosing; when too few can, nothing is removed.
  auto protected_image = [&](const profile::SierraImage& i) {
    for (const auto* pair : {&state_.running(), &state_.preference()}) {
      if (type == kModemImage && i.build_id() == pair->modem_build()) return true;
      if (type == kPriImage && i.unique_id() == pair->pri_unique() && i.build_id() == pair->pri_build()) return true;
    }
    return false;
  };
  std::uint32_t have = count();
  if (have + adding <= limit) return true;
  std::uint32_t excess = have + adding - limit;
  std::vector<int> victims;
  for (int i = 0; i < state_.images_size() && victims.size() < excess; ++i) {
    const auto& img = state_.images(i);
    if (img.type() == type && !protected_image(img)) victims.push_back(i);
  }
  if (victims.size() < excess) return false;
  auto* images = state_.mutable_images();
  for (auto it = victims.rbegin(); it != victims.rend(); ++it) {
    event("sierra.storage", fmt::format("stored image {} {} removed to make room", images->Get(*it).unique_id(),
                                        images->Get(*it).build_id()));
    images->erase(images->begin() + *it);
  }
  return true;
}

std::optional<SinkError> Store::install(protocols::ByteView bytes) {
  auto parsed = cwe::parse(bytes);
  if (!parsed) {
    std::uint32_t code = parsed.error.message.find("CRC") != std::string::npos ? protocols::qdl::kErrBadCrc : protocols::qdl::kErrImageAuth;
    return sink_error(code, "CWE image " + parsed.error.describe());
  }
  const std::string& product = profile_.sierra().cwe_product();
  std::vector<profile::SierraImage> incoming;
  for (const cwe::Image* img : cwe::flatten(*parsed.image)) {
    const auto& h = img->header;
    if (!product.empty() && h.product != product) {
      return sink_error(protocols::qdl::kErrImageAuth, fmt::format("{} image at byte {} is for product \"{}\", this module is {}",
                                                             h.type, img->offset, h.product, product));
    }
    if (h.type == cwe::kApplication) {
      auto v = cwe::parse_version(h.version);
      if (!v) {
        return sink_error(protocols::qdl::kErrImageAuth,
                          fmt::format("APPL image at byte {}: version \"{}\" names no firmware", img->offset, h.version));
      }
      profile::SierraImage s;
      s.set_type(kModemImage);
      s.set_unique_id(kModemUniqueId);
      s.set_build_id(v->firmware + "_?");
      s.set_version(h.version);
      s.set_date(h.date);
      incoming.push_back(std::move(s));
    } else if (h.type == cwe::kCarrier) {
      auto v = cwe::parse_version(h.version);
      if (!v || v->carrier.empty()) {
        return sink_error(protocols::qdl::kErrImageAuth, fmt::format("NVUP image at byte {}: version \"{}\" names no carrier "
                                                               "configuration", img->offset, h.version));
      }
      profile::SierraImage s;
      s.set_type(kPriImage);
      s.set_unique_id(v->config);
      s.set_build_id(v->firmware + "_" + v->carrier);
      s.set_version(h.version);
      s.set_date(h.date);
      s.set_carrier(v->carrier);
      s.set_config(v->carrier + "_" + v->config);
      incoming.push_back(std::move(s));
    }
  }
  if (incoming.empty()) {
    return sink_error(protocols::qdl::kErrImageAuth,
                      fmt::format("{} image holds neither a modem (APPL) nor a carrier (NVUP) image", parsed.image->header.type));
  }
  // Replace what is stored under the same ids, then make room for the rest.
  profile::SierraFirmwareState before = state_;
  auto* images = state_.mutable_images();
  for (const auto& in : incoming) {
    auto same = std::find_if(images->begin(), images->end(), [&](const profile::SierraImage& i) {
      return i.type() == in.type() && i.unique_id() == in.unique_id() && i.build_id() == in.build_id();
    });
    if (same != images->end()) images->erase(same);
  }
  for (std::uint32_t type : {kModemImage, kPriImage}) {
    if (!make_room(type, incoming)) {
      state_ = std::move(before);  // nothing half-applied
      return sink_error(protocols::qdl::kErrOutOfSpace, fmt::format("no free slot for a {} image", type == kModemImage ? "modem" : "PRI"));
    }
  }
  // A downloaded image becomes the preferred one: the module boots what it was given (the
  // recovery of seed 000 sets no preference before downloading).
  for (const auto& in : incoming) {
    *state_.add_images() = in;
    auto* pref = state_.mutable_preference();
    if (in.type() == kModemImage) {
      pref->set_modem_build(in.build_id());
    } else {
      pref->set_pri_unique(in.unique_id());
      pref->set_pri_build(in.build_id());
    }
    event("sierra.storage", fmt::format("stored {} image {} {} ({})", in.type() == kModemImage ? "modem" : "PRI",
                                        in.unique_id(), in.build_id(), in.version()));
  }
  return std::nullopt;
}

}  // namespace modemu::emulator::sierra
