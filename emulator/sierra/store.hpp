#pragma once
// A Sierra module's firmware storage (sierra-qdl.md): the stored modem images and carrier (PRI)
// configurations, the firmware preference, the running pair, and whether a download was under
// way. It persists in the modem's state directory (sierra-firmware.txtpb, written new-then-
// renamed: a kill at any instant leaves the old or the new state) and decides what the next
// boot runs:
//   a download in progress            -> boot-and-hold (the interrupted update of seed 000)
//   the preference names a missing image -> the application in low-power mode (F9)
//   otherwise                         -> the preferred pair runs.
// The download targets (QDL, the EM7565's Firehose) write images into it as a FirmwareSink.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "emulator/sierra/firmware_sink.hpp"
#include "modemu/profile/profile.pb.h"
#include "protocols/common/bytes.hpp"
#include "protocols/qdl/qdl.hpp"

namespace modemu::emulator::sierra {

// DMS firmware image types (qmi.md).
enum ImageType : std::uint8_t { kModemImage = 0, kPriImage = 1 };

// The unique id of every modem image (the updater's wildcard form).
inline constexpr const char* kModemUniqueId = "?_?";

class Store final : public FirmwareSink {
 public:
  using Events = std::function<void(std::string kind, std::string message)>;

  // Loads `file` when it exists (throws std::runtime_error naming it when it cannot be parsed),
  // else starts from the factory state: `factory` (a catalogue entry of the profile) stored,
  // preferred and running. No file: nothing persists (unit tests).
  Store(const profile::Profile& profile, const profile::Firmware& factory, std::optional<std::filesystem::path> file,
        Events events = {});

  const profile::SierraFirmwareState& state() const { return state_; }
  // Images installed by downloads since this store was made (a reflash rewrites the image
  // information: faults on it end then).
  std::uint64_t installs() const { return installs_; }
  bool created() const { return created_; }  // started from the factory state
  // The factory state again, whatever downloads did: `factory` stored, preferred and running (a
  // scenario's declared starting point). Persisted.
  void reset_to_factory(const profile::Firmware& factory);

  const profile::SierraImage* find_modem(std::string_view build_id) const;
  const profile::SierraImage* find_pri(std::string_view unique_id, std::string_view build_id) const;
  // The image types the preference names that are not stored (empty: it can boot).
  std::vector<std::uint8_t> missing() const;

  // DMS Set Firmware Preference: returns the image types still to download, or nothing when the
  // request is malformed (`error` says why). Persisted.
  std::optional<std::vector<std::uint8_t>> set_preference(const profile::SierraImagePair& pref, std::string* error);

  // At power-on: makes the preferred pair the running one when both are stored. false: the
  // preference names a missing image (low-power mode), the running pair is unchanged.
  bool boot_preferred();

  // The running pair as the firmware catalogue entry the protocols report (DMS Get Revision,
  // AT+CGMR, DIAG build id, !IMPREF). Versions the catalogue lacks get an entry of their own.
  profile::Firmware running_firmware() const;
  profile::Firmware preferred_firmware() const;

  // Fault hooks (emulator/faults): replace the preference without checks (a preference naming
  // an image that is not there); restore what was there.
  void force_preference(const profile::SierraImagePair& pref, std::string_view cause);

  // --- FirmwareSink -----------------------------------------------------------------------
  std::optional<SinkError> begin(std::uint8_t image_type, std::uint64_t total) override;
  std::optional<SinkError> write(ByteView chunk) override;
  std::optional<SinkError> finish() override;

  // The largest image accepted (a download beyond it is refused at begin, out of space).
  static constexpr std::uint64_t kMaxImage = 512ull << 20;

 private:
  void save();
  void event(std::string kind, std::string message) const;
  profile::Firmware firmware_for(const profile::SierraImagePair& pair) const;
  std::optional<SinkError> install(protocols::ByteView bytes);
  bool make_room(std::uint32_t type, const std::vector<profile::SierraImage>& incoming);

  const profile::Profile& profile_;
  std::optional<std::filesystem::path> file_;
  Events events_;
  profile::SierraFirmwareState state_;
  bool created_ = false;
  std::uint64_t installs_ = 0;
  // The download in progress: its bytes in RAM until finish (the flag alone is persistent).
  bool receiving_ = false;
  std::uint64_t expected_ = 0;
  protocols::Bytes received_;
};

// "SWI9X30C_02.33.03.00" -> "02.33.03.00"; the text itself when it has no prefix.
std::string modem_version_of(std::string_view firmware_version);

}  // namespace modemu::emulator::sierra
