#include "scenarios/host.hpp"

#include <fmt/format.h>

#include "emulator/firmware/package.hpp"
#include "emulator/profile.hpp"
#include "emulator/sierra/store.hpp"
#include "protocols/diag/diag.hpp"
#include "protocols/diag/hdlc.hpp"
#include "protocols/sahara/sahara.hpp"

namespace modemu::scenarios {

namespace em = modemu::emulator;
namespace fw = modemu::emulator::firmware;
namespace sahara = modemu::protocols::sahara;
using protocols::ByteView;
using protocols::Bytes;

DownloadSession::DownloadSession(em::Modem& modem, em::Port& port)
    : modem_(modem), port_(port), boot_count_(modem.state().boot_count) {
  port_.claim([this](std::string_view b) { transfers_.emplace_back(b.begin(), b.end()); });
  port_.host_opened();
}

DownloadSession::~DownloadSession() {
  // The port is gone when the module left the bus meanwhile.
  if (modem_.state().boot_count == boot_count_ && modem_.composition() != nullptr) port_.release();
}

void DownloadSession::send(ByteView bytes) { port_.from_host(protocols::as_chars(bytes)); }

std::uint32_t DownloadSession::load_programmer(const Bytes& programmer, std::string& error) {
  for (std::size_t i = 0; i < transfers_.size(); ++i) {
    auto pkt = sahara::decode(transfers_[i]);
    if (!pkt) {
      error = fmt::format("not a Sahara packet: {}", protocols::hex(transfers_[i], 16));
      return sahara::kProtocolMismatch;
    }
    protocols::Reader r(pkt->body);
    if (pkt->command == sahara::kHello) {
      protocols::Writer w;
      w.le32(2).le32(1).le32(0).le32(sahara::kModeImageTxPending);
      for (int k = 0; k < 6; ++k) w.le32(0);
      send(sahara::encode(sahara::kHelloResp, w.data()));
    } else if (pkt->command == sahara::kReadData) {
      r.le32();
      std::uint64_t offset = r.le32(), length = r.le32();
      if (offset + length > programmer.size()) {
        error = fmt::format("READ_DATA past the programmer's end ({} + {})", offset, length);
        return sahara::kInvalidPacketSize;
      }
      send(ByteView(programmer).subspan(offset, length));
    } else if (pkt->command == sahara::kEndImageTx) {
      r.le32();
      std::uint32_t status = r.le32();
      if (status != sahara::kSuccess) {
        error = fmt::format("END_IMAGE_TX status 0x{:02x}", status);
        return status;
      }
      send(sahara::encode(sahara::kDone));
    } else if (pkt->command == sahara::kDoneResp) {
      transfers_.erase(transfers_.begin(), transfers_.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      return sahara::kSuccess;
    }
  }
  error = "Sahara stopped without DONE_RESP";
  return sahara::kProtocolMismatch;
}

std::string DownloadSession::response() const {
  for (const auto& t : transfers_) {
    std::string s(t.begin(), t.end());
    if (s.find("<response") != std::string::npos) return s;
  }
  return {};
}

// "NAK (start_sector unaligned)": the response's value and the logs that came with it.
std::string DownloadSession::summary() const {
  auto value_of = [](const std::string& doc, std::string_view element) -> std::string {
    auto at = doc.find(element);
    if (at == std::string::npos) return {};
    auto v = doc.find("value=\"", at);
    if (v == std::string::npos) return {};
    v += 7;
    return doc.substr(v, doc.find('"', v) - v);
  };
  std::string logs, response;
  for (const auto& t : transfers_) {
    std::string doc(t.begin(), t.end());
    if (auto log = value_of(doc, "<log "); !log.empty()) logs += (logs.empty() ? "" : "; ") + log;
    if (auto r = value_of(doc, "<response "); !r.empty()) response = r;
  }
  if (response.empty()) return "no answer (the module went away)";
  return logs.empty() ? response : fmt::format("{} ({})", response, logs);
}

bool DownloadSession::programmer_running() {
  if (!transfers_.empty()) return false;  // the bootloader said HELLO
  return command("<nop />").find("value=\"ACK\"") != std::string::npos;
}

std::string DownloadSession::command(const std::string& element) {
  transfers_.clear();
  send(protocols::as_bytes("<?xml version=\"1.0\" ?><data>" + element + "</data>"));
  return response();
}

bool DownloadSession::program(const fw::Image& img, std::string& error) {
  const std::uint32_t sector = modem_.profile().flash().page_size();
  std::uint64_t sectors = (img.data.size() + sector - 1) / sector;
  std::string r = command(fmt::format(
      "<program SECTOR_SIZE_IN_BYTES=\"{}\" num_partition_sectors=\"{}\" physical_partition_number=\"0\" start_sector=\"{}\" "
      "filename=\"../{}\" />",
      sector, sectors, img.place.offset / sector, img.file));
  if (r.find("rawmode=\"true\"") == std::string::npos) {
    error = fmt::format("program {}: {}", img.file, summary());
    return false;
  }
  Bytes padded = img.data;
  padded.resize(sectors * sector, 0);
  transfers_.clear();
  const std::size_t payload = modem_.profile().flash().max_payload_to_target();
  for (std::size_t at = 0; at < padded.size(); at += payload) {
    if (modem_.state().boot_count != boot_count_ || modem_.power_state() == em::PowerState::kPoweredOff) break;
    send(ByteView(padded).subspan(at, std::min(payload, padded.size() - at)));
  }
  if (response().find("value=\"ACK\"") == std::string::npos) {
    error = fmt::format("program {} data: {}", img.file, summary());
    return false;
  }
  return true;
}

bool DownloadSession::update(const std::vector<fw::Image>& images, std::string& error) {
  const auto& f = modem_.profile().flash();
  std::string r = command(fmt::format("<configure MemoryName=\"{}\" MaxPayloadSizeToTargetInBytes=\"{}\" />",
                                      f.memory_name(), f.max_payload_to_target()));
  if (r.find("value=\"ACK\"") == std::string::npos) {
    error = "configure: " + summary();
    return false;
  }
  const fw::Image* sbl = nullptr;
  for (const auto& img : images) {
    if (img.place.offset == 0) sbl = &img;
  }
  if (sbl != nullptr) {
    r = command(fmt::format("<erase PAGES_PER_BLOCK=\"{}\" SECTOR_SIZE_IN_BYTES=\"{}\" num_partition_sectors=\"{}\" "
                            "start_sector=\"0\" />",
                            f.pages_per_block(), f.page_size(), sbl->place.size / f.page_size()));
    if (r.find("value=\"ACK\"") == std::string::npos) {
      error = "erase of the SBL: " + summary();
      return false;
    }
  }
  for (const auto& img : images) {
    if (&img != sbl && !program(img, error)) return false;
  }
  if (sbl != nullptr && !program(*sbl, error)) return false;
  r = command("<power value=\"reset\" />");
  if (r.find("value=\"ACK\"") == std::string::npos) {
    error = "power reset: " + summary();
    return false;
  }
  return true;
}

ScriptedUpdate::ScriptedUpdate(em::Modem& modem, std::string version, Done done)
    : modem_(modem), version_(std::move(version)), done_(std::move(done)), timer_(modem.clock()) {}

ScriptedUpdate::~ScriptedUpdate() { modem_.remove_observer(this); }

void ScriptedUpdate::start() {
  modem_.event("host", fmt::format("updater: flashing {}", version_));
  modem_.add_observer(this);
  auto state = modem_.power_state();
  if (state == em::PowerState::kEdl || state == em::PowerState::kQuectelDownload ||
      state == em::PowerState::kSierraBootHold) {
    timer_.start(em::Duration::zero(), [this] { flash_now(); });
    return;
  }
  if (state != em::PowerState::kApplication) {
    modem_.event("host", "updater: waiting for the module to enumerate");
    return;
  }
  switched_ = true;
  if (modem_.sierra_store() != nullptr) {
    // As qmi-firmware-update falls back to when it sets no preference: a boot-and-hold reset.
    modem_.event("host", "updater: reset into boot-and-hold (DMS Set Firmware ID)");
    modem_.reset_into_boot_hold("updater: DMS Set Firmware ID");
    return;
  }
  for (const auto& p : modem_.ports()) {
    if (p->info().function != profile::DIAG) continue;
    modem_.event("host", "updater: switch to 'Emergency download mode'");
    p->claim([](std::string_view) {});
    p->from_host(protocols::as_chars(protocols::diag::frame(protocols::diag::edl_switch_request())));
    p->release();
    return;
  }
  finish(false, "the module has no DM port to switch it to emergency download");
}

void ScriptedUpdate::on_plug(em::Modem& modem) {
  if (finished_) return;
  auto state = modem.power_state();
  if (state == em::PowerState::kEdl || state == em::PowerState::kQuectelDownload ||
      state == em::PowerState::kSierraBootHold) {
    // The ports say HELLO once the plug is complete.
    timer_.start(em::Duration::zero(), [this] { flash_now(); });
  } else if (state == em::PowerState::kApplication && !switched_) {
    timer_.start(em::Duration::zero(), [this] { start(); });
  }
}

// Sierra: the release's .cwe and .nvu go into the module's firmware storage as the QDL (or
// Firehose) target hands them over, then the QDL RESET. The wire protocols themselves are the
// download targets' and are exercised by qmi-firmware-update; this host only needs the outcome.
// A power cut placed in the update (FlashUpdate.cut_at_program_percent) cuts the first image.
void ScriptedUpdate::flash_sierra() {
  std::vector<fw::NamedFile> release;
  try {
    release = fw::build_sierra_release(modem_.profile(), version_, {});
  } catch (const std::invalid_argument& e) {
    finish(false, e.what());
    return;
  }
  auto& sink = *modem_.sierra_store();
  double cut = std::exchange(modem_.edl_faults().cut_at_program_percent, -1);
  for (std::size_t i = 0; i < release.size(); ++i) {
    const auto& f = release[i];
    modem_.event("host", fmt::format("updater: downloading {} ({} bytes)", f.name, f.data.size()));
    if (auto e = sink.begin(0x80, f.data.size())) {
      finish(false, fmt::format("{}: open refused, QDL error {:#04x}: {}", f.name, e->qdl_code, e->text));
      return;
    }
    std::size_t stop = f.data.size();
    if (i == 0 && cut >= 0) stop = static_cast<std::size_t>(static_cast<double>(stop) * cut / 100.0);
    constexpr std::size_t kChunk = 1 << 20;  // qmi-firmware-update's QDL chunk
    for (std::size_t at = 0; at < stop; at += kChunk) {
      if (auto e = sink.write(protocols::ByteView(f.data).subspan(at, std::min(kChunk, stop - at)))) {
        finish(false, fmt::format("{}: write refused, QDL error {:#04x}: {}", f.name, e->qdl_code, e->text));
        return;
      }
    }
    if (stop < f.data.size()) {
      modem_.power_cut(fmt::format("power cut {}% into {}", cut, f.name));
      finish(false, fmt::format("the power failed during the download of {}", f.name));
      return;
    }
    if (auto e = sink.finish()) {
      finish(false, fmt::format("{}: refused, QDL error {:#04x}: {}", f.name, e->qdl_code, e->text));
      return;
    }
  }
  modem_.reset("updater: QDL reset");
  finish(true, fmt::format("{} downloaded; the module resets", version_));
}

void ScriptedUpdate::flash_now() {
  if (modem_.sierra_store() != nullptr) {
    flash_sierra();
    return;
  }
  em::Port* port = nullptr;
  for (const auto& p : modem_.ports()) {
    if (p->info().function == profile::SAHARA) port = p.get();
  }
  if (port == nullptr) {
    finish(false, "no download port");
    return;
  }
  const auto* firmware = em::find_firmware(modem_.profile(), version_);
  if (firmware == nullptr) {
    finish(false, fmt::format("version {} is not in the catalogue", version_));
    return;
  }
  std::string error;
  DownloadSession session(modem_, *port);
  // As bkerler/edl does: a programmer still running from an earlier session answers Firehose.
  if (session.programmer_running()) {
    modem_.event("host", "updater: the programmer already runs: Firehose straight away");
  } else if (session.load_programmer(fw::build_programmer(modem_.profile()), error) != sahara::kSuccess) {
    finish(false, "Sahara: " + error);
    return;
  }
  if (!session.update(fw::build_images(modem_.profile(), *firmware), error)) {
    finish(false, "Firehose: " + error);
    return;
  }
  finish(true, fmt::format("{} flashed; the module resets", version_));
}

void ScriptedUpdate::finish(bool ok, const std::string& detail) {
  if (finished_) return;
  finished_ = true;
  modem_.remove_observer(this);
  modem_.event("host", fmt::format("updater: {}: {}", ok ? "done" : "failed", detail), {{"ok", ok ? "true" : "false"}});
  if (done_) done_(ok, detail);
}

}  // namespace modemu::scenarios
