#pragma once
// Sierra's QDL, the streaming download protocol of the boot-and-hold loader on MC/EM74xx modules
// (sierra-qdl.md "QDL framing"). Every message travels HDLC framed (protocols/diag/hdlc) except
// the WRITE UNFRAMED request, whose 13-byte header carries its own CRC and is followed by the
// chunk as raw bytes. Layouts are packed little-endian, built and parsed here field by field.
//
// Target is the module's side. It never speaks first (qmi-firmware-update opens the tty and
// listens for a Sahara HELLO for a few seconds before it tries QDL), answers the DLOAD SDP probe,
// negotiates the protocol version by HELLO, then takes each image as OPEN (with the image header)
// -> WRITE chunks -> CLOSE, and finally RESET. Image bytes go to an ImageSink as they arrive;
// the sink decides whether an image fits this module and answers with the QDL error code a real
// loader sends.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/bytes.hpp"
#include "protocols/diag/hdlc.hpp"

namespace modemu::protocols::qdl {

enum Command : std::uint8_t {
  kDloadAck = 0x02,  // the DLOAD ACK, one byte, shares its number with HELLO response
  kHelloReq = 0x01, kHelloRsp = 0x02, kError = 0x0d,
  kOpenUnframedReq = 0x25, kOpenUnframedRsp = 0x26, kWriteUnframedReq = 0x27, kWriteUnframedRsp = 0x28,
  kCloseUnframedReq = 0x29, kCloseUnframedRsp = 0x2a, kResetReq = 0x2d,
  kGetImagePrefReq = 0x2e, kGetImagePrefRsp = 0x2f,
  kDloadSdp = 0x70,
};

// ERROR codes (sierra-qdl.md; the numbering of Qualcomm's streaming download protocol).
enum ErrorCode : std::uint32_t {
  kErrNone = 0x00,
  kErrBadLength = 0x03,
  kErrBadPacket = 0x04,          // shorter than its command needs
  kErrBadCommand = 0x05,         // unknown command, or a HELLO this loader cannot speak
  kErrOperationFailed = 0x07,
  kErrWriteFailed = 0x0a,
  kErrCommandSequence = 0x0f,    // out of sequence: wrong state or wrong WRITE sequence number
  kErrCloseFailed = 0x10,        // CLOSE before the whole image arrived
  kErrBadFeatures = 0x11,
  kErrOutOfSpace = 0x12,
  kErrBadSecurity = 0x13,
  kErrBadCrc = 0x17,
  kErrState = 0x18,
  kErrImageAuth = 0x1a,          // the image is not one this module accepts
};

// Image types of OPEN (sierra-qdl.md).
enum ImageType : std::uint8_t {
  kImageAmss = 0x05, kImageApplication = 0x06, kImageUqcn = 0x0d, kImageDbl = 0x0f, kImageOsbl = 0x10,
  kImageCwe = 0x80,
};

inline constexpr std::string_view kHelloMagic = "QCOM high speed protocol hst";  // the host's
inline constexpr std::string_view kTargetMagic = "QCOM high speed protocol tgt";
inline constexpr std::uint8_t kFeatureQdlUnframed = 0x20, kFeatureGenericUnframed = 0x10;
inline constexpr std::size_t kHelloRspSize = 49;     // the exact size qmi-firmware-update checks
inline constexpr std::size_t kOpenHeaderSize = 13;   // OPEN's fields before the image header
inline constexpr std::size_t kWriteHeaderSize = 13;  // WRITE's fields, CRC included
inline constexpr std::uint32_t kMaxChunk = 1u << 20; // the host's chunk (1 MiB)

// Why a sink refuses: the QDL error code and a readable text for the event log.
struct Refusal {
  std::uint32_t code = kErrOperationFailed;
  std::string text;
};

// Where images go. begin: an OPEN (the image header follows as the first write). write: the next
// bytes of the image. finish: CLOSE after the last byte. Any refusal ends this image's transfer.
class ImageSink {
 public:
  virtual ~ImageSink() = default;
  virtual std::optional<Refusal> begin(std::uint8_t image_type, std::uint64_t total) = 0;
  virtual std::optional<Refusal> write(ByteView bytes) = 0;
  virtual std::optional<Refusal> finish() = 0;
};

struct ImagePreference {
  std::uint8_t type = 0;  // 0 modem, 1 PRI
  std::string id;         // up to 16 bytes
};

struct TargetConfig {
  // The protocol versions the loader speaks. qmi-firmware-update tries 4, then 5, then 6 and
  // keeps the first that gets a HELLO response; MC/EM74xx loaders answer version 6 only.
  std::uint8_t min_version = 6;
  std::uint8_t max_version = 6;
  std::uint32_t max_block = kMaxChunk;  // HELLO response: largest block the loader takes
};

// Message builders and parsers, one pair per message the target sends or receives.
Bytes encode_error(std::uint32_t code);
Bytes encode_hello_response(const TargetConfig& config, std::uint8_t version, std::uint8_t features);
Bytes encode_open_response(std::uint16_t status, std::uint32_t chunk);
Bytes encode_write_response(std::uint16_t sequence, std::uint16_t status);
Bytes encode_close_response(std::uint16_t status, std::uint8_t image_type);
Bytes encode_image_preference(const std::vector<ImagePreference>& images);

struct WriteHeader {
  std::uint16_t sequence = 0;
  std::uint32_t chunk = 0;
  bool crc_ok = false;
};
// The 13-byte WRITE UNFRAMED header (`bytes` at least that long).
WriteHeader parse_write_header(ByteView bytes);
// A host's WRITE UNFRAMED request: header with its CRC, then the chunk (tests, fuzz seeds, the
// scenario host).
Bytes encode_write_request(std::uint16_t sequence, ByteView chunk);
// A host's OPEN UNFRAMED request with the image header appended.
Bytes encode_open_request(std::uint8_t image_type, std::uint32_t length, ByteView header);
Bytes encode_hello_request(std::uint8_t version);

class Target {
 public:
  enum class State { kIdle, kReady, kOpen, kResync, kReset };
  using Output = std::function<void(const Bytes&)>;  // one call = one framed transfer
  struct Hooks {
    std::function<void(std::string_view)> event;  // one readable line per command handled
    std::function<std::vector<ImagePreference>()> image_preference;  // GET IMAGE PREFERENCE
    // A replacement reply to the DLOAD SDP probe (a fault: a loader that answers 0x13); the
    // payload is framed as usual.
    std::function<std::optional<Bytes>()> sdp_reply;
  };

  Target(TargetConfig config, ImageSink& sink, Output output, Hooks hooks = {});

  // Bytes from the host, in any pieces.
  void receive(ByteView bytes);
  State state() const { return state_; }
  std::uint8_t version() const { return version_; }
  // The image being received: bytes so far (header included) and its announced length.
  std::uint64_t received() const { return received_; }
  std::uint64_t total() const { return total_; }

 private:
  void process();
  void message(ByteView payload);
  void hello(Reader& r);
  void open(Reader& r);
  void write_header(const WriteHeader& h);
  void chunk_bytes(ByteView bytes);
  void chunk_done();
  void close();
  void fail(std::uint32_t code, std::string_view why);
  void refused(const Refusal& refusal, std::string_view during);
  void send(const Bytes& payload);
  void event(std::string_view line);
  void set_state(State to, std::string_view cause);

  TargetConfig config_;
  ImageSink& sink_;
  Output output_;
  Hooks hooks_;
  diag::Deframer deframer_;
  State state_ = State::kIdle;
  Bytes pending_;
  std::uint8_t version_ = 0;
  std::uint8_t image_type_ = 0;
  std::uint64_t total_ = 0, received_ = 0;
  std::uint16_t next_sequence_ = 0;
  // The chunk of the WRITE being received: bytes still to come, and whether they go to the sink
  // (false: a refused WRITE whose chunk is skipped).
  std::uint64_t chunk_left_ = 0;
  bool chunk_keep_ = false;
  bool sink_refused_ = false;
  std::uint16_t chunk_sequence_ = 0;
  std::optional<Refusal> chunk_refusal_;
};

std::string_view state_name(Target::State s);

}  // namespace modemu::protocols::qdl
