#pragma once
// What the Sierra download targets write into: the QDL target on the boot-and-hold port of
// MC/EM74xx modules, and Firehose on the EM7565's boot port (a program to start_sector -1 carries
// a whole .cwe). The targets own the wire protocols; the module's firmware storage
// (emulator/sierra/store) implements this and owns what the bytes mean.
#include <cstdint>
#include <optional>
#include <string>

#include "protocols/common/bytes.hpp"

namespace modemu::emulator::sierra {

using protocols::ByteView;

// Why the storage refuses an image: the QDL error code a real module sends back (sierra-qdl.md:
// 0x1a image authentication, ...) and a readable text for the event log.
struct SinkError {
  std::uint32_t qdl_code = 0;
  std::string text;
};

class FirmwareSink {
 public:
  virtual ~FirmwareSink() = default;
  // An image download starts (QDL OPEN; `image_type` as QDL numbers it, 0x80 = CWE). From now on
  // until finish() succeeds the storage records a download in progress, persistently: a power
  // cut leaves the module in boot mode at the next power-on. `total`: the image's length in
  // bytes, header included.
  virtual std::optional<SinkError> begin(std::uint8_t image_type, std::uint64_t total) = 0;
  // The next bytes of the image, in order.
  virtual std::optional<SinkError> write(ByteView chunk) = 0;
  // The whole image has arrived: check it (CWE header and CRCs, product, fits the storage) and
  // install it. On error the image is discarded and the download stays in progress.
  virtual std::optional<SinkError> finish() = 0;
};

}  // namespace modemu::emulator::sierra
