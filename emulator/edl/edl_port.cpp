#include "emulator/edl/edl_port.hpp"

#include <fmt/format.h>

#include "emulator/firmware/boot.hpp"
#include "emulator/flash/flash.hpp"
#include "emulator/modem.hpp"
#include "emulator/sierra/store.hpp"
#include "protocols/cwe/cwe.hpp"
#include "protocols/firehose/firehose.hpp"
#include "protocols/qdl/qdl.hpp"
#include "protocols/sahara/sahara.hpp"

namespace modemu::emulator {

namespace sahara = protocols::sahara;
namespace firehose = protocols::firehose;
using protocols::ByteView;
using protocols::Bytes;

// What the programmer writes into; finish() runs at its power reset.
class EdlStorage : public firehose::Storage {
 public:
  virtual void finish() {}
};

// The programmer's view of the modem's flash.
class FlashStorage final : public EdlStorage {
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
  void finish() override {
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

// The EM7565's programmer: whole .cwe images to start_sector -1, into the Sierra firmware
// storage. libqmi pads the last transfer to a sector and sends the image's sectors; the CWE
// header says how many of those bytes are the image, and the padding after it is dropped.
class SierraImageStorage final : public EdlStorage {
 public:
  SierraImageStorage(Modem& modem, sierra::FirmwareSink& sink, bool& dead) : modem_(modem), sink_(sink), dead_(dead) {}

  std::uint32_t page_size() const override {
    return modem_.profile().flash().page_size() != 0 ? modem_.profile().flash().page_size() : 4096;
  }
  std::uint32_t pages_per_block() const override {
    return modem_.profile().flash().pages_per_block() != 0 ? modem_.profile().flash().pages_per_block() : 64;
  }
  std::uint64_t size_bytes() const override { return sierra::Store::kMaxImage; }
  bool write(std::uint64_t, ByteView, std::string& error) override { return whole_images_only(error); }
  bool read(std::uint64_t, std::size_t, Bytes&, std::string& error) override { return whole_images_only(error); }
  bool erase(std::uint64_t, std::uint64_t, std::string& error) override { return whole_images_only(error); }

  bool places_images() const override { return true; }
  bool begin_placed(std::uint64_t length, std::string& error) override {
    if (length < protocols::cwe::kHeaderSize) {
      error = fmt::format("{} bytes cannot hold a CWE image", length);
      return false;
    }
    header_.clear();
    image_size_ = 0;
    done_ = 0;
    return true;
  }
  bool write_placed(ByteView data, std::string& error) override {
    if (dead_) {
      error = "power lost";
      return false;
    }
    std::size_t allowed = modem_.program_budget(data.size());
    bool cut = allowed < data.size();
    data = data.first(allowed);
    if (header_.size() < protocols::cwe::kHeaderSize) {
      std::size_t n = std::min(data.size(), protocols::cwe::kHeaderSize - header_.size());
      header_.insert(header_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
      data = data.subspan(n);
      if (header_.size() == protocols::cwe::kHeaderSize && !open(error)) return false;
    }
    if (image_size_ > 0 && done_ < image_size_ && !data.empty()) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), image_size_ - done_));
      if (auto e = sink_.write(data.first(n))) {
        error = e->text;
        return false;
      }
      done_ += n;
    }
    if (cut) {
      dead_ = true;
      error = "power lost";
      return false;
    }
    return true;
  }
  bool finish_placed(std::string& error) override {
    if (image_size_ == 0 || done_ != image_size_) {
      error = fmt::format("{} bytes arrived where the CWE header announced {}", done_, image_size_);
      return false;
    }
    if (auto e = sink_.finish()) {
      error = e->text;
      return false;
    }
    return true;
  }

 private:
  bool whole_images_only(std::string& error) {
    error = "this programmer takes whole images only (start_sector -1)";
    return false;
  }
  bool open(std::string& error) {
    protocols::cwe::Error why;
    auto h = protocols::cwe::parse_header(header_, &why);
    if (!h) {
      error = "not a CWE image: " + why.describe();
      return false;
    }
    image_size_ = protocols::cwe::kHeaderSize + h->image_size;
    if (auto e = sink_.begin(protocols::qdl::kImageCwe, image_size_)) {
      error = e->text;
      image_size_ = 0;
      return false;
    }
    if (auto e = sink_.write(header_)) {
      error = e->text;
      image_size_ = 0;
      return false;
    }
    done_ = header_.size();
    return true;
  }

  Modem& modem_;
  sierra::FirmwareSink& sink_;
  bool& dead_;
  Bytes header_;
  std::uint64_t image_size_ = 0, done_ = 0;
};

EdlPort::EdlPort(PortInfo info, Modem& modem) : Port(std::move(info)), modem_(modem) {
  if (modem.flash() != nullptr) {
    storage_ = std::make_unique<FlashStorage>(modem, dead_);
  } else {
    storage_ = std::make_unique<SierraImageStorage>(modem, *modem.sierra_store(), dead_);
  }
}

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
  c.firehose_execute = modem_.flash() == nullptr;  // Sierra EM7565: EXECUTE 0xff00, no programmer upload
  c.may_repeat_hello = [this] {
    auto now = modem_.clock().now();
    if (now - last_hello_ < kHelloRepeatHoldoff) return false;
    last_hello_ = now;
    return true;
  };
  last_hello_ = modem_.clock().now();
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
  if (!f.memory_name().empty()) {
    c.memory_name = f.memory_name();
  } else if (modem_.flash() == nullptr) {
    // The EM7565's programmer: qmi-firmware-update configures it with MemoryName "eMMC" (seen
    // in the testbed); the emulated programmer answers to that name. Its payload stays the
    // default: the NAK carries it and libqmi takes it (1 MiB would overflow libqmi's buffer).
    c.memory_name = "eMMC";
  }
  if (!f.target_name().empty()) c.target_name = f.target_name();
  if (f.max_payload_to_target() != 0) c.max_payload_to_target = f.max_payload_to_target();
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
                                       c.target_name, c.memory_name, storage_->page_size()));
  // A programmer loaded over Sahara greets with its logs; the EM7565's, entered by EXECUTE
  // 0xff00, says nothing until asked: its "confirmed" must be the only bytes the host reads
  // (libqmi accepts printable ASCII only there).
  if (modem_.flash() != nullptr) firehose_->start();
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
