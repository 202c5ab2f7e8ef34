#include "protocols/sahara/sahara.hpp"

#include <algorithm>

namespace modemu::protocols::sahara {

Bytes encode(std::uint32_t command, ByteView body) {
  Writer w;
  w.le32(command).le32(static_cast<std::uint32_t>(8 + body.size())).bytes(body);
  return w.take();
}

std::optional<Packet> decode(ByteView data) {
  Reader r(data);
  std::uint32_t command = r.le32();
  std::uint32_t length = r.le32();
  if (!r.ok() || length != data.size()) return std::nullopt;
  ByteView body = r.rest();
  return Packet{command, Bytes(body.begin(), body.end())};
}

Target::Target(TargetConfig config, Output output, ImageCheck check)
    : config_(std::move(config)), output_(std::move(output)), check_(std::move(check)) {}

void Target::start() { hello(kModeImageTxPending); }

void Target::hello(std::uint32_t mode) {
  state_ = State::kHello;
  pending_.clear();
  Writer w;
  w.le32(config_.version).le32(config_.version_supported).le32(config_.max_packet).le32(mode);
  for (int i = 0; i < 6; ++i) w.le32(0);
  output_(encode(kHello, w.data()));
}

void Target::receive(ByteView bytes) {
  if (state_ == State::kImage && want_length_ > 0) {
    raw(bytes);
    return;
  }
  pending_.insert(pending_.end(), bytes.begin(), bytes.end());
  while (pending_.size() >= 8) {
    std::uint32_t length = pending_[4] | (pending_[5] << 8) | (pending_[6] << 16) | (static_cast<std::uint32_t>(pending_[7]) << 24);
    if (length < 8 || length > 0x1000) {
      pending_.clear();
      if (state_ == State::kHello) {
        stray_in_hello();
      } else {
        end_image(kInvalidPacketSize);
      }
      return;
    }
    if (pending_.size() < length) return;
    auto p = decode(ByteView(pending_.data(), length));
    pending_.erase(pending_.begin(), pending_.begin() + length);
    packet(*p);
  }
  // QFirehose's stray byte: fewer than 8 bytes where a HELLO_RESP was due. The reference: resend
  // HELLO on any unexpected input.
  if (state_ == State::kHello && !pending_.empty() && pending_.size() < 8 && bytes.size() < 8) {
    pending_.clear();
    stray_in_hello();
  }
}

void Target::stray_in_hello() {
  if (!config_.may_repeat_hello || config_.may_repeat_hello()) hello(kModeImageTxPending);
}

void Target::packet(const Packet& p) {
  Reader r(p.body);
  switch (p.command) {
    case kHelloResp: {
      if (state_ != State::kHello) {
        end_image(kInvalidCommand);
        return;
      }
      r.le32();  // version
      r.le32();  // version supported
      std::uint32_t status = r.le32();
      std::uint32_t mode = r.le32();
      if (!r.ok() || status != kSuccess) {
        hello(kModeImageTxPending);
        return;
      }
      if (mode == kModeCommand) {
        state_ = State::kCommand;
        output_(encode(kCmdReady));
      } else if (mode == kModeImageTxPending) {
        state_ = State::kImage;
        image_.clear();
        step_ = Step::kHeader;
        segments_.clear();
        segment_received_ = segment_total_ = 0;
        request(0, 52);  // the ELF32 header (an ELF64 one asks for the rest)
      } else {
        end_image(kProtocolMismatch);
      }
      return;
    }
    case kCmdExecute: {
      if (state_ != State::kCommand) break;
      execute_command_ = r.le32();
      std::uint32_t length = 0;
      switch (execute_command_) {
        case kSerialNumber: case kMsmHwId: case kSblVersion: length = 4; break;
        case kOemPkHash: length = static_cast<std::uint32_t>(config_.oem_pk_hash.size()); break;
        case kCommandList: length = 4 * 4; break;
        case kSwitchToFirehose: length = config_.firehose_execute ? 9 : 0; break;
        default: length = 0;
      }
      if (length == 0) {
        end_image(kExecCommandUnsupported);
        return;
      }
      Writer w;
      w.le32(execute_command_).le32(length);
      output_(encode(kCmdExecuteResp, w.data()));
      return;
    }
    case kCmdExecuteData: {
      if (state_ != State::kCommand) break;
      std::uint32_t command = r.le32();
      Writer w;
      switch (command) {
        case kSerialNumber: w.le32(config_.serial); break;
        case kMsmHwId: w.le32(config_.msm_hw_id); break;
        case kSblVersion: w.le32(config_.sbl_version); break;
        case kOemPkHash: w.bytes(config_.oem_pk_hash); break;
        case kCommandList: w.le32(kSerialNumber).le32(kMsmHwId).le32(kOemPkHash).le32(kSblVersion); break;
        case kSwitchToFirehose:
          if (!config_.firehose_execute) {
            end_image(kExecCommandUnsupported);
            return;
          }
          w.text("confirmed");
          output_(w.take());
          state_ = State::kFirehose;
          return;
        default:
          end_image(kExecCommandUnsupported);
          return;
      }
      output_(w.take());
      return;
    }
    case kCmdSwitchMode: {
      if (state_ != State::kCommand) break;
      hello(r.le32());
      return;
    }
    case kDone: {
      if (state_ != State::kImageDone) break;
      Writer w;
      w.le32(kModeImageTxComplete);
      output_(encode(kDoneResp, w.data()));
      state_ = State::kDone;
      return;
    }
    case kReset: {
      output_(encode(kResetResp));
      state_ = State::kReset;
      return;
    }
    case kResetStateMachine:
      hello(kModeImageTxPending);
      return;
    default:
      break;
  }
  if (state_ == State::kHello) {
    hello(kModeImageTxPending);
  } else {
    end_image(kInvalidCommand);
  }
}

void Target::request(std::uint64_t offset, std::uint64_t length) {
  want_offset_ = offset;
  want_length_ = length;
  got_ = 0;
  if (image_.size() < offset + length) image_.resize(offset + length);
  Writer w;
  if (config_.read_data_64) {
    w.le(config_.image_id, 8).le(offset, 8).le(length, 8);
    output_(encode(kReadData64, w.data()));
  } else {
    w.le32(config_.image_id).le32(static_cast<std::uint32_t>(offset)).le32(static_cast<std::uint32_t>(length));
    output_(encode(kReadData, w.data()));
  }
}

void Target::raw(ByteView bytes) {
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), want_length_ - got_));
  std::copy(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n), image_.begin() + static_cast<std::ptrdiff_t>(want_offset_ + got_));
  got_ += n;
  if (step_ == Step::kSegments) segment_received_ += n;
  if (got_ < want_length_) return;
  want_length_ = 0;
  read_next();
}

// ELF (System V ABI): the header gives where the program headers are; each PT_LOAD segment with
// bytes in the file is read.
void Target::read_next() {
  Reader r(image_);
  switch (step_) {
    case Step::kHeader: {
      if (image_.size() < 52 || image_[0] != 0x7f || image_[1] != 'E' || image_[2] != 'L' || image_[3] != 'F' ||
          (image_[4] != 1 && image_[4] != 2)) {
        end_image(kInvalidElfHeader);
        return;
      }
      if (image_[4] == 2) {  // ELF64: 64-byte header
        step_ = Step::kHeader64;
        request(52, 12);
        return;
      }
      [[fallthrough]];
    }
    case Step::kHeader64: {
      elf64_ = image_[4] == 2;
      Reader h(ByteView(image_).subspan(elf64_ ? 32 : 28));
      phoff_ = elf64_ ? h.le(8) : h.le32();
      Reader h2(ByteView(image_).subspan(elf64_ ? 54 : 42));
      phentsize_ = h2.le16();
      phnum_ = h2.le16();
      if (phnum_ == 0 || phnum_ > 64 || phentsize_ < (elf64_ ? 56 : 32) || phoff_ > kMaxImage) {
        end_image(kInvalidElfHeader);
        return;
      }
      step_ = Step::kProgramHeaders;
      request(phoff_, static_cast<std::uint64_t>(phnum_) * phentsize_);
      return;
    }
    case Step::kProgramHeaders: {
      const bool is64 = elf64_;
      std::uint64_t total = 0;
      for (std::uint16_t i = 0; i < phnum_; ++i) {
        Reader ph(ByteView(image_).subspan(phoff_ + static_cast<std::uint64_t>(i) * phentsize_, phentsize_));
        std::uint32_t type = ph.le32();
        std::uint64_t offset = 0, filesz = 0;
        if (is64) {
          ph.le32();  // flags
          offset = ph.le(8);
          ph.le(8);  // vaddr
          ph.le(8);  // paddr
          filesz = ph.le(8);
        } else {
          offset = ph.le32();
          ph.le32();  // vaddr
          ph.le32();  // paddr
          filesz = ph.le32();
        }
        if (type == 1 && filesz > 0) {  // PT_LOAD
          total += filesz;
          if (offset + filesz > kMaxImage || total > kMaxImage) {
            end_image(kInvalidElfHeader);
            return;
          }
          segments_.push_back({offset, filesz});
        }
      }
      if (segments_.empty()) {
        end_image(kInvalidElfHeader);
        return;
      }
      step_ = Step::kSegments;
      segment_ = 0;
      segment_done_ = 0;
      segment_total_ = total;
      [[fallthrough]];
    }
    case Step::kSegments: {
      while (segment_ < segments_.size() && segment_done_ >= segments_[segment_].size) {
        ++segment_;
        segment_done_ = 0;
      }
      if (segment_ >= segments_.size()) {
        end_image(check_ ? check_(image_) : kSuccess);
        return;
      }
      const Segment& s = segments_[segment_];
      std::uint64_t n = std::min<std::uint64_t>(kChunk, s.size - segment_done_);
      std::uint64_t at = s.offset + segment_done_;
      segment_done_ += n;
      request(at, n);
      return;
    }
  }
}

void Target::end_image(std::uint32_t status) {
  Writer w;
  w.le32(config_.image_id).le32(status);
  output_(encode(kEndImageTx, w.data()));
  want_length_ = 0;
  pending_.clear();
  state_ = status == kSuccess ? State::kImageDone : State::kFailed;
}

}  // namespace modemu::protocols::sahara
