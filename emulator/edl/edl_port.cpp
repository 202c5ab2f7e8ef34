#include "emulator/edl/edl_port.hpp"

#include <fmt/format.h>

#include "emulator/firmware/boot.hpp"
#include "emulator/flash/flash.hpp"
#include "emulator/modem.hpp"
#include "protocols/firehose/firehose.hpp"
#include "protocols/sahara/sahara.hpp"

namespace modemu::emulator {

namespace sahara = protocols::sahara;
namespace firehose = protocols::firehose;
using protocols::ByteView;
using protocols::Bytes;

// The programmer's view of the modem's flash.
class FlashStorage final : public firehose::Storage {
 public:
  FlashStorage(Modem& modem, bool& dead) : modem_(modem), flash_(*modem.flash()), dead_(dead) {}

  std::uint32_t page_size() const override { return flash_.page_size(); }
  // F10 as a fault: a programmer built for NAND with four times the erase block, so that the
  // package's partitions start unaligned for it ("start_sector unaligned").
  std::uint32_t pages_per_block() const override {
    return flash_.pages_per_block() * (modem_.edl_faults().firehose_nak == "unaligned" ? 4 : 1);
  }
  std::uint64_t size_bytes() const override { return flash_.size(); }

  bool write(std::uint64_t offset, ByteView data, std::string& error) override {
    if (!updating(error)) return false;
    std::size_t allowed = modem_.program_budget(data.size());
    if (allowed > 0 && !flash_.write(offset, data.first(allowed), error)) return false;
    if (allowed < data.size()) {
      dead_ = true;
      error = "power lost";
      return false;
    }
    return true;
  }
  bool read(std::uint64_t offset, std::size_t length, Bytes& out, std::string& error) override {
    return flash_.read(offset, length, out, error);
  }
  bool erase(std::uint64_t offset, std::uint64_t length, std::string& error) override {
    return updating(error) && flash_.erase(offset, length, error);
  }

  // The update is over (the programmer's reset): the SBL boots normally again.
  void finish() {
    std::string error;
    if (flag_set_ && !firmware::set_download_flag(modem_.profile(), flash_, false, error)) {
      modem_.event("flash", "cannot clear the download flag: " + error);
    }
    flag_set_ = false;
  }

 private:
  bool updating(std::string& error) {
    if (dead_) {
      error = "power lost";
      return false;
    }
    if (!flag_set_) {
      if (!firmware::set_download_flag(modem_.profile(), flash_, true, error)) return false;
      flag_set_ = true;
      modem_.event("flash", "update started: download flag set");
    }
    return true;
  }

  Modem& modem_;
  Flash& flash_;
  bool& dead_;
  bool flag_set_ = false;
};

EdlPort::EdlPort(PortInfo info, Modem& modem)
    : Port(std::move(info)), modem_(modem), storage_(std::make_unique<FlashStorage>(modem, dead_)) {}

EdlPort::~EdlPort() = default;

void EdlPort::send(const Bytes& transfer) {
  if (dead_ || transfer.empty()) return;
  to_host(protocols::as_chars(transfer));
}

void EdlPort::started() { start_sahara(); }

void EdlPort::host_opened() {
  if (!firehose_) start_sahara();
}

void EdlPort::start_sahara() {
  const auto& f = modem_.profile().flash();
  sahara::TargetConfig c;
  c.image_id = f.programmer_image_id();
  c.read_data_64 = f.read_data_64();
  c.serial = f.serial();
  c.msm_hw_id = f.msm_hw_id();
  if (auto hash = protocols::parse_hex(f.oem_pk_hash_hex())) c.oem_pk_hash = *hash;
  c.sbl_version = f.sbl_version();
  sahara_ = std::make_unique<sahara::Target>(
      c, [this](const Bytes& b) { send(b); },
      [this](const Bytes& image) {
        std::string why;
        std::uint32_t status = firmware::check_programmer(modem_.profile(), image, why);
        if (status != sahara::kSuccess) {
          modem_.event("sahara", fmt::format("{}: programmer refused (status 0x{:02x}): {}", info().node_name, status, why));
        } else {
          modem_.event("sahara", fmt::format("{}: programmer loaded ({} bytes)", info().node_name, image.size()));
        }
        return status;
      });
  sahara_->start();
}

void EdlPort::start_firehose() {
  const auto& f = modem_.profile().flash();
  firehose::TargetConfig c;
  c.memory_name = f.memory_name();
  c.target_name = f.target_name();
  c.max_payload_to_target = f.max_payload_to_target();
  const auto& faults = modem_.edl_faults();
  if (faults.firehose_nak == "payload") {
    // F10: a programmer that takes less than any updater asks ("... larger than supported").
    c.max_payload_to_target = f.page_size();
  }
  firehose::Target::Hooks hooks;
  hooks.event = [this](std::string_view line) { modem_.event("firehose", std::string(line)); };
  hooks.program_progress = [this](std::uint64_t done, std::uint64_t total) { progress(done, total); };
  hooks.power = [this](std::string_view action, std::uint32_t delay_s) {
    storage_->finish();
    std::string cause = fmt::format("Firehose power {} (DelayInSeconds {})", action, delay_s);
    if (action == "off") {
      modem_.power_off_after_reply(cause);
    } else {
      modem_.reset_after_reply(cause);
    }
  };
  firehose_ = std::make_unique<firehose::Target>(c, *storage_, [this](const Bytes& b) { send(b); }, std::move(hooks));
  modem_.event("firehose", fmt::format("{}: programmer running ({} {}, pages of {} bytes)", info().node_name,
                                       f.target_name(), f.memory_name(), f.page_size()));
  firehose_->start();
}

void EdlPort::progress(std::uint64_t done, std::uint64_t total) {
  if (done < last_done_ || total != last_total_) ++program_index_;
  last_done_ = done;
  last_total_ = total;
  auto& faults = modem_.edl_faults();
  if (faults.cut_at_program_percent >= 0 && program_index_ == faults.cut_program_index && !dead_ &&
      static_cast<double>(done) * 100.0 >= faults.cut_at_program_percent * static_cast<double>(total)) {
    dead_ = true;
    faults.cut_at_program_percent = -1;
    modem_.power_cut(fmt::format("power cut {}% into Firehose program #{} ({} of {} bytes written)",
                                 done * 100 / std::max<std::uint64_t>(total, 1), program_index_, done, total));
    return;
  }
  if (total < (1u << 20)) return;
  unsigned step = static_cast<unsigned>(done * 10 / total);
  if (done == 0) progress_step_ = 0;
  if (step <= progress_step_ && done != total) return;
  progress_step_ = step;
  modem_.event("firehose.progress", fmt::format("program {}% ({} of {} bytes)", done * 100 / total, done, total),
               {{"done", std::to_string(done)}, {"total", std::to_string(total)}});
}

void EdlPort::from_host(std::string_view bytes) {
  if (dead_ || bytes.empty()) return;
  ByteView data = protocols::as_bytes(bytes);
  if (firehose_) {
    firehose_->receive(data);
    return;
  }
  if (modem_.edl_faults().sahara_desync && sahara_->state() == sahara::Target::State::kHello) {
    // F11: a bootloader out of step answers the host's HELLO_RESP with END_IMAGE_TX; QFirehose
    // reports "Received a different q_cmd: 4 while waiting for hello packet".
    modem_.event("sahara", fmt::format("{}: out of step (fault): END_IMAGE_TX instead of a transfer", info().node_name));
    protocols::Writer w;
    w.le32(modem_.profile().flash().programmer_image_id()).le32(sahara::kProtocolMismatch);
    send(sahara::encode(sahara::kEndImageTx, w.data()));
    return;
  }
  sahara_->receive(data);
  auto& faults = modem_.edl_faults();
  std::uint64_t total = sahara_->image_total(), received = sahara_->image_received();
  if (faults.cut_at_sahara_percent >= 0 && total > 0 && sahara_->state() == sahara::Target::State::kImage &&
      static_cast<double>(received) * 100.0 >= faults.cut_at_sahara_percent * static_cast<double>(total)) {
    faults.cut_at_sahara_percent = -1;
    dead_ = true;
    modem_.power_cut(fmt::format("power cut {}% into the programmer's Sahara upload ({} of {} bytes)",
                                 received * 100 / total, received, total));
    return;
  }
  switch (sahara_->state()) {
    case sahara::Target::State::kDone:
    case sahara::Target::State::kFirehose:
      sahara_.reset();
      start_firehose();
      break;
    case sahara::Target::State::kReset:
      modem_.event("sahara", fmt::format("{}: host asked for a reset", info().node_name));
      sahara_.reset();
      modem_.reset_after_reply("Sahara RESET");
      dead_ = true;
      break;
    default:
      break;
  }
}

}  // namespace modemu::emulator
