#pragma once
// Firehose, the programmer's XML protocol on the emergency-download pipe once Sahara has loaded
// it (edl-sahara-firehose.md "Firehose", "Firehose details the updater depends on", "What
// bkerler/edl expects of a target"; /tmp/qdl-report.md for linux-msm/qdl 2022-07).
//
// Target is the programmer's side: host documents in (`<?xml ...?><data><CMD .../></data>`, in
// any pieces), reply documents and raw read data out, one Output call per USB transfer. The
// flash is reached only through Storage. No I/O, no clock.
//
// The reply shape every host parses (QFirehose's hand parser, libqmi's regular expressions,
// qdl's libxml2, edl's ElementTree): exactly one document per transfer (qdl parses each
// transfer as one document), the element right after `<data>\n`, value first, no indentation,
// no CR, under 512 bytes (QFirehose). A log that belongs to a reply goes out as its own
// transfer just before it: edl accumulates reads until the response, so it still sees both.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/bytes.hpp"

namespace modemu::protocols::firehose {

// What the programmer writes to: the module's flash, in bytes from the start of the device.
class Storage {
 public:
  virtual ~Storage() = default;
  virtual std::uint32_t page_size() const = 0;        // NAND page = SECTOR_SIZE_IN_BYTES
  virtual std::uint32_t pages_per_block() const = 0;
  virtual std::uint64_t size_bytes() const = 0;
  // false + a short reason on failure (out of range, I/O error, power lost...)
  virtual bool write(std::uint64_t offset, ByteView data, std::string& error) = 0;
  virtual bool read(std::uint64_t offset, std::size_t length, Bytes& out, std::string& error) = 0;
  virtual bool erase(std::uint64_t offset, std::uint64_t length, std::string& error) = 0;
  // Images placed by the programmer itself: libqmi's Sierra download programs a whole .cwe to
  // start_sector="-1" and the EM7565's programmer decides where it goes (edl-sahara-firehose.md).
  // Storages that do not take them keep these defaults, and such programs are refused.
  virtual bool places_images() const { return false; }
  // A placed image of `length` bytes (whole sectors: the image and its zero padding) starts.
  virtual bool begin_placed(std::uint64_t /*length*/, std::string& error) {
    error = "start_sector -1 (placement by the programmer) is not supported";
    return false;
  }
  virtual bool write_placed(ByteView /*data*/, std::string& error) {
    error = "no placed image";
    return false;
  }
  // Every byte has arrived: check and install it.
  virtual bool finish_placed(std::string& error) {
    error = "no placed image";
    return false;
  }
};

struct TargetConfig {
  std::string memory_name = "nand";            // configure reply MemoryName; the host's MemoryName must match (case-insensitive)
  std::string target_name = "9x07";            // configure reply TargetName
  std::uint32_t max_payload_to_target = 16384; // largest program payload accepted (at least 512)
  std::uint32_t max_payload_from_target = 4096;// read data chunk size (512 .. 1 MiB)
  std::uint32_t max_xml = 4096;                // MaxXMLSizeInBytes (512 .. 64 KiB); documents up to 4x are still read
  std::string version = "1";
  // getstorageinfo's storage_info report.
  std::uint32_t manufacturer_id = 0x2c;
  std::uint32_t serial_num = 0;
  std::string fw_version = "1";
  std::string prod_name = "MODEMU-NAND";
};

// One attribute of a reply document; the value is escaped by document().
struct Attribute {
  std::string_view name;
  std::string value;
};
inline constexpr std::size_t kMaxDocument = 511;  // QFirehose: every frame under 512 bytes
// The one writer of target documents:
//   <?xml version="1.0" encoding="UTF-8" ?>\n<data>\n<ELEMENT a="v" b="w" />\n</data>
// Values are escaped (& < > " '), control and non-ASCII bytes become '?', and the last value is
// cut so that the document stays within kMaxDocument bytes.
std::string document(std::string_view element, const std::vector<Attribute>& attributes);
// `<log value="TEXT" />` in that shape.
std::string log_document(std::string_view text);

// Whether setbootablestoragedrive is a command of this memory: on NAND the boot chain is fixed
// and the reference lists the command as non-NAND only. qdl only prints the result (qdl report),
// so the NAK costs nothing there.
bool bootable_drive_supported(std::string_view memory_name);

class Target {
 public:
  using Output = std::function<void(const Bytes&)>;    // one call = one USB transfer
  struct Hooks {
    std::function<void(std::string_view)> event;        // one human-readable line per host command handled
    std::function<void(std::string_view action, std::uint32_t delay_s)> power;  // <power value="reset"|"off">: called AFTER the ACK was output
    std::function<void(std::uint64_t done, std::uint64_t total)> program_progress;  // raw-mode program bytes of the current command
  };
  // kProgramData: between ACK rawmode="true" and the last data byte of a program.
  // kAfterPower: a power command was ACKed; input is ignored from then on.
  enum class State { kXml, kProgramData, kAfterPower };

  Target(TargetConfig config, Storage& storage, Output output, Hooks hooks = {});
  ~Target();
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;

  // The programmer came up: two <log> documents right away (QFirehose drains logs first).
  void start();
  // Bytes from the host, in any pieces: a document split across transfers, several documents in
  // one, raw data in any chunk sizes. Empty pieces (qdl's zero-length packets) are ignored.
  void receive(ByteView bytes);
  State state() const { return state_; }
  // The MaxPayloadSizeToTargetInBytes agreed by the last accepted configure (the supported value
  // until then).
  std::uint32_t agreed_payload() const { return agreed_payload_; }

 private:
  struct Command;  // one parsed host command (firehose.cpp); keeps pugixml out of this header
  struct Extent {
    std::uint64_t offset = 0, length = 0, start_sector = 0, sectors = 0;
    std::uint32_t sector_size = 0;
  };

  void documents();
  std::size_t find_end();
  void overflow();
  void handle(std::string text, bool discarding);
  void command(const Command& c);
  void configure(const Command& c);
  void program(const Command& c);
  void program_placed(const Command& c);
  void read(const Command& c);
  void erase(const Command& c);
  void patch(const Command& c);
  void storage_info(const Command& c);
  void set_bootable(const Command& c);
  void power(const Command& c);
  std::size_t raw(ByteView bytes);
  void finish_program();

  std::optional<Extent> extent(const Command& c, bool aligned, std::string& why) const;
  std::uint64_t page() const;
  std::uint64_t block() const;
  void send(const std::string& doc);
  void log(std::string_view text);
  void respond(std::string_view value, std::optional<bool> rawmode = std::nullopt);
  void nak(std::string_view why);  // log + plain NAK
  void event(const std::string& line);

  TargetConfig config_;
  Storage& storage_;
  Output output_;
  Hooks hooks_;
  State state_ = State::kXml;
  std::uint32_t agreed_payload_ = 0;

  std::string xml_;          // host bytes not yet a whole document (bounded: max_xml * 4 + a piece)
  std::size_t scan_ = 0;     // xml_ has no "</data" before here
  bool discarding_ = false;  // the rest of an overlong document is being dropped

  struct Program {
    std::uint64_t offset = 0, total = 0, done = 0;
    bool started = false;
    bool placed = false; // start_sector -1: the storage places the image
    std::string label;   // "program start_sector 1280 x 64 sectors of 2048"
    std::string error;   // the first storage failure; the data is still consumed
  } program_;
};

}  // namespace modemu::protocols::firehose
