#include "scenarios/host.hpp"

#include <fmt/format.h>

#include "emulator/data/data_service.hpp"
#include "emulator/firmware/package.hpp"
#include "emulator/profile.hpp"
#include "emulator/sierra/store.hpp"
#include "protocols/net/address.hpp"
#include "protocols/net/packet.hpp"
#include "protocols/diag/diag.hpp"
#include "protocols/diag/hdlc.hpp"
#include "protocols/qdl/qdl.hpp"
#include "protocols/sahara/sahara.hpp"

namespace modemu::scenarios {

namespace em = modemu::emulator;
namespace fw = modemu::emulator::firmware;
namespace sahara = modemu::protocols::sahara;
namespace qdl = modemu::protocols::qdl;
namespace diag = modemu::protocols::diag;
using protocols::ByteView;
using protocols::Bytes;

namespace {

// The modem's port for `function` in its present composition (each has at most one), or null.
em::Port* port_for(const em::Modem& modem, profile::PortFunction function) {
  for (const auto& p : modem.ports()) {
    if (p->info().function == function) return p.get();
  }
  return nullptr;
}

}  // namespace

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
  if (auto* store = modem_.sierra_store()) {
    sierra_preference(*store);
    return;
  }
  if (em::Port* p = port_for(modem_, profile::DIAG)) {
    modem_.event("host", "updater: switch to 'Emergency download mode'");
    p->claim([](std::string_view) {});
    p->from_host(protocols::as_chars(protocols::diag::frame(protocols::diag::edl_switch_request())));
    p->release();
    return;
  }
  finish(false, "the module has no DM port to switch it to emergency download");
}

// As qmi-firmware-update starts on a module with firmware preference (sierra-qdl.md): the
// release's pair becomes the preference, and while images are missing the reset (offline, then
// reset) ends in boot-and-hold. A release already stored is downloaded again as with
// --override-download: a boot-and-hold reset (DMS Set Firmware ID).
void ScriptedUpdate::sierra_preference(em::sierra::Store& store) {
  const auto* f = em::find_firmware(modem_.profile(), version_);
  if (f == nullptr) {
    finish(false, fmt::format("version {} is not in the catalogue", version_));
    return;
  }
  profile::SierraImagePair pair;
  pair.set_modem_build(f->modem_version() + "_?");
  std::string config = f->carrier_config();
  if (config.rfind(f->carrier() + "_", 0) == 0) config = config.substr(f->carrier().size() + 1);
  pair.set_pri_unique(config);
  pair.set_pri_build(f->modem_version() + "_" + f->carrier());
  std::string why;
  auto missing = store.set_preference(pair, &why);
  if (!missing) {
    finish(false, "DMS Set Firmware Preference refused: " + why);
    return;
  }
  if (missing->empty()) {
    modem_.event("host", "updater: the release is stored: reset into boot-and-hold (DMS Set Firmware ID)");
    modem_.reset_into_boot_hold("updater: DMS Set Firmware ID");
    return;
  }
  modem_.event("host", fmt::format("updater: firmware preference {} + {} {}: {} image(s) to download, offline and reset",
                                   pair.modem_build(), pair.pri_build(), pair.pri_unique(), missing->size()));
  modem_.request_download(true);
  modem_.reset("updater: DMS Set Operating Mode reset");
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

namespace {

// qmi-firmware-update's QDL download on the boot-and-hold port (sierra-qdl.md "QDL framing"),
// in-process: every request is answered within from_host, so each step reads the one reply.
class QdlSession {
 public:
  QdlSession(em::Modem& modem, em::Port& port) : modem_(modem), port_(port), boot_count_(modem.state().boot_count) {
    port_.claim([this](std::string_view b) { deframer_.push(protocols::as_bytes(b)); });
  }
  ~QdlSession() {
    if (modem_.state().boot_count == boot_count_ && modem_.composition() != nullptr) port_.release();
  }

  // SDP probe, then HELLO 4, 5, 6 until one is answered with a HELLO response.
  bool start(std::string& error) {
    auto ack = ask(diag::frame(Bytes{qdl::kDloadSdp, 0, 0}, true));
    if (!ack || ack->size() != 1 || (*ack)[0] != qdl::kDloadAck) {
      error = ack ? fmt::format("unexpected response received in dload sdp: 0x{:02x}", ack->empty() ? 0 : (*ack)[0])
                  : "timed out waiting for the response (dload sdp)";
      return false;
    }
    for (std::uint8_t v = 4; v <= 6; ++v) {
      auto r = ask(diag::frame(qdl::encode_hello_request(v), true));
      if (r && r->size() == qdl::kHelloRspSize && (*r)[0] == qdl::kHelloRsp) {
        version_ = v;
        return true;
      }
    }
    error = "couldn't detect QDL version";
    return false;
  }

  // HELLO, OPEN with the 400-byte CWE header, WRITE 1 MiB chunks, CLOSE.
  bool download(const fw::NamedFile& f, std::string& error) {
    auto fail = [&](std::string_view step, const std::optional<Bytes>& r) {
      error = fmt::format("{}: {} {}", f.name, step, !r ? "got no answer (power lost?)" : "refused: " + protocols::hex(*r, 16));
      return false;
    };
    auto r = ask(diag::frame(qdl::encode_hello_request(version_), true));
    if (!r || (*r)[0] != qdl::kHelloRsp) return fail("HELLO", r);
    std::size_t header = std::min<std::size_t>(400, f.data.size());
    r = ask(diag::frame(qdl::encode_open_request(qdl::kImageCwe, static_cast<std::uint32_t>(f.data.size()),
                                                 ByteView(f.data).first(header)),
                        true));
    if (!r || r->size() < 3 || (*r)[0] != qdl::kOpenUnframedRsp || (*r)[1] != 0 || (*r)[2] != 0) return fail("OPEN", r);
    std::uint16_t seq = 0;
    for (std::size_t at = header; at < f.data.size(); at += qdl::kMaxChunk, ++seq) {
      std::size_t n = std::min<std::size_t>(qdl::kMaxChunk, f.data.size() - at);
      r = ask(qdl::encode_write_request(seq, ByteView(f.data).subspan(at, n)));
      if (!r || *r != qdl::encode_write_response(seq, 0)) return fail(fmt::format("WRITE #{}", seq), r);
    }
    r = ask(diag::frame(Bytes{qdl::kCloseUnframedReq}, true));
    if (!r || (*r)[0] != qdl::kCloseUnframedRsp) return fail("CLOSE", r);
    return true;
  }

  void reset() { port_.from_host(protocols::as_chars(diag::frame(Bytes{qdl::kResetReq}, true))); }

 private:
  std::optional<Bytes> ask(const Bytes& request) {
    port_.from_host(protocols::as_chars(request));
    while (true) {
      auto r = deframer_.next();
      if (r.outcome == diag::Deframer::Outcome::kNeedMore) return std::nullopt;
      if (r.outcome == diag::Deframer::Outcome::kFrame && !r.payload.empty()) return r.payload;
    }
  }

  em::Modem& modem_;
  em::Port& port_;
  std::uint32_t boot_count_;
  diag::Deframer deframer_;
  std::uint8_t version_ = 6;
};

}  // namespace

// Sierra: the release's .cwe and .nvu downloaded as qmi-firmware-update does it, over QDL on the
// boot-and-hold port, then the QDL RESET. A power cut placed in the update
// (FlashUpdate.cut_at_program_percent) is the port's: it cuts the first image that far in.
void ScriptedUpdate::flash_sierra() {
  std::vector<fw::NamedFile> release;
  try {
    release = fw::build_sierra_release(modem_.profile(), version_, {});
  } catch (const std::invalid_argument& e) {
    finish(false, e.what());
    return;
  }
  em::Port* port = port_for(modem_, profile::QDL);
  if (port == nullptr) {
    finish(false, "no QDL port in boot-and-hold (the EM7565's Firehose download is not scripted)");
    return;
  }
  double cut = std::exchange(modem_.edl_faults().cut_at_program_percent, -1);
  if (cut >= 0) {
    modem_.edl_faults().cut_at_qdl_percent = cut;
    modem_.edl_faults().cut_qdl_image_index = 1;
  }
  std::string error;
  QdlSession session(modem_, *port);
  if (!session.start(error)) {
    finish(false, "QDL: " + error);
    return;
  }
  for (const auto& f : release) {
    modem_.event("host", fmt::format("updater: downloading {} ({} bytes)", f.name, f.data.size()));
    if (!session.download(f, error)) {
      finish(false, "QDL: " + error);
      return;
    }
  }
  session.reset();
  finish(true, fmt::format("{} downloaded; the module resets", version_));
}

void ScriptedUpdate::flash_now() {
  if (modem_.sierra_store() != nullptr) {
    flash_sierra();
    return;
  }
  em::Port* port = port_for(modem_, profile::SAHARA);
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

Pinger::Pinger(emulator::Modem& modem, Options options)
    : modem_(modem),
      options_(std::move(options)),
      path_(modem, "host",
            emulator::DataBinding{[] { return emulator::DataFormat{emulator::LinkLayer::kRawIp}; },
                                  [](std::uint8_t) { return std::optional<std::uint32_t>(); },
                                  [](std::uint32_t) { return std::optional<std::uint8_t>(); }}),
      timer_(modem.clock()),
      identifier_(static_cast<std::uint16_t>(0x4d00 + modem.state().boot_count)) {
  path_.set_sink([this](protocols::ByteView packet) {
    namespace net = protocols::net;
    auto ip = net::parse_ipv4(packet);
    if (!ip || ip->protocol != net::kProtocolIcmp) return true;
    auto icmp = net::parse_icmp(ip->payload);
    if (icmp && icmp->type == net::kIcmpEchoReply && (icmp->rest >> 16) == identifier_ && !finished_) ++replies_;
    return true;
  });
}

void Pinger::start() {
  target_text_ = options_.target;
  modem_.event("host", fmt::format("ping -c {} {}", options_.count, options_.target), {{"target", options_.target}});
  send_next();
}

void Pinger::send_next() {
  namespace net = protocols::net;
  if (sent_ >= options_.count) {
    timer_.start(options_.timeout, [this] { finish(); });
    return;
  }
  modem_.data().sync_session();
  const emulator::SessionAddresses* s = modem_.data().session();
  if (s == nullptr || !s->ipv4) {
    finish();  // nothing to send from: "connect: Network is unreachable"
    return;
  }
  net::Ipv4Address to = s->ipv4_gateway;
  if (options_.target != "gateway") to = *net::parse_ipv4(options_.target);
  target_text_ = net::to_string(to);
  ++sent_;
  protocols::Bytes payload(56, 0);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i);
  auto icmp = net::build_icmp(net::kIcmpEchoRequest, 0, (std::uint32_t{identifier_} << 16) | sent_, payload);
  auto packet = net::build_ipv4(*s->ipv4, to, net::kProtocolIcmp, icmp, 64, static_cast<std::uint16_t>(sent_));
  path_.from_host(packet);
  timer_.start(sent_ < options_.count ? options_.interval : emulator::Duration::zero(), [this] { send_next(); });
}

void Pinger::finish() {
  if (finished_) return;
  finished_ = true;
  timer_.cancel();
  modem_.event("host.ping",
               fmt::format("ping {}: {} sent, {} replies{}", target_text_, sent_, replies_,
                           sent_ == 0 ? " (no data session: nothing to send from)" : ""),
               {{"target", target_text_}, {"sent", std::to_string(sent_)}, {"replies", std::to_string(replies_)}});
}

}  // namespace modemu::scenarios
