#include "protocols/qdl/qdl.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace modemu::protocols::qdl {

namespace {
constexpr std::uint8_t kFlag = 0x7e;
}  // namespace

std::string_view state_name(Target::State s) {
  switch (s) {
    case Target::State::kIdle: return "idle";
    case Target::State::kReady: return "ready";
    case Target::State::kOpen: return "open";
    case Target::State::kResync: return "resync";
    case Target::State::kReset: return "reset";
  }
  return "?";
}

// ERROR: cmd, error u32, error text u8 (6 bytes).
Bytes encode_error(std::uint32_t code) {
  Writer w;
  w.u8(kError).le32(code).u8(0);
  return w.take();
}

// HELLO response: cmd, magic[32], max version, min version, max block u32, flash base u32, flash
// id length u8, window size u16, sector count u16, features u8 (49 bytes; sierra-qdl.md).
Bytes encode_hello_response(const TargetConfig& config, std::uint8_t version, std::uint8_t features) {
  Writer w;
  w.u8(kHelloRsp).padded(kTargetMagic, 32).u8(version).u8(config.min_version);
  w.le32(config.max_block).le32(0).u8(0).le16(1).le16(0).u8(features);
  return w.take();
}

// OPEN UNFRAMED response: cmd, status u16, window size u8, chunk size u32.
Bytes encode_open_response(std::uint16_t status, std::uint32_t chunk) {
  Writer w;
  w.u8(kOpenUnframedRsp).le16(status).u8(1).le32(chunk);
  return w.take();
}

// WRITE UNFRAMED response: cmd, sequence u16, reserved u32, status u16.
Bytes encode_write_response(std::uint16_t sequence, std::uint16_t status) {
  Writer w;
  w.u8(kWriteUnframedRsp).le16(sequence).le32(0).le16(status);
  return w.take();
}

// CLOSE UNFRAMED response: cmd, status u16, image type u8, error text u8.
Bytes encode_close_response(std::uint16_t status, std::uint8_t image_type) {
  Writer w;
  w.u8(kCloseUnframedRsp).le16(status).u8(image_type).u8(0);
  return w.take();
}

// GET IMAGE PREFERENCE response: cmd, entries u8, {type u8, id[16]}.
Bytes encode_image_preference(const std::vector<ImagePreference>& images) {
  Writer w;
  std::size_t n = std::min<std::size_t>(images.size(), 255);
  w.u8(kGetImagePrefRsp).u8(static_cast<std::uint8_t>(n));
  for (std::size_t i = 0; i < n; ++i) w.u8(images[i].type).padded(images[i].id, 16);
  return w.take();
}

// WRITE UNFRAMED request header: cmd, sequence u16, reserved u32, chunk size u32, crc u16 of the
// eleven bytes before it.
WriteHeader parse_write_header(ByteView bytes) {
  Reader r(bytes);
  WriteHeader h;
  r.u8();
  h.sequence = r.le16();
  r.le32();
  h.chunk = r.le32();
  std::uint16_t crc = r.le16();
  h.crc_ok = r.ok() && diag::crc16(bytes.first(kWriteHeaderSize - 2)) == crc;
  return h;
}

Bytes encode_write_request(std::uint16_t sequence, ByteView chunk) {
  Writer w;
  w.u8(kWriteUnframedReq).le16(sequence).le32(0).le32(static_cast<std::uint32_t>(chunk.size()));
  w.le16(diag::crc16(w.data()));
  w.bytes(chunk);
  return w.take();
}

// OPEN UNFRAMED request: cmd, image type u8, length u32, window size u8, chunk size u32,
// reserved u16, then the image header.
Bytes encode_open_request(std::uint8_t image_type, std::uint32_t length, ByteView header) {
  Writer w;
  w.u8(kOpenUnframedReq).u8(image_type).le32(length).u8(1);
  w.le32(static_cast<std::uint32_t>(length - std::min<std::size_t>(length, header.size()))).le16(0).bytes(header);
  return w.take();
}

// HELLO request: cmd, magic[32], max version, min version, features.
Bytes encode_hello_request(std::uint8_t version) {
  Writer w;
  w.u8(kHelloReq).padded(kHelloMagic, 32).u8(version).u8(version).u8(kFeatureQdlUnframed | kFeatureGenericUnframed);
  return w.take();
}

Target::Target(TargetConfig config, ImageSink& sink, Output output, Hooks hooks)
    : config_(config), sink_(sink), output_(std::move(output)), hooks_(std::move(hooks)) {}

void Target::send(const Bytes& payload) { output_(diag::frame(payload, true)); }

void Target::event(std::string_view line) {
  if (hooks_.event) hooks_.event(line);
}

void Target::set_state(State to, std::string_view cause) {
  if (to == state_) return;
  event(fmt::format("{} -> {} ({})", state_name(state_), state_name(to), cause));
  state_ = to;
}

void Target::fail(std::uint32_t code, std::string_view why) {
  event(fmt::format("ERROR 0x{:02x}: {}", code, why));
  send(encode_error(code));
}

void Target::refused(const Refusal& refusal, std::string_view during) {
  fail(refusal.code, fmt::format("{} refused: {}", during, refusal.text));
}

void Target::receive(ByteView bytes) {
  if (state_ == State::kReset) return;  // the loader is rebooting
  while (!bytes.empty() && pending_.empty() && chunk_left_ > 0) {
    // The bulk of an image: straight from the host's transfer to the sink, no copy.
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_left_, bytes.size()));
    chunk_bytes(bytes.first(n));
    bytes = bytes.subspan(n);
  }
  pending_.insert(pending_.end(), bytes.begin(), bytes.end());
  process();
}

void Target::process() {
  std::size_t at = 0;
  while (at < pending_.size() && state_ != State::kReset) {
    ByteView rest(pending_.data() + at, pending_.size() - at);
    if (chunk_left_ > 0) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_left_, rest.size()));
      chunk_bytes(rest.first(n));
      at += n;
      continue;
    }
    if (state_ == State::kOpen && rest[0] == kWriteUnframedReq) {
      if (rest.size() < kWriteHeaderSize) break;
      at += kWriteHeaderSize;
      write_header(parse_write_header(rest));
      continue;
    }
    // A framed message: optional leading flags, the frame, its trailing flag.
    std::size_t start = 0;
    while (start < rest.size() && rest[start] == kFlag) ++start;
    auto end = std::find(rest.begin() + static_cast<std::ptrdiff_t>(start), rest.end(), kFlag);
    if (end == rest.end()) {
      if (rest.size() > diag::Deframer::kMaxFrame) {
        event(fmt::format("{} bytes without a frame end dropped", rest.size()));
        at = pending_.size();
      } else if (start > 0) {
        at += start - 1;  // keep one opening flag
      }
      break;
    }
    std::size_t length = static_cast<std::size_t>(end - rest.begin()) + 1;
    deframer_.push(rest.first(length));
    at += length;
    auto r = deframer_.next();
    deframer_.clear();
    if (r.outcome == diag::Deframer::Outcome::kFrame) {
      if (state_ == State::kResync) set_state(State::kReady, "a valid frame");
      message(r.payload);
    } else if (r.outcome == diag::Deframer::Outcome::kMalformed && state_ != State::kResync) {
      fail(kErrBadCrc, fmt::format("frame of {} bytes with a bad CRC or escape", length));
    }
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(std::min(at, pending_.size())));
}

void Target::message(ByteView payload) {
  if (payload.empty()) return;
  Reader r(payload);
  std::uint8_t cmd = r.u8();
  switch (cmd) {
    case kDloadSdp: {
      if (payload.size() < 3) return fail(kErrBadPacket, "DLOAD SDP shorter than 3 bytes");
      // A host that starts over (an updater killed mid-image and run again) probes first: the
      // open image is abandoned, as the sink keeps its download in progress.
      if (state_ == State::kOpen) set_state(State::kIdle, fmt::format("DLOAD SDP after {} of {} bytes", received_, total_));
      if (hooks_.sdp_reply) {
        if (auto reply = hooks_.sdp_reply()) {
          event(fmt::format("DLOAD SDP: answered {}", hex(*reply)));
          send(*reply);
          return;
        }
      }
      event("DLOAD SDP: ACK");
      send(Bytes{kDloadAck});
      return;
    }
    case kHelloReq: return hello(r);
    case kOpenUnframedReq: return open(r);
    case kCloseUnframedReq: return close();
    case kResetReq:
      set_state(State::kReset, "RESET");
      return;
    case kGetImagePrefReq: {
      std::vector<ImagePreference> images;
      if (hooks_.image_preference) images = hooks_.image_preference();
      event(fmt::format("GET IMAGE PREFERENCE: {} entries", images.size()));
      send(encode_image_preference(images));
      return;
    }
    default:
      return fail(kErrBadCommand, fmt::format("unknown command 0x{:02x}", cmd));
  }
}

void Target::hello(Reader& r) {
  ByteView magic = r.take(32);
  std::uint8_t max_version = r.u8();
  std::uint8_t min_version = r.u8();
  std::uint8_t features = r.u8();
  if (!r.ok()) return fail(kErrBadPacket, "HELLO shorter than 36 bytes");
  if (state_ == State::kOpen) return fail(kErrCommandSequence, "HELLO while an image is open");
  // Hosts differ in the last bytes of the magic (24 significant bytes up to version 5).
  if (as_chars(magic).substr(0, 24) != kHelloMagic.substr(0, 24)) return fail(kErrBadCommand, "HELLO with a wrong magic");
  if (min_version > max_version || max_version < config_.min_version || min_version > config_.max_version) {
    return fail(kErrBadCommand, fmt::format("HELLO version {}..{}: this loader speaks {}..{}", min_version, max_version,
                                            config_.min_version, config_.max_version));
  }
  if (!(features & kFeatureQdlUnframed)) return fail(kErrBadFeatures, fmt::format("HELLO features 0x{:02x}: no unframed writes", features));
  version_ = std::min(max_version, config_.max_version);
  std::uint8_t agreed = features & (kFeatureQdlUnframed | kFeatureGenericUnframed);
  event(fmt::format("HELLO version {} features 0x{:02x}", version_, agreed));
  set_state(State::kReady, "HELLO");
  send(encode_hello_response(config_, version_, agreed));
}

void Target::open(Reader& r) {
  std::uint8_t type = r.u8();
  std::uint32_t length = r.le32();
  r.u8();   // window size (1)
  r.le32(); // chunk size: the host's data size, informative
  r.le16();
  if (!r.ok()) return fail(kErrBadPacket, "OPEN shorter than 13 bytes");
  if (state_ != State::kReady) return fail(kErrCommandSequence, fmt::format("OPEN in state {}", state_name(state_)));
  ByteView header = r.rest();
  if (length < header.size()) {
    return fail(kErrBadLength, fmt::format("OPEN length {} shorter than its {}-byte header", length, header.size()));
  }
  if (auto refusal = sink_.begin(type, length)) return refused(*refusal, "OPEN");
  image_type_ = type;
  total_ = length;
  received_ = header.size();
  next_sequence_ = 0;
  if (!header.empty()) {
    if (auto refusal = sink_.write(header)) return refused(*refusal, "OPEN (image header)");
  }
  event(fmt::format("OPEN image type 0x{:02x}, {} bytes ({}-byte header)", type, length, header.size()));
  set_state(State::kOpen, "OPEN");
  send(encode_open_response(0, kMaxChunk));
}

void Target::write_header(const WriteHeader& h) {
  if (!h.crc_ok) {
    fail(kErrBadCrc, "WRITE header CRC mismatch");
    // The chunk length cannot be trusted: frames are taken again only once one checks out.
    set_state(State::kResync, "WRITE header CRC");
    pending_.clear();
    return;
  }
  chunk_sequence_ = h.sequence;
  chunk_left_ = h.chunk;
  chunk_keep_ = false;
  sink_refused_ = false;
  chunk_refusal_.reset();
  if (h.sequence != next_sequence_) {
    chunk_refusal_ = Refusal{kErrCommandSequence, fmt::format("WRITE #{} where #{} was due", h.sequence, next_sequence_)};
  } else if (h.chunk > kMaxChunk) {
    chunk_refusal_ = Refusal{kErrBadLength, fmt::format("WRITE chunk of {} bytes (at most {})", h.chunk, kMaxChunk)};
  } else if (received_ + h.chunk > total_) {
    chunk_refusal_ = Refusal{kErrBadLength, fmt::format("WRITE chunk of {} bytes past the image's {} bytes", h.chunk, total_)};
  } else {
    chunk_keep_ = true;
  }
  if (chunk_left_ == 0) chunk_done();
}

void Target::chunk_bytes(ByteView bytes) {
  chunk_left_ -= bytes.size();
  if (chunk_keep_) {
    if (auto refusal = sink_.write(bytes)) {
      chunk_keep_ = false;
      chunk_refusal_ = std::move(refusal);
      sink_refused_ = true;
    } else {
      received_ += bytes.size();
    }
  }
  if (chunk_left_ == 0) chunk_done();
}

void Target::chunk_done() {
  if (chunk_refusal_) {
    refused(*chunk_refusal_, fmt::format("WRITE #{}", chunk_sequence_));
    chunk_refusal_.reset();
    // A sink that refused data ends the image; a wrong sequence or length leaves it open.
    if (sink_refused_) set_state(State::kReady, "image refused");
    return;
  }
  ++next_sequence_;
  send(encode_write_response(chunk_sequence_, 0));
}

void Target::close() {
  if (state_ != State::kOpen) return fail(kErrCommandSequence, fmt::format("CLOSE in state {}", state_name(state_)));
  set_state(State::kReady, "CLOSE");
  if (received_ != total_) {
    return fail(kErrCloseFailed, fmt::format("CLOSE after {} of {} bytes", received_, total_));
  }
  if (auto refusal = sink_.finish()) return refused(*refusal, "CLOSE");
  event(fmt::format("CLOSE: image type 0x{:02x} of {} bytes complete", image_type_, total_));
  send(encode_close_response(0, image_type_));
}

}  // namespace modemu::protocols::qdl
