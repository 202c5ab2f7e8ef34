// The Firehose target against scripted hosts behaving as the reference describes QFirehose,
// bkerler/edl, libqmi's qmi-firmware-update and linux-msm/qdl (/tmp/qdl-report.md). Replies are
// checked byte for byte: one document per transfer, in the one shape all four parse.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "protocols/firehose/firehose.hpp"

using namespace modemu::protocols;
using namespace modemu::protocols::firehose;

namespace {

// The exact reply shape (reference "Firehose details the updater depends on").
std::string doc(std::string_view element) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n" + std::string(element) + "\n</data>";
}
std::string log_doc(std::string_view text) { return doc("<log value=\"" + std::string(text) + "\" />"); }
const std::string kAck = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<response value=\"ACK\" />\n</data>";
const std::string kNak = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<response value=\"NAK\" />\n</data>";
const std::string kAckRawTrue =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<response value=\"ACK\" rawmode=\"true\" />\n</data>";
const std::string kAckRawFalse =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<response value=\"ACK\" rawmode=\"false\" />\n</data>";
const std::string kNakRawFalse =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<response value=\"NAK\" rawmode=\"false\" />\n</data>";

// A host command as QFirehose / edl write it.
std::string cmd(std::string_view element) { return "<?xml version=\"1.0\" ?><data>" + std::string(element) + "</data>"; }

class Flash : public Storage {
 public:
  Flash(std::uint32_t page, std::uint32_t ppb, std::uint64_t size) : page_(page), ppb_(ppb), data(size, 0xff) {}
  std::uint32_t page_size() const override { return page_; }
  std::uint32_t pages_per_block() const override { return ppb_; }
  std::uint64_t size_bytes() const override { return data.size(); }
  bool write(std::uint64_t offset, ByteView bytes, std::string& error) override {
    if (fail_write_after == 0) {
      error = "power lost";
      return false;
    }
    if (fail_write_after > 0) --fail_write_after;
    REQUIRE(offset + bytes.size() <= data.size());
    std::copy(bytes.begin(), bytes.end(), data.begin() + static_cast<std::ptrdiff_t>(offset));
    writes.push_back({offset, bytes.size()});
    return true;
  }
  bool read(std::uint64_t offset, std::size_t length, Bytes& out, std::string& error) override {
    if (fail_read) {
      error = "ECC error";
      return false;
    }
    REQUIRE(offset + length <= data.size());
    out.assign(data.begin() + static_cast<std::ptrdiff_t>(offset), data.begin() + static_cast<std::ptrdiff_t>(offset + length));
    return true;
  }
  bool erase(std::uint64_t offset, std::uint64_t length, std::string&) override {
    REQUIRE(offset + length <= data.size());
    erases.push_back({offset, length});
    std::fill_n(data.begin() + static_cast<std::ptrdiff_t>(offset), length, 0xff);
    return true;
  }

  bool places_images() const override { return placing; }
  bool begin_placed(std::uint64_t length, std::string&) override {
    placed.clear();
    placed_length = length;
    return true;
  }
  bool write_placed(ByteView bytes, std::string&) override {
    placed.insert(placed.end(), bytes.begin(), bytes.end());
    return true;
  }
  bool finish_placed(std::string& error) override {
    error = refuse_placed;
    installed += refuse_placed.empty() ? 1 : 0;
    return refuse_placed.empty();
  }

  std::uint32_t page_, ppb_;
  Bytes data;
  bool placing = false;  // EM7565: whole .cwe images to start_sector -1
  Bytes placed;
  std::uint64_t placed_length = 0;
  std::string refuse_placed;
  int installed = 0;
  int fail_write_after = -1;
  bool fail_read = false;
  std::vector<std::pair<std::uint64_t, std::size_t>> writes;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> erases;
};

struct Host {
  Flash flash;
  std::vector<std::string> out;  // one entry per transfer
  std::vector<std::string> events;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> progress;
  std::string power_action;
  std::uint32_t power_delay = 0;
  std::size_t out_at_power = 0;
  std::unique_ptr<Target> target;

  explicit Host(TargetConfig c = {}, std::uint32_t page = 2048, std::uint32_t ppb = 64, std::uint64_t size = 1u << 20)
      : flash(page, ppb, size) {
    Target::Hooks hooks;
    hooks.event = [this](std::string_view line) { events.emplace_back(line); };
    hooks.power = [this](std::string_view action, std::uint32_t delay) {
      power_action = action;
      power_delay = delay;
      out_at_power = out.size();
    };
    hooks.program_progress = [this](std::uint64_t done, std::uint64_t total) { progress.push_back({done, total}); };
    target = std::make_unique<Target>(c, flash,
                                      [this](const Bytes& b) {
                                        CHECK(!b.empty());
                                        out.emplace_back(b.begin(), b.end());
                                      },
                                      hooks);
  }
  void send(std::string_view s) { target->receive(as_bytes(s)); }
  void send(const Bytes& b) { target->receive(b); }
  std::vector<std::string> take() { return std::exchange(out, {}); }
};

// Every reply that is not raw data: the shape every host parses.
void check_shape(const std::vector<std::string>& docs) {
  for (const auto& d : docs) {
    CHECK(d.size() < 512);
    CHECK(d.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<", 0) == 0);
    CHECK(d.find('\r') == std::string::npos);
    CHECK(d.substr(d.size() - 8) == "\n</data>");
  }
}

Bytes pattern(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 13 + (i >> 8));
  return b;
}

}  // namespace

TEST_CASE("the writer: value first, escaped, no indentation, cut to under 512 bytes") {
  CHECK(document("response", {{"value", "ACK"}, {"rawmode", "true"}}) == kAckRawTrue);
  CHECK(log_document("a<b & \"c\"\r\n") == log_doc("a&lt;b &amp; &quot;c&quot;??"));
  std::string longest = log_document(std::string(2000, '&'));
  CHECK(longest.size() <= kMaxDocument);
  CHECK(longest.substr(longest.size() - 17) == "&amp;\" />\n</data>");  // no entity cut in half
}

TEST_CASE("start: logs right away, each its own transfer (QFirehose drains logs first)") {
  Host h;
  h.target->start();
  CHECK(h.out == std::vector<std::string>{log_doc("INFO: modemu Firehose programmer, TargetName 9x07, MemoryName nand"),
                                          log_doc("INFO: ready for configure")});
  CHECK(h.target->state() == Target::State::kXml);
}

TEST_CASE("QFirehose's configure: 1 MiB refused with the supported size, configured again with it") {
  Host h;
  h.send("<?xml version=\"1.0\" ?><data><configure MemoryName=\"nand\" Verbose=\"0\" AlwaysValidate=\"0\" "
         "MaxDigestTableSizeInBytes=\"2048\" MaxPayloadSizeToTargetInBytes=\"1048576\" ZlpAwareHost=\"0\" "
         "SkipStorageInit=\"0\" /></data>");
  // The log goes first, as its own transfer (qdl parses one document per transfer; edl
  // accumulates reads up to the response and sees both).
  CHECK(h.take() ==
        std::vector<std::string>{
            log_doc("NAK: MaxPayloadSizeToTargetInBytes sent by host 1048576 larger than supported 16384"),
            doc("<response value=\"NAK\" MemoryName=\"nand\" MaxPayloadSizeFromTargetInBytes=\"4096\" "
                "MaxPayloadSizeToTargetInBytes=\"16384\" MaxPayloadSizeToTargetInBytesSupported=\"16384\" "
                "MaxXMLSizeInBytes=\"4096\" TargetName=\"9x07\" Version=\"1\" />")});
  CHECK(h.events.back() == "configure: NAK, MaxPayloadSizeToTargetInBytes 1048576 > 16384");
  h.send(cmd("<configure MemoryName=\"nand\" MaxPayloadSizeToTargetInBytes=\"16384\" ZlpAwareHost=\"0\" SkipStorageInit=\"0\" />"));
  auto replies = h.take();
  check_shape(replies);
  CHECK(replies == std::vector<std::string>{
                       log_doc("INFO: configure MemoryName nand MaxPayloadSizeToTargetInBytes 16384"),
                       doc("<response value=\"ACK\" MemoryName=\"nand\" MaxPayloadSizeFromTargetInBytes=\"4096\" "
                           "MaxPayloadSizeToTargetInBytes=\"16384\" MaxPayloadSizeToTargetInBytesSupported=\"16384\" "
                           "MaxXMLSizeInBytes=\"4096\" TargetName=\"9x07\" Version=\"1\" />")});
  CHECK(h.target->agreed_payload() == 16384);
  // QFirehose on NAND asks 8192: agreed as asked, the supported size beside it.
  h.send(cmd("<configure MemoryName=\"NAND\" MaxPayloadSizeToTargetInBytes=\"8192\" />"));
  CHECK(h.take().back().find("MaxPayloadSizeToTargetInBytes=\"8192\" MaxPayloadSizeToTargetInBytesSupported=\"16384\"") !=
        std::string::npos);
  CHECK(h.target->agreed_payload() == 8192);
}

TEST_CASE("libqmi's configure: MaxPayloadSizeToTargetInBytes=\"0\" gets the supported size; another MemoryName a NAK that still carries it") {
  Host h;
  const std::string header = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n";
  const std::string trailer = "\n</data>\n\n";  // libqmi's trailer
  h.send(header + "<NOP value=\"ping\" />" + trailer);
  CHECK(h.take() == std::vector<std::string>{kAck});
  h.send(header + "<configure MemoryName=\"NAND\" MaxPayloadSizeToTargetInBytes=\"0\" ZlpAwareHost=\"0\" />" + trailer);
  auto replies = h.take();
  REQUIRE(replies.size() == 2);
  CHECK(replies[1] == doc("<response value=\"ACK\" MemoryName=\"nand\" MaxPayloadSizeFromTargetInBytes=\"4096\" "
                          "MaxPayloadSizeToTargetInBytes=\"16384\" MaxPayloadSizeToTargetInBytesSupported=\"16384\" "
                          "MaxXMLSizeInBytes=\"4096\" TargetName=\"9x07\" Version=\"1\" />"));
  CHECK(replies[1].find("rawmode") == std::string::npos);
  // libqmi names eMMC whatever the module: the NAK carries the size libqmi reads from it.
  h.send(header + "<configure MemoryName=\"eMMC\" MaxPayloadSizeToTargetInBytes=\"0\" TargetName=\"8960\" />" + trailer);
  replies = h.take();
  CHECK(replies == std::vector<std::string>{
                       log_doc("ERROR: MemoryName eMMC does not match the storage of this target (nand)"),
                       doc("<response value=\"NAK\" MemoryName=\"nand\" MaxPayloadSizeFromTargetInBytes=\"4096\" "
                           "MaxPayloadSizeToTargetInBytes=\"16384\" MaxPayloadSizeToTargetInBytesSupported=\"16384\" "
                           "MaxXMLSizeInBytes=\"4096\" TargetName=\"9x07\" Version=\"1\" />")});
}

TEST_CASE("program: ACK rawmode true, data in odd chunks written as it arrives, ACK rawmode false") {
  Host h;
  h.send(cmd("<program SECTOR_SIZE_IN_BYTES=\"2048\" num_partition_sectors=\"3\" physical_partition_number=\"0\" "
             "start_sector=\"128\" filename=\"mdm9607-boot.img\" PAGES_PER_BLOCK=\"64\" />"));
  CHECK(h.take() == std::vector<std::string>{kAckRawTrue});
  CHECK(h.target->state() == Target::State::kProgramData);
  Bytes data = pattern(3 * 2048, 0x41);
  const std::size_t cuts[] = {1, 7, 1000, 4000, 1136};
  std::size_t at = 0, pieces = 0;
  for (std::size_t n : cuts) {
    h.send(Bytes(data.begin() + static_cast<std::ptrdiff_t>(at), data.begin() + static_cast<std::ptrdiff_t>(at + n)));
    at += n;
    // Each piece is on the flash before the next arrives: a power cut keeps exactly this much.
    CHECK(std::equal(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(at), h.flash.data.begin() + 128 * 2048));
    CHECK(h.flash.writes.size() == ++pieces);
    if (at < data.size()) CHECK(h.out.empty());
  }
  REQUIRE(at == data.size());
  CHECK(h.take() == std::vector<std::string>{kAckRawFalse});
  CHECK(h.flash.writes.size() == 5);
  CHECK(h.progress.back() == std::pair<std::uint64_t, std::uint64_t>{6144, 6144});
  CHECK(h.progress.size() == 5);
  CHECK(h.events.back() == "program start_sector 128 x 3 sectors of 2048: ACK");
  CHECK(h.target->state() == Target::State::kXml);
}

TEST_CASE("qdl's program: '</data>\\n' split at a packet boundary, 512-byte packets, zero-length packets") {
  Host h;
  // qdl writes "<?xml ...?>\n<data><program .../></data>\n" in 512-byte pieces: the newline can
  // arrive alone. It belongs to the document, not to the data.
  std::string text = "<?xml version=\"1.0\"?>\n<data><program PAGES_PER_BLOCK=\"64\" SECTOR_SIZE_IN_BYTES=\"2048\" "
                     "filename=\"sbl1.mbn\" last_sector=\"191\" num_partition_sectors=\"2\" physical_partition_number=\"0\" "
                     "start_sector=\"0\"/></data>";
  h.send(text);
  CHECK(h.take() == std::vector<std::string>{kAckRawTrue});
  h.send(std::string_view("\n"));
  Bytes data = pattern(4096, 0x0a);  // starts with a newline byte itself
  for (std::size_t at = 0; at < data.size(); at += 512) {
    h.send(Bytes(data.begin() + static_cast<std::ptrdiff_t>(at), data.begin() + static_cast<std::ptrdiff_t>(at + 512)));
    h.send(Bytes{});
  }
  CHECK(h.take() == std::vector<std::string>{kAckRawFalse});
  CHECK(std::equal(data.begin(), data.end(), h.flash.data.begin()));
}

TEST_CASE("zero sectors: a raw phase of no bytes, both replies at once") {
  Host h;
  h.send(cmd("<program SECTOR_SIZE_IN_BYTES=\"2048\" num_partition_sectors=\"0\" physical_partition_number=\"0\" start_sector=\"64\" />"));
  CHECK(h.take() == std::vector<std::string>{kAckRawTrue, kAckRawFalse});
  CHECK(h.flash.writes.empty());
  CHECK(h.target->state() == Target::State::kXml);
}

TEST_CASE("a p2K_b128K package on a p4K_b256K part: start_sector unaligned, checked before the ACK") {
  Host h({}, 4096, 64, 4u << 20);
  // Block 1 of a 128 KiB-block part is in the middle of a 256 KiB block here.
  h.send(cmd("<program SECTOR_SIZE_IN_BYTES=\"2048\" num_partition_sectors=\"64\" physical_partition_number=\"0\" start_sector=\"64\" />"));
  CHECK(h.take() == std::vector<std::string>{"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<log value=\"start_sector unaligned\" />\n</data>",
                                             kNak});
  CHECK(h.events.back() == "program start_sector 64 x 64 sectors of 2048: NAK, start_sector unaligned");
  CHECK(h.target->state() == Target::State::kXml);
  // Aligned, but the sector size is not this part's page size.
  h.send(cmd("<program SECTOR_SIZE_IN_BYTES=\"2048\" num_partition_sectors=\"64\" physical_partition_number=\"0\" start_sector=\"128\" />"));
  CHECK(h.take() == std::vector<std::string>{log_doc("SECTOR_SIZE_IN_BYTES 2048 does not match the nand page size 4096"), kNak});
  h.send(cmd("<program SECTOR_SIZE_IN_BYTES=\"4096\" num_partition_sectors=\"64\" physical_partition_number=\"0\" start_sector=\"1024\" />"));
  CHECK(h.take() == std::vector<std::string>{log_doc("start_sector 1024 + 64 sectors is beyond the end of nand (1024 sectors)"), kNak});
  h.send(cmd("<program SECTOR_SIZE_IN_BYTES=\"4096\" num_partition_sectors=\"1\" physical_partition_number=\"1\" start_sector=\"0\" />"));
  CHECK(h.take() == std::vector<std::string>{log_doc("physical_partition_number 1 does not exist (nand has only 0)"), kNak});
  // libqmi's Sierra .cwe download
  h.send(cmd("<program PAGES_PER_BLOCK=\"64\" SECTOR_SIZE_IN_BYTES=\"4096\" filename=\"spkg.cwe\" num_partition_sectors=\"10\" "
             "physical_partition_number=\"0\" start_sector=\"-1\" />"));
  CHECK(h.take() == std::vector<std::string>{log_doc("start_sector -1 (placement by the programmer) is not supported"), kNak});
  // Nothing was taken for raw data: the host is still in step.
  h.send(cmd("<nop />"));
  CHECK(h.take() == std::vector<std::string>{kAck});
  CHECK(h.flash.writes.empty());
}

TEST_CASE("read: ACK rawmode true, max_payload_from_target chunks, ACK rawmode false (edl)") {
  Host h;
  Bytes content = pattern(3 * 2048, 7);
  std::copy(content.begin(), content.end(), h.flash.data.begin() + 2048);
  h.send(cmd("<read SECTOR_SIZE_IN_BYTES=\"2048\" num_partition_sectors=\"3\" physical_partition_number=\"0\" start_sector=\"1\"/>"));
  auto replies = h.take();
  REQUIRE(replies.size() == 4);
  CHECK(replies[0] == kAckRawTrue);
  CHECK(replies[1] == std::string(content.begin(), content.begin() + 4096));
  CHECK(replies[2] == std::string(content.begin() + 4096, content.end()));
  CHECK(replies[3] == kAckRawFalse);
  CHECK(h.events.back() == "read start_sector 1 x 3 sectors of 2048: ACK");
  // A failing read still delivers the promised bytes, then says so.
  h.flash.fail_read = true;
  h.send(cmd("<read SECTOR_SIZE_IN_BYTES=\"2048\" num_partition_sectors=\"1\" physical_partition_number=\"0\" start_sector=\"0\"/>"));
  CHECK(h.take() == std::vector<std::string>{kAckRawTrue, std::string(2048, '\xff'),
                                             log_doc("ERROR: read at byte 0 failed: ECC error"), kNakRawFalse});
}

TEST_CASE("erase: blocks, aligned; a whole partition number erases the device") {
  Host h;
  std::fill(h.flash.data.begin(), h.flash.data.end(), 0);
  // qdl's NAND erase: no physical_partition_number
  h.send(cmd("<erase PAGES_PER_BLOCK=\"64\" SECTOR_SIZE_IN_BYTES=\"2048\" num_partition_sectors=\"100\" start_sector=\"64\" />"));
  CHECK(h.take() == std::vector<std::string>{kAck});
  // 100 sectors are rounded up to two whole 64-page blocks
  CHECK(h.flash.erases == std::vector<std::pair<std::uint64_t, std::uint64_t>>{{64 * 2048, 128 * 2048}});
  CHECK(h.flash.data[64 * 2048 - 1] == 0);
  CHECK(h.flash.data[64 * 2048] == 0xff);
  CHECK(h.flash.data[192 * 2048 - 1] == 0xff);
  CHECK(h.flash.data[192 * 2048] == 0);
  CHECK(h.events.back() == "erase start_sector 64 x 100 sectors of 2048: ACK");
  h.send(cmd("<erase SECTOR_SIZE_IN_BYTES=\"2048\" num_partition_sectors=\"1\" start_sector=\"3\" />"));
  CHECK(h.take() == std::vector<std::string>{log_doc("start_sector unaligned"), kNak});
  h.send(cmd("<erase physical_partition_number=\"0\" />"));
  CHECK(h.take() == std::vector<std::string>{kAck});
  CHECK(h.flash.erases.back() == std::pair<std::uint64_t, std::uint64_t>{0, 1u << 20});
  h.send(cmd("<erase physical_partition_number=\"2\" />"));
  CHECK(h.take().back() == kNak);
}

TEST_CASE("patch DISK: hex and NUM_DISK_SECTORS values written little-endian by read-modify-write") {
  Host h;  // 1 MiB of 2048-byte sectors: NUM_DISK_SECTORS 512
  h.send(cmd("<patch SECTOR_SIZE_IN_BYTES=\"2048\" byte_offset=\"16\" filename=\"DISK\" physical_partition_number=\"0\" "
             "size_in_bytes=\"4\" start_sector=\"2\" value=\"0x12345678\" what=\"test\" />"));
  CHECK(h.take() == std::vector<std::string>{kAck});
  CHECK(h.flash.data[2 * 2048 + 15] == 0xff);
  CHECK(h.flash.data[2 * 2048 + 16] == 0x78);
  CHECK(h.flash.data[2 * 2048 + 19] == 0x12);
  CHECK(h.flash.data[2 * 2048 + 20] == 0xff);
  CHECK(h.flash.writes.back() == std::pair<std::uint64_t, std::size_t>{2 * 2048, 2048});  // the whole sector
  h.send(cmd("<patch SECTOR_SIZE_IN_BYTES=\"2048\" byte_offset=\"32\" filename=\"DISK\" physical_partition_number=\"0\" "
             "size_in_bytes=\"8\" start_sector=\"NUM_DISK_SECTORS-1.\" value=\"NUM_DISK_SECTORS-34.\" />"));
  CHECK(h.take() == std::vector<std::string>{kAck});
  CHECK(h.flash.data[511 * 2048 + 32] == 478 % 256);
  CHECK(h.flash.data[511 * 2048 + 33] == 478 / 256);
  CHECK(h.flash.data[511 * 2048 + 34] == 0);
  CHECK(h.events.back() == "patch DISK start_sector 511 byte_offset 32 size_in_bytes 8 value 0x1de: ACK");
  // CRC32(sector, bytes) over what is on the flash now (zlib's CRC-32: "123456789" -> cbf43926)
  std::string digits = "123456789";
  std::copy(digits.begin(), digits.end(), h.flash.data.begin() + 4 * 2048);
  h.send(cmd("<patch SECTOR_SIZE_IN_BYTES=\"2048\" byte_offset=\"0\" filename=\"DISK\" physical_partition_number=\"0\" "
             "size_in_bytes=\"4\" start_sector=\"5\" value=\"CRC32(4,9)\" />"));
  CHECK(h.take() == std::vector<std::string>{kAck});
  CHECK(h.flash.data[5 * 2048] == 0x26);
  CHECK(h.flash.data[5 * 2048 + 3] == 0xcb);
  // Patches for files are the host's business.
  h.send(cmd("<patch SECTOR_SIZE_IN_BYTES=\"2048\" byte_offset=\"0\" filename=\"gpt_main0.bin\" physical_partition_number=\"0\" "
             "size_in_bytes=\"4\" start_sector=\"0\" value=\"1\" />"));
  CHECK(h.take() == std::vector<std::string>{log_doc("INFO: patch for file gpt_main0.bin ignored (not DISK)"), kAck});
  h.send(cmd("<patch SECTOR_SIZE_IN_BYTES=\"2048\" byte_offset=\"0\" filename=\"DISK\" physical_partition_number=\"0\" "
             "size_in_bytes=\"4\" start_sector=\"512\" value=\"1\" />"));
  CHECK(h.take() == std::vector<std::string>{log_doc("patch beyond the end of nand"), kNak});
}

TEST_CASE("getstorageinfo / getStorageInfo: the lines edl and libqmi read, then ACK") {
  TargetConfig c;
  c.serial_num = 305419896;
  Host h(c);
  const std::vector<std::string> expected{
      log_doc("SECTOR_SIZE_IN_BYTES=2048"),
      log_doc("num_partition_sectors=512"),
      log_doc("total_sector_size_in_bytes=2048"),
      log_doc("pages_in_block=64"),
      log_doc("num_physical_partitions=1"),
      log_doc("INFO: {&quot;storage_info&quot;: {&quot;total_blocks&quot;:8, &quot;block_size&quot;:131072, "
              "&quot;page_size&quot;:2048, &quot;num_physical&quot;:1, &quot;manufacturer_id&quot;:44, "
              "&quot;serial_num&quot;:305419896, &quot;fw_version&quot;:&quot;1&quot;,&quot;mem_type&quot;:&quot;NAND&quot;,"
              "&quot;prod_name&quot;:&quot;MODEMU-NAND&quot;}}"),
      kAck};
  h.send(cmd("<getstorageinfo physical_partition_number=\"0\"/>"));
  auto replies = h.take();
  check_shape(replies);
  CHECK(replies == expected);
  h.send("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<getStorageInfo physical_partition_number=\"0\" />\n</data>\n\n");
  CHECK(h.take() == expected);
  CHECK(h.events.back() == "getStorageInfo: ACK");
}

TEST_CASE("nop and NOP, setbootablestoragedrive on NAND and eMMC, unknown commands") {
  Host h;
  h.send(cmd("<nop />"));
  h.send(cmd("<NOP value=\"ping\" />"));
  CHECK(h.take() == std::vector<std::string>{kAck, kAck});
  h.send(cmd("<setbootablestoragedrive value=\"0\" />"));
  CHECK(h.take() == std::vector<std::string>{log_doc("ERROR: setbootablestoragedrive is not supported on NAND"), kNak});
  TargetConfig emmc;
  emmc.memory_name = "emmc";
  Host e(emmc, 512, 1, 1u << 20);
  e.send(cmd("<setbootablestoragedrive value=\"1\" />"));
  CHECK(e.take() == std::vector<std::string>{kAck});
  h.send(cmd("<peek address64=\"0\" SizeInBytes=\"4\" />"));
  CHECK(h.take() == std::vector<std::string>{log_doc("ERROR: unsupported command peek"), kNak});
  CHECK(h.events.back() == "unsupported command peek: NAK");
}

TEST_CASE("power reset: the hook runs after the ACK went out; nothing is read after it") {
  Host h;
  h.send("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<power DelayInSeconds=\"2\" value=\"reset\" />\n</data>\n\n");
  CHECK(h.out == std::vector<std::string>{kAck});
  CHECK(h.power_action == "reset");
  CHECK(h.power_delay == 2);
  CHECK(h.out_at_power == 1);
  CHECK(h.target->state() == Target::State::kAfterPower);
  h.send(cmd("<nop />"));
  CHECK(h.out.size() == 1);
  Host off;
  off.send(cmd("<power value=\"off\" />"));
  CHECK(off.power_action == "off");
  Host edl;
  edl.send(cmd("<power value=\"reset_to_edl\" />"));
  CHECK(edl.take() == std::vector<std::string>{log_doc("ERROR: power value reset_to_edl is not supported (reset, off)"), kNak});
  CHECK(edl.power_action.empty());
  CHECK(edl.target->state() == Target::State::kXml);
}

TEST_CASE("documents split across transfers, and two documents in one transfer") {
  Host h;
  std::string text = cmd("<nop />");
  for (char ch : text) {
    CHECK(h.out.empty());
    h.send(std::string_view(&ch, 1));
  }
  CHECK(h.take() == std::vector<std::string>{kAck});
  h.send(cmd("<nop />") + "\n" + cmd("<getstorageinfo />").substr(0, 30));
  CHECK(h.take() == std::vector<std::string>{kAck});
  h.send(cmd("<getstorageinfo />").substr(30) + cmd("<NOP />"));
  auto replies = h.take();
  REQUIRE(replies.size() == 8);
  CHECK(replies[6] == kAck);
  CHECK(replies[7] == kAck);
  // The end tag itself split: "</da" + "ta>"
  h.send(std::string_view("<?xml version=\"1.0\" ?><data><nop /></da"));
  CHECK(h.out.empty());
  h.send(std::string_view("ta>"));
  CHECK(h.take() == std::vector<std::string>{kAck});
}

TEST_CASE("malformed XML is a log and a NAK; the next document is served") {
  Host h;
  h.send(std::string_view("<?xml version=\"1.0\" ?><data><program start_sector=\"0 /></data>"));
  auto replies = h.take();
  REQUIRE(replies.size() == 2);
  CHECK(replies[0].rfind("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<log value=\"ERROR: XML not formed correctly (", 0) == 0);
  CHECK(replies[1] == kNak);
  h.send(std::string_view("<?xml version=\"1.0\" ?><configure /></data>"));
  CHECK(h.take().back() == kNak);
  h.send(std::string_view("<?xml version=\"1.0\" ?><data></data>"));
  CHECK(h.take() == std::vector<std::string>{log_doc("ERROR: no command inside &lt;data&gt;"), kNak});
  h.send(std::string_view("<?xml version=\"1.0\" ?><dta><nop/></dta><data>x</data>"));
  CHECK(h.take().back() == kNak);
  // Junk before a declaration (a stray byte) is dropped without a reply of its own.
  h.send(std::string_view("\x01\x02garbage"));
  h.send(cmd("<nop />"));
  CHECK(h.take() == std::vector<std::string>{kAck});
  h.send(cmd("<nop />"));
  CHECK(h.take() == std::vector<std::string>{kAck});
}

TEST_CASE("an overlong document: one NAK, its rest dropped, the next document served") {
  Host h;
  h.send(std::string_view("<?xml version=\"1.0\" ?><data><nop value=\""));
  std::string filler(5000, 'a');
  for (int i = 0; i < 5; ++i) h.send(filler);
  CHECK(h.take() == std::vector<std::string>{log_doc("ERROR: XML too long (more than 16384 bytes without &lt;/data&gt;)"), kNak});
  h.send(filler);
  h.send(std::string_view("\" /></data>"));
  CHECK(h.out.empty());  // the rest of the overlong one: dropped, no second NAK
  h.send(cmd("<nop />"));
  CHECK(h.take() == std::vector<std::string>{kAck});
  // A declaration after the junk starts a document again.
  h.send(std::string(20000, 'b'));
  CHECK(h.take() == std::vector<std::string>{log_doc("ERROR: XML too long (more than 16384 bytes without &lt;/data&gt;)"), kNak});
  h.send(cmd("<nop />"));
  CHECK(h.take() == std::vector<std::string>{kAck});
  // Junk and a whole document in one piece: the document is found before the junk overflows.
  h.send(std::string(20000, 'c') + cmd("<nop />"));
  CHECK(h.take() == std::vector<std::string>{kAck});
}

TEST_CASE("storage write failure mid-stream: the rest is consumed, then NAK rawmode false with the reason") {
  Host h;
  h.flash.fail_write_after = 2;
  h.send(cmd("<program SECTOR_SIZE_IN_BYTES=\"2048\" num_partition_sectors=\"4\" physical_partition_number=\"0\" start_sector=\"64\" />"));
  CHECK(h.take() == std::vector<std::string>{kAckRawTrue});
  Bytes data = pattern(4 * 2048, 3);
  for (std::size_t at = 0; at < data.size(); at += 2048) {
    h.send(Bytes(data.begin() + static_cast<std::ptrdiff_t>(at), data.begin() + static_cast<std::ptrdiff_t>(at + 2048)));
  }
  CHECK(h.take() == std::vector<std::string>{log_doc("ERROR: write at byte 135168 failed: power lost"), kNakRawFalse});
  CHECK(h.flash.writes.size() == 2);
  CHECK(std::equal(data.begin(), data.begin() + 4096, h.flash.data.begin() + 64 * 2048));
  CHECK(h.flash.data[66 * 2048] == 0xff);
  CHECK(h.events.back() == "program start_sector 64 x 4 sectors of 2048: NAK, write at byte 135168 failed: power lost");
  // In step: the next command is read as a command.
  h.send(cmd("<nop />"));
  CHECK(h.take() == std::vector<std::string>{kAck});
}

TEST_CASE("qdl --storage nand, as its 2022-07 binary drives a flash: every step answered, SBL last") {
  Host h;
  h.target->start();
  h.take();
  auto send = [&](std::string_view element) {
    h.send("<?xml version=\"1.0\"?>\n<data>" + std::string(element) + "</data>\n");
    auto replies = h.take();
    check_shape(replies);
    return replies;
  };
  auto replies = send("<configure MemoryName=\"nand\" MaxPayloadSizeToTargetInBytes=\"1048576\" verbose=\"0\" "
                      "ZLPAwareHost=\"1\" SkipStorageInit=\"0\"/>");
  REQUIRE(replies.size() == 2);
  CHECK(replies[1].find("<response value=\"NAK\" ") != std::string::npos);
  CHECK(replies[1].find(" MaxPayloadSizeToTargetInBytes=\"16384\" ") != std::string::npos);
  replies = send("<configure MemoryName=\"nand\" MaxPayloadSizeToTargetInBytes=\"16384\" verbose=\"0\" "
                 "ZLPAwareHost=\"1\" SkipStorageInit=\"0\"/>");
  REQUIRE(replies.size() == 2);
  CHECK(replies[1].find("<response value=\"ACK\" ") != std::string::npos);
  CHECK(replies[1].find(" MaxPayloadSizeToTargetInBytesSupported=\"16384\" ") != std::string::npos);
  CHECK(send("<erase PAGES_PER_BLOCK=\"64\" SECTOR_SIZE_IN_BYTES=\"2048\" num_partition_sectors=\"64\" start_sector=\"0\"/>") ==
        std::vector<std::string>{kAck});
  CHECK(h.flash.data[0] == 0xff);
  Bytes boot = pattern(5 * 2048, 0x55), sbl = pattern(2048, 0x99);
  CHECK(send("<program PAGES_PER_BLOCK=\"64\" SECTOR_SIZE_IN_BYTES=\"2048\" filename=\"mdm9607-boot.img\" "
             "last_sector=\"191\" num_partition_sectors=\"5\" physical_partition_number=\"0\" start_sector=\"128\"/>") ==
        std::vector<std::string>{kAckRawTrue});
  h.send(boot);
  CHECK(h.take() == std::vector<std::string>{kAckRawFalse});
  CHECK(send("<program PAGES_PER_BLOCK=\"64\" SECTOR_SIZE_IN_BYTES=\"2048\" filename=\"sbl1.mbn\" last_sector=\"63\" "
             "num_partition_sectors=\"1\" physical_partition_number=\"0\" start_sector=\"0\"/>") ==
        std::vector<std::string>{kAckRawTrue});
  h.send(sbl);
  CHECK(h.take() == std::vector<std::string>{kAckRawFalse});
  CHECK(send("<patch SECTOR_SIZE_IN_BYTES=\"2048\" byte_offset=\"0\" filename=\"DISK\" physical_partition_number=\"0\" "
             "size_in_bytes=\"1\" start_sector=\"10\" value=\"7\"/>") == std::vector<std::string>{kAck});
  // qdl only prints this result (qdl report): on NAND it is refused.
  CHECK(send("<setbootablestoragedrive value=\"0\"/>").back() == kNak);
  CHECK(send("<power value=\"reset\"/>") == std::vector<std::string>{kAck});
  CHECK(std::equal(boot.begin(), boot.end(), h.flash.data.begin() + 128 * 2048));
  CHECK(std::equal(sbl.begin(), sbl.end(), h.flash.data.begin()));
  CHECK(h.flash.data[10 * 2048] == 7);
  CHECK(h.power_action == "reset");
  CHECK(h.events == std::vector<std::string>{
                        "configure: NAK, MaxPayloadSizeToTargetInBytes 1048576 > 16384",
                        "configure MemoryName nand MaxPayloadSizeToTargetInBytes 16384: ACK",
                        "erase start_sector 0 x 64 sectors of 2048: ACK",
                        "program start_sector 128 x 5 sectors of 2048: ACK",
                        "program start_sector 0 x 1 sectors of 2048: ACK",
                        "patch DISK start_sector 10 byte_offset 0 size_in_bytes 1 value 0x7: ACK",
                        "setbootablestoragedrive: NAK, not supported on NAND",
                        "power reset DelayInSeconds 0: ACK",
                    });
}

TEST_CASE("libqmi's EM7565 download: a whole image to start_sector -1, placed by the storage") {
  Host h(TargetConfig{}, 4096, 64, 8u << 20);
  SUBCASE("a storage that places images takes it, then the zero block and a retried reset") {
    h.flash.placing = true;
    h.send(cmd("<program SECTOR_SIZE_IN_BYTES=\"4096\" num_partition_sectors=\"3\" physical_partition_number=\"0\" "
               "start_sector=\"-1\" filename=\"\" PAGES_PER_BLOCK=\"64\" />"));
    CHECK(h.take() == std::vector<std::string>{kAckRawTrue});
    Bytes image = pattern(3 * 4096, 7);
    h.send(Bytes(image.begin(), image.begin() + 5000));
    h.send(Bytes(image.begin() + 5000, image.end()));
    CHECK(h.take() == std::vector<std::string>{kAckRawFalse});
    CHECK(h.flash.placed == image);
    CHECK(h.flash.placed_length == image.size());
    CHECK(h.flash.installed == 1);
    CHECK(h.flash.writes.empty());
    CHECK(h.events.back() == "program start_sector -1 x 3 sectors of 4096: ACK");
  }
  SUBCASE("an image the storage refuses: NAK rawmode false with its reason") {
    h.flash.placing = true;
    h.flash.refuse_placed = "CWE product 9X30 is not this module's 9X50";
    h.send(cmd("<program SECTOR_SIZE_IN_BYTES=\"4096\" num_partition_sectors=\"1\" start_sector=\"-1\" />"));
    CHECK(h.take() == std::vector<std::string>{kAckRawTrue});
    h.send(pattern(4096, 1));
    auto out = h.take();
    REQUIRE(out.size() == 2);
    CHECK(out[0].find("CWE product 9X30") != std::string::npos);
    CHECK(out[1] == kNakRawFalse);
  }
  SUBCASE("a flash without placement: NAK before any data") {
    h.send(cmd("<program SECTOR_SIZE_IN_BYTES=\"4096\" num_partition_sectors=\"1\" start_sector=\"-1\" />"));
    auto out = h.take();
    REQUIRE(!out.empty());
    CHECK(out.back() == kNak);
    CHECK(h.events.back().find("not supported") != std::string::npos);
  }
}
