#include "emulator/sierra/qdl_port.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "emulator/modem.hpp"
#include "emulator/sierra/store.hpp"
#include "protocols/qdl/qdl.hpp"

namespace modemu::emulator::sierra {

namespace qdl = protocols::qdl;
using protocols::ByteView;
using protocols::Bytes;

// The target's image sink: the module's storage, with the power-cut point and progress events of
// this port in between.
class QdlPort::Adapter final : public qdl::ImageSink {
 public:
  Adapter(Modem& modem, FirmwareSink& sink, bool& dead, std::string node)
      : modem_(modem), sink_(sink), dead_(dead), node_(std::move(node)) {}

  std::optional<qdl::Refusal> begin(std::uint8_t image_type, std::uint64_t total) override {
    ++image_index_;
    done_ = 0;
    total_ = total;
    step_ = 0;
    return refusal(sink_.begin(image_type, total), "OPEN");
  }

  std::optional<qdl::Refusal> write(ByteView bytes) override {
    if (dead_) return qdl::Refusal{qdl::kErrOperationFailed, "power lost"};
    auto& faults = modem_.edl_faults();
    if (faults.cut_at_qdl_percent >= 0 && image_index_ == faults.cut_qdl_image_index) {
      auto cut = static_cast<std::uint64_t>(faults.cut_at_qdl_percent / 100.0 * static_cast<double>(total_));
      if (done_ + bytes.size() >= cut) {
        std::size_t allowed = static_cast<std::size_t>(cut - std::min(cut, done_));
        if (allowed > 0) sink_.write(bytes.first(allowed));
        done_ += allowed;
        dead_ = true;
        faults.cut_at_qdl_percent = -1;
        modem_.power_cut(fmt::format("power cut {}% into QDL image #{} ({} of {} bytes written)",
                                     done_ * 100 / std::max<std::uint64_t>(total_, 1), image_index_, done_, total_));
        return qdl::Refusal{qdl::kErrOperationFailed, "power lost"};
      }
    }
    if (auto r = refusal(sink_.write(bytes), "WRITE")) return r;
    done_ += bytes.size();
    progress();
    return std::nullopt;
  }

  std::optional<qdl::Refusal> finish() override { return refusal(sink_.finish(), "CLOSE"); }

 private:
  std::optional<qdl::Refusal> refusal(std::optional<SinkError> error, std::string_view during) {
    if (!error) return std::nullopt;
    modem_.event("qdl", fmt::format("{}: {} refused by the storage (0x{:02x}): {}", node_, during, error->qdl_code, error->text));
    return qdl::Refusal{error->qdl_code, std::move(error->text)};
  }

  void progress() {
    if (total_ < (1u << 20)) return;
    auto step = static_cast<unsigned>(done_ * 10 / total_);
    if (step <= step_ && done_ != total_) return;
    step_ = step;
    modem_.event("qdl.progress", fmt::format("image #{} {}% ({} of {} bytes)", image_index_, done_ * 100 / total_, done_, total_),
                 {{"image", std::to_string(image_index_)}, {"done", std::to_string(done_)}, {"total", std::to_string(total_)}});
  }

  Modem& modem_;
  FirmwareSink& sink_;
  bool& dead_;
  std::string node_;
  std::uint32_t image_index_ = 0;  // images opened in this session
  std::uint64_t done_ = 0, total_ = 0;
  unsigned step_ = 0;
};

QdlPort::QdlPort(PortInfo info, Modem& modem, FirmwareSink& sink)
    : Port(std::move(info)), modem_(modem),
      adapter_(std::make_unique<Adapter>(modem, sink, dead_, this->info().node_name)) {
  start();
}

QdlPort::~QdlPort() = default;

void QdlPort::start() {
  qdl::Target::Hooks hooks;
  hooks.event = [this](std::string_view line) { modem_.event("qdl", fmt::format("{}: {}", info().node_name, line)); };
  // GET IMAGE PREFERENCE: the storage's preference, the modem image then the carrier's.
  hooks.image_preference = [this] {
    std::vector<qdl::ImagePreference> images;
    if (const auto* store = modem_.sierra_store()) {
      const auto& pref = store->state().preference();
      images.push_back({0, pref.modem_build()});
      images.push_back({1, pref.pri_unique()});
    }
    return images;
  };
  hooks.sdp_reply = [this]() -> std::optional<Bytes> {
    int reply = modem_.edl_faults().qdl_sdp_reply;
    if (reply < 0) return std::nullopt;
    return Bytes{static_cast<std::uint8_t>(reply)};
  };
  target_ = std::make_unique<qdl::Target>(qdl::TargetConfig{}, *adapter_, [this](const Bytes& b) { send(b); },
                                          std::move(hooks));
}

void QdlPort::send(const Bytes& transfer) {
  if (dead_ || transfer.empty()) return;
  to_host(protocols::as_chars(transfer));
}

void QdlPort::host_opened() {
  if (dead_ || target_->state() == qdl::Target::State::kReset) return;
  if (target_->state() != qdl::Target::State::kOpen) start();
}

void QdlPort::from_host(std::string_view bytes) {
  if (dead_ || bytes.empty()) return;
  target_->receive(protocols::as_bytes(bytes));
  if (target_->state() == qdl::Target::State::kReset && !dead_) {
    dead_ = true;
    modem_.reset_after_reply("QDL RESET");
  }
}

}  // namespace modemu::emulator::sierra
