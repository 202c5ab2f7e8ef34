#pragma once
// Sahara, the primary bootloader's protocol on the emergency-download pipe
// (edl-sahara-firehose.md "Sahara"): packets are `u32 command, u32 length` (length includes the
// header), little-endian; image data flows raw, in the sizes the target asks for.
//
// Target is the bootloader's side: it says HELLO, serves command mode, and pulls the
// programmer (an ELF image) with READ_DATA: the ELF header, then the program headers, then each
// loadable segment in 4 KiB reads. The image is handed to a check before END_IMAGE_TX says
// whether it is a programmer for this module. Host behaviours it copes with (reference): a stray
// byte instead of HELLO_RESP (HELLO is sent again), a HELLO_RESP sent before HELLO (qdl), command
// mode and mode switches (bkerler/edl), EXECUTE 0xff00 (libqmi, EM7565: answered "confirmed").
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "protocols/common/bytes.hpp"

namespace modemu::protocols::sahara {

enum Command : std::uint32_t {
  kHello = 0x01, kHelloResp = 0x02, kReadData = 0x03, kEndImageTx = 0x04, kDone = 0x05, kDoneResp = 0x06,
  kReset = 0x07, kResetResp = 0x08, kMemoryDebug = 0x09, kMemoryRead = 0x0a, kCmdReady = 0x0b,
  kCmdSwitchMode = 0x0c, kCmdExecute = 0x0d, kCmdExecuteResp = 0x0e, kCmdExecuteData = 0x0f, kReadData64 = 0x12,
  kResetStateMachine = 0x13,
};

enum Mode : std::uint32_t { kModeImageTxPending = 0, kModeImageTxComplete = 1, kModeMemoryDebug = 2, kModeCommand = 3 };

// Status codes the target reports (END_IMAGE_TX); 0 is success.
enum Status : std::uint32_t {
  kSuccess = 0x00,
  kInvalidCommand = 0x01,
  kProtocolMismatch = 0x02,
  kInvalidPacketSize = 0x05,
  kUnexpectedImageId = 0x06,
  kInvalidElfHeader = 0x14,
  kExecCommandUnsupported = 0x1f,
  kHashVerificationFailure = 0x22,  // the image is not a programmer this module accepts
};

// Client commands of command mode.
enum ClientCommand : std::uint32_t {
  kSerialNumber = 0x01, kMsmHwId = 0x02, kOemPkHash = 0x03, kSblVersion = 0x07, kCommandList = 0x08,
  kChipIdV3 = 0x0a, kSwitchToFirehose = 0xff00,  // Sierra vendor command
};

struct Packet {
  std::uint32_t command = 0;
  Bytes body;  // after the 8-byte header
};
Bytes encode(std::uint32_t command, ByteView body = {});
// One whole packet, or nothing when `data` is not exactly one packet.
std::optional<Packet> decode(ByteView data);

struct TargetConfig {
  std::uint32_t version = 2;             // real modules: version 2, supported 1
  std::uint32_t version_supported = 1;
  std::uint32_t max_packet = 0x400;
  std::uint32_t image_id = 13;           // prog_nand_firehose_9x07.mbn on MDM9x07
  bool read_data_64 = false;             // 32-bit READ_DATA on MDM9x07 (QFirehose needs it)
  std::uint32_t serial = 0;
  std::uint32_t msm_hw_id = 0;
  Bytes oem_pk_hash;
  std::uint32_t sbl_version = 0;
  bool firehose_execute = false;         // EM7565: EXECUTE 0xff00 switches to Firehose
  // Input that is not a packet where a HELLO_RESP was due gets a new HELLO (QFirehose's stray
  // byte after 5 s of silence), if this says so. A freshly opened tty echoes what it receives
  // until the updater makes it raw, byte by byte: a target that answered every byte of that echo
  // would flood the host with HELLOs. Unset: always.
  std::function<bool()> may_repeat_hello;
};

class Target {
 public:
  // kFailed: an END_IMAGE_TX with an error went out; only RESET or RESET_STATE_MACHINE help.
  enum class State { kHello, kCommand, kImage, kImageDone, kFailed, kDone, kFirehose, kReset };
  using Output = std::function<void(const Bytes&)>;          // one call = one transfer
  using ImageCheck = std::function<std::uint32_t(const Bytes& image)>;  // a Status

  static constexpr std::uint32_t kChunk = 4096;
  static constexpr std::uint64_t kMaxImage = 64u << 20;

  Target(TargetConfig config, Output output, ImageCheck check);

  // The bootloader comes up: HELLO (mode image transfer pending).
  void start();
  // Bytes from the host, in any pieces.
  void receive(ByteView bytes);
  State state() const { return state_; }
  // The programmer, once its transfer is complete and checked.
  const Bytes& image() const { return image_; }
  // How far the programmer's transfer is: segment bytes received, of the total the program
  // headers announce (0 until they are read).
  std::uint64_t image_received() const { return segment_received_; }
  std::uint64_t image_total() const { return segment_total_; }

 private:
  void hello(std::uint32_t mode);
  // Not a packet where a HELLO_RESP was due: dropped, and HELLO again if the config allows.
  void stray_in_hello();
  void packet(const Packet& p);
  void read_next();
  void request(std::uint64_t offset, std::uint64_t length);
  void end_image(std::uint32_t status);
  void raw(ByteView bytes);

  TargetConfig config_;
  Output output_;
  ImageCheck check_;
  State state_ = State::kHello;
  Bytes pending_;          // a packet being assembled
  Bytes image_;            // the programmer as read so far (sparse regions zero)
  std::uint64_t want_offset_ = 0, want_length_ = 0, got_ = 0;
  enum class Step { kHeader, kHeader64, kProgramHeaders, kSegments } step_ = Step::kHeader;
  struct Segment {
    std::uint64_t offset, size;
  };
  std::vector<Segment> segments_;
  // The ELF header's fields, kept when it is read: later reads (program headers at offset 0, say)
  // may overwrite those bytes of the image.
  bool elf64_ = false;
  std::uint64_t phoff_ = 0;
  std::uint16_t phentsize_ = 0, phnum_ = 0;
  std::size_t segment_ = 0;
  std::uint64_t segment_done_ = 0;
  std::uint64_t segment_received_ = 0, segment_total_ = 0;
  std::uint32_t execute_command_ = 0;
};

}  // namespace modemu::protocols::sahara
