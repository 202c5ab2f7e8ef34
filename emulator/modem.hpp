#pragma once
// One emulated module: profile + model state + power/boot-mode state machine + the ports of its
// current USB composition (DESIGN.md "Core concepts").
//
// Threading: a Modem is single-threaded by contract; all calls and all its timers run on one
// executor (the modem's strand).
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/clock.hpp"
#include "emulator/event_log.hpp"
#include "emulator/port.hpp"
#include "modemu/profile/profile.pb.h"
#include "emulator/state_dir.hpp"

namespace modemu::emulator {

class AtCommandTable;
namespace firmware {
struct BootVerdict;
}
namespace faults {
class ActiveFault;
}
namespace sierra {
class Store;
}
class AtPort;
class QmiHandlerTable;

enum class PowerState {
  kPoweredOff,
  kBooting,          // off the bus: power-on or reset in progress
  kApplication,
  kQuectelDownload,  // Quectel download mode: Sahara + Firehose on one interface (download flag set)
  kEdl,              // emergency download, 05c6:9008: Sahara + Firehose
  kSierraBootHold,   // placeholder until the Sierra issue fills it in
  kDead,             // never enumerates
};
std::string_view to_string(PowerState s);

enum class PowerEvent { kPowerOn, kBootComplete, kReset, kPowerOff, kPowerCut, kDie };
std::string_view to_string(PowerEvent e);

// 3GPP TS 27.007 7.2 <stat>.
enum class RegStatus { kNotRegistered = 0, kHome = 1, kSearching = 2, kDenied = 3, kUnknown = 4, kRoaming = 5 };
std::string_view to_string(RegStatus s);

// What a model action says back; each protocol maps it to its own error (AT: +CME ERROR, QMI:
// a QMI error code).
enum class ActionResult {
  kOk,
  kNotAllowed,       // the state forbids it
  kBadParameter,
  kNoSim,            // SIM absent
  kSimPinRequired,
  kSimPukRequired,
  kSimFailure,
  kSimBusy,
  kWrongPassword,
  kNoService,        // not registered / radio off
  kNotFound,         // no such context, ...
  kNotSupported,
};

struct PdpContextState {
  std::uint32_t cid = 0;
  std::string pdp_type;
  std::string apn;
  bool active = false;
  std::string address;  // while active
};

struct ModemState {
  int functionality = 1;  // +CFUN: 0 minimum, 1 full, 4 radio off
  profile::Network network;           // the serving network now (the profile's, changed by faults)
  profile::SimState sim = profile::SIM_READY;
  RegStatus registration = RegStatus::kNotRegistered;
  profile::Signal signal;
  std::map<std::uint32_t, PdpContextState> contexts;
  std::uint32_t usbnet = 0;          // Quectel AT+QCFG="usbnet", effective at the next enumeration
  bool vendor_unlocked = false;      // Sierra AT!ENTERCND
  std::uint32_t boot_count = 0;
  bool ready = false;                // booted far enough to print RDY
  bool offline = false;              // QMI operating mode offline: left only by a reset
  bool sim_powered = true;           // UIM Power Off / On SIM
  // Sierra: the firmware preference names an image that is not stored, so the application runs
  // in low-power mode with the SIM and the radio off until a download completes (F9).
  bool firmware_low_power = false;
};

class DeviceObserver {
 public:
  virtual ~DeviceObserver() = default;
  // The modem enumerated with a composition: its ports are available.
  virtual void on_plug(class Modem& modem) = 0;
  // The modem left the bus: its ports are about to be destroyed.
  virtual void on_unplug(class Modem& modem) = 0;
};

struct ModemOptions {
  std::string id;                    // unique in a process: names the state directory and events
  profile::Profile profile;
  std::optional<std::filesystem::path> state_root;  // nothing persists when absent (unit tests)
  double time_scale = 1.0;           // multiplies every profile delay (tests shorten them)
  // The firmware a blank flash is factory-programmed with ("" = the profile's default). Once
  // the flash holds images, the running version is what the boot chain reads from them; profiles
  // without a flash model run this version directly.
  std::string firmware_version;
  // Power-cut control (edl-sahara-firehose.md; the scenario engine makes it a fault): cut the
  // power once Firehose has written this many bytes of program data in this process (0 = never),
  // and power on again after `power_restore` (nothing = stay off).
  std::uint64_t power_cut_after_program_bytes = 0;
  std::optional<Duration> power_restore = std::chrono::seconds(2);
  bool show_personal = false;        // print IMEI, IMSI, ICCID, ... in the event log
};

class Modem {
 public:
  Modem(ModemOptions options, Clock& clock, EventLog& log);
  ~Modem();
  Modem(const Modem&) = delete;
  Modem& operator=(const Modem&) = delete;

  const std::string& id() const { return options_.id; }
  const profile::Profile& profile() const { return options_.profile; }
  const profile::Firmware& firmware() const { return *firmware_; }
  PowerState power_state() const { return power_; }
  const ModemState& state() const { return state_; }
  Clock& clock() { return clock_; }
  bool show_personal() const { return options_.show_personal; }

  // The composition on the bus, or null while unplugged.
  const profile::UsbComposition* composition() const { return composition_; }
  const std::vector<std::unique_ptr<Port>>& ports() const { return ports_; }
  Port* port_by_node(std::string_view node_name) const;

  void add_observer(DeviceObserver* observer);
  void remove_observer(DeviceObserver* observer);

  // --- power -----------------------------------------------------------------------------
  void power_on(std::string_view cause = "power on");
  void power_off(std::string_view cause = "power off");
  // Leaves the bus now and enumerates again after the profile's reset delay.
  void reset(std::string_view cause);
  // For commands answered before they act (AT+CFUN=1,1): the host must read the OK first.
  // `next_mode`: a boot mode forced for the next boot only (the profile must have a composition
  // for it); unspecified: the boot chain decides from the flash.
  void reset_after_reply(std::string_view cause, profile::BootMode next_mode = profile::BOOT_MODE_UNSPECIFIED);
  void power_off_after_reply(std::string_view cause);
  // The supply fails now (no shutdown, nothing saved beyond what already reached the flash);
  // power returns after the options' power_restore. Safe to call from a port's handler: the
  // cut happens once the handler has returned.
  void power_cut(std::string_view cause);

  // --- flash (profiles with a flash model) -------------------------------------------------
  class Flash* flash() { return flash_.get(); }
  // The factory firmware (the options' version, else the profile's default) is programmed at
  // the next power-on, whatever the flash holds: a scenario's declared starting state. A blank
  // flash gets it anyway. A Sierra module's firmware storage is reset to that release now.
  void require_factory_flash();
  // Programs it now if it is due (power-on does this; a scenario does it before preparing the
  // flash state it declares).
  void program_factory_flash();
  // How many of `wanted` program bytes may still reach the flash before the power-cut control
  // cuts the power; counts them. Fewer than `wanted`: the cut has been triggered.
  std::size_t program_budget(std::size_t wanted);

  // --- Sierra firmware storage (profiles with `sierra`) --------------------------------------
  // The stored images, preference and running pair; the download targets write into it.
  sierra::Store* sierra_store() { return sierra_store_.get(); }
  const sierra::Store* sierra_store() const { return sierra_store_.get(); }
  // Set Firmware Preference left images to download: the next reset ends in boot-and-hold,
  // waiting for them (kept in RAM: a power cut forgets it).
  void request_download(bool pending) { download_requested_ = pending; }
  // A boot-and-hold reset (DMS Set Firmware ID, Set Boot Image Download Mode 1, AT!BOOTHOLD) is
  // on its way.
  bool boot_hold_pending() const { return boot_hold_pending_; }
  void reset_into_boot_hold(std::string_view cause);
  // The preferred pair as the catalogue would describe it (AT!IMPREF "preferred ...").
  profile::Firmware preferred_firmware() const;
  // Faults of the Sierra firmware information (F4: malformed stored-image information).
  struct SierraFaults {
    // DMS List Stored Images / Get Stored Image Info answer a carrier image with an empty
    // version field until a download installs an image (the store's installs() moves on).
    bool malformed_image_info = false;
    std::uint64_t malformed_at_installs = 0;
  };
  bool sierra_image_info_malformed() const;
  SierraFaults& sierra_faults() { return sierra_faults_; }

  // --- model actions used by the protocol services ---------------------------------------
  ActionResult set_functionality(int level);
  ActionResult enter_pin(std::string_view pin);
  ActionResult set_usbnet(std::uint32_t value);
  ActionResult define_context(std::uint32_t cid, std::string pdp_type, std::string apn);
  ActionResult undefine_context(std::uint32_t cid);
  ActionResult set_context_active(std::uint32_t cid, bool active);
  ActionResult unlock_vendor_commands(std::string_view password);
  // Registered on the home or a roaming network.
  bool registered() const;
  // Booted and at full functionality (+CFUN=1): the radio transmits.
  bool radio_on() const { return state_.ready && state_.functionality == 1; }
  // SIM state as a protocol reports it: the radio state matters (CFUN=0 powers the SIM down).
  ActionResult sim_access() const;
  // The card can be read (ICCID, PIN status) even while a PIN or PUK is still required.
  bool card_readable() const {
    ActionResult r = sim_access();
    return r == ActionResult::kOk || r == ActionResult::kSimPinRequired || r == ActionResult::kSimPukRequired;
  }

  // Offline (DMS operating mode 3): the radio is off and only a reset leaves it.
  bool offline() const { return state_.offline; }
  ActionResult set_offline();
  // UIM Power Off / On SIM: a powered-down card cannot be read until it is powered up.
  ActionResult set_sim_power(bool on);
  // PIN1 protection is on for this SIM (the profile's SIM starts PIN- or PUK-locked).
  bool pin_enabled() const;

  // The network the module sees now: the profile's, as faults change it (roaming, serving cell).
  const profile::Network& network() const { return state_.network; }

  // --- the levers faults pull (emulator/faults) --------------------------------------------
  // How long the power stays off after a cut (nothing: until powered on).
  void set_power_restore(std::optional<Duration> off_time) { options_.power_restore = off_time; }
  // Leaves the bus now and comes back after `downtime` (a firmware's USB reset loop).
  void reset_for(std::string_view cause, Duration downtime);
  // A dead module: off the bus and never enumerating until revived.
  void die(std::string_view cause);
  void revive(std::string_view cause);
  // A boot mode forced at every boot while set (stuck in boot, download or upgrade mode); the
  // module resets into it now. Nothing: the flash decides again (after the next reset).
  void force_boot_mode(std::optional<profile::BootMode> mode, std::string_view cause);
  // QMI requests are swallowed while USB stays up (F12: cdc-wdm timeouts).
  void set_qmi_silent(bool silent, std::string_view cause);
  bool qmi_silent() const { return qmi_silent_; }
  // The card as the module sees it (removed, error, busy / uninitialised, ...).
  void set_sim_state(profile::SimState state, std::string_view cause);
  // Registration the network imposes (denied, ...) while set; nothing: normal registration.
  void set_registration_override(std::optional<RegStatus> status, std::string_view cause);
  void set_roaming(bool roaming, std::string_view cause);
  void set_signal(const profile::Signal& signal, std::string_view cause);
  void set_serving_cell(const profile::Network& cell, std::string_view cause);
  // Faults of the download protocols, read by the EDL port.
  struct EdlFaults {
    bool sahara_desync = false;         // the bootloader answers HELLO_RESP with END_IMAGE_TX (F11)
    std::string firehose_nak;           // "unaligned" or "payload": the programmer refuses (F10)
    double cut_at_program_percent = -1; // power cut this far into a Firehose program (0..100)
    std::uint32_t cut_program_index = 1;// in the session's Nth program command
    double cut_at_sahara_percent = -1;  // power cut this far into the programmer's Sahara upload
    int qdl_sdp_reply = -1;             // Sierra QDL: this byte answers the DLOAD SDP probe (F9: 0x13)
    double cut_at_qdl_percent = -1;     // power cut this far into a QDL image (0..100)
    std::uint32_t cut_qdl_image_index = 1;  // the session's Nth image
  };
  EdlFaults& edl_faults() { return edl_faults_; }

  // An event of this modem.
  void event(std::string kind, std::string message, std::vector<std::pair<std::string, std::string>> fields = {});

  // --- packet data (emulator/data, issue 10) ------------------------------------------------
  // The data session's network: the faults acting on the data path (the scenario engine's
  // levers for it), the session's counters and the network behind the modem. Made on first use
  // (emulator/data/data_service.cpp); it outlives the ports, whose data paths attach to it.
  class DataService& data();

 private:
  std::shared_ptr<DataService> data_service_;  // the first member: destroyed after the ports
  Duration scaled(std::uint32_t ms) const;
  bool transition(PowerEvent event, PowerState to, std::string_view cause);
  void boot_complete();
  void plug(profile::BootMode mode);
  void unplug();
  void become_ready();
  void start_radio();
  void stop_radio();
  void set_registration(RegStatus status, std::string_view cause);
  void deactivate_all_contexts(std::string_view cause);
  void save_nv();
  std::vector<AtPort*> at_ports() const;
  void notify(ModelChange change);

  ModemOptions options_;
  Clock& clock_;
  EventLog& log_;
  const profile::Firmware* firmware_ = nullptr;
  profile::Firmware flashed_firmware_;  // a version read from the flash that the catalogue lacks
  std::unique_ptr<class Flash> flash_;
  std::uint64_t program_bytes_ = 0;
  bool power_cut_pending_ = false;
  bool factory_pending_ = false;
  bool qmi_silent_ = false;
  bool dead_ = false;
  std::optional<profile::BootMode> forced_mode_;
  std::optional<RegStatus> registration_override_;
  EdlFaults edl_faults_;
  // The running firmware's traits (faults the profile binds to its version), and that version.
  std::vector<std::unique_ptr<faults::ActiveFault>> trait_faults_;
  std::string traits_version_;
  void apply_traits();
  std::unique_ptr<StateDir> state_dir_;
  std::unique_ptr<AtCommandTable> at_commands_;
  std::unique_ptr<QmiHandlerTable> qmi_handlers_;
  PowerState power_ = PowerState::kPoweredOff;
  ModemState state_;
  const profile::UsbComposition* composition_ = nullptr;
  std::vector<std::unique_ptr<Port>> ports_;
  std::vector<DeviceObserver*> observers_;
  Timer boot_timer_;
  Timer ready_timer_;
  Timer radio_timer_;
  Timer action_timer_;
  Timer cut_timer_;
  Timer restore_timer_;
  // A mode forced for the next boot (DIAG's EDL switch); unspecified: the flash decides.
  profile::BootMode next_boot_mode_ = profile::BOOT_MODE_UNSPECIFIED;
  void provision_flash();
  void adopt_version(const firmware::BootVerdict& verdict);
  profile::BootMode boot_mode_from_flash();
  profile::BootMode boot_mode_from_sierra_store();
  std::unique_ptr<sierra::Store> sierra_store_;
  profile::Firmware sierra_firmware_;  // the running pair, as the protocols report it
  bool download_requested_ = false;
  bool boot_hold_pending_ = false;
  SierraFaults sierra_faults_;
};

}  // namespace modemu::emulator
