#include "emulator/modem.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "emulator/at/at_port.hpp"
#include "emulator/at/commands.hpp"
#include "emulator/data/session.hpp"
#include "emulator/profile.hpp"
#include "emulator/diag/diag_port.hpp"
#include "emulator/edl/edl_port.hpp"
#include "emulator/sierra/qdl_port.hpp"
#include "emulator/faults/faults.hpp"
#include "emulator/firmware/boot.hpp"
#include "emulator/flash/flash.hpp"
#include "emulator/qmi/qmi_function.hpp"
#include "emulator/sierra/store.hpp"

namespace modemu::emulator {

std::string_view to_string(PowerState s) {
  switch (s) {
    case PowerState::kPoweredOff: return "powered-off";
    case PowerState::kBooting: return "booting";
    case PowerState::kApplication: return "application";
    case PowerState::kQuectelDownload: return "quectel-download";
    case PowerState::kEdl: return "edl";
    case PowerState::kSierraBootHold: return "sierra-boot-hold";
    case PowerState::kDead: return "dead";
  }
  return "?";
}

std::string_view to_string(PowerEvent e) {
  switch (e) {
    case PowerEvent::kPowerOn: return "power-on";
    case PowerEvent::kBootComplete: return "boot-complete";
    case PowerEvent::kReset: return "reset";
    case PowerEvent::kPowerOff: return "power-off";
    case PowerEvent::kPowerCut: return "power-cut";
    case PowerEvent::kDie: return "die";
  }
  return "?";
}

std::string_view to_string(RegStatus s) {
  switch (s) {
    case RegStatus::kNotRegistered: return "not-registered";
    case RegStatus::kHome: return "home";
    case RegStatus::kSearching: return "searching";
    case RegStatus::kDenied: return "denied";
    case RegStatus::kUnknown: return "unknown";
    case RegStatus::kRoaming: return "roaming";
  }
  return "?";
}

namespace {

constexpr PowerState kAnyOnBus[] = {PowerState::kApplication, PowerState::kQuectelDownload, PowerState::kEdl,
                                    PowerState::kSierraBootHold};

// The power state machine: which event may move which state where. Anything not listed is
// refused (and logged), so no caller can drive the modem into an impossible state.
struct Transition {
  PowerState from;
  PowerEvent event;
  PowerState to;
};

std::vector<Transition> build_transitions() {
  std::vector<Transition> t;
  t.push_back({PowerState::kPoweredOff, PowerEvent::kPowerOn, PowerState::kBooting});
  for (PowerState mode : kAnyOnBus) {
    t.push_back({PowerState::kBooting, PowerEvent::kBootComplete, mode});
    t.push_back({mode, PowerEvent::kReset, PowerState::kBooting});
  }
  t.push_back({PowerState::kBooting, PowerEvent::kReset, PowerState::kBooting});
  for (PowerState s : {PowerState::kBooting, PowerState::kApplication, PowerState::kQuectelDownload, PowerState::kEdl,
                       PowerState::kSierraBootHold, PowerState::kDead}) {
    t.push_back({s, PowerEvent::kPowerOff, PowerState::kPoweredOff});
    t.push_back({s, PowerEvent::kPowerCut, PowerState::kPoweredOff});
  }
  for (PowerState s : {PowerState::kPoweredOff, PowerState::kBooting}) {
    t.push_back({s, PowerEvent::kDie, PowerState::kDead});
  }
  return t;
}

const std::vector<Transition>& transitions() {
  static const std::vector<Transition> table = build_transitions();
  return table;
}

PowerState state_for_mode(profile::BootMode mode) {
  switch (mode) {
    case profile::QUECTEL_DOWNLOAD: return PowerState::kQuectelDownload;
    case profile::EDL: return PowerState::kEdl;
    case profile::SIERRA_BOOT_HOLD: return PowerState::kSierraBootHold;
    default: return PowerState::kApplication;
  }
}

std::string hex4(std::uint32_t v) { return fmt::format("{:04x}", v); }

}  // namespace

Modem::Modem(ModemOptions options, Clock& clock, EventLog& log)
    : options_(std::move(options)), clock_(clock), log_(log), boot_timer_(clock), ready_timer_(clock),
      radio_timer_(clock), action_timer_(clock), cut_timer_(clock), restore_timer_(clock) {
  const auto& p = options_.profile;
  std::string version = options_.firmware_version.empty() ? p.firmware().default_version() : options_.firmware_version;
  firmware_ = find_firmware(p, version);
  if (firmware_ == nullptr) {
    std::string known;
    for (const auto& f : p.firmware().versions()) known += (known.empty() ? "" : ", ") + f.version();
    throw std::runtime_error(
        fmt::format("firmware \"{}\" is not in the catalogue of profile {} (known: {})", version, p.name(), known));
  }
  if (options_.state_root) state_dir_ = std::make_unique<StateDir>(*options_.state_root, options_.id);

  state_.sim = p.sim().state();
  state_.network = p.network();
  state_.signal = p.network().signal();
  for (const auto& c : p.data().default_contexts()) {
    state_.contexts[c.cid()] = PdpContextState{c.cid(), c.pdp_type(), c.apn(), false, {}};
  }
  if (state_dir_) {
    profile::NvState nv;
    if (state_dir_->load_nv(nv)) {
      state_.usbnet = nv.usbnet();
      if (nv.contexts_set()) {
        state_.contexts.clear();
        for (const auto& c : nv.contexts()) state_.contexts[c.cid()] = PdpContextState{c.cid(), c.pdp_type(), c.apn(), false, {}};
      }
    }
  }
  if (p.has_flash()) {
    std::optional<std::filesystem::path> file;
    if (state_dir_) file = state_dir_->path() / "flash.img";
    flash_ = std::make_unique<Flash>(p.flash(), file);
    if (flash_->created()) {
      factory_pending_ = true;  // programmed at the first power-on
    } else {
      auto verdict = firmware::read_boot_chain(p, *flash_);
      if (!options_.firmware_version.empty() && verdict.version != options_.firmware_version) {
        event("flash", fmt::format("the flash holds {}; --firmware {} programs only a blank flash (new --state-dir or --id)",
                                   verdict.version.empty() ? "no usable firmware" : verdict.version,
                                   options_.firmware_version));
      }
      adopt_version(verdict);
    }
  }
  if (p.has_sierra()) {
    std::optional<std::filesystem::path> file;
    if (state_dir_) file = state_dir_->path() / "sierra-firmware.txtpb";
    sierra_store_ = std::make_unique<sierra::Store>(p, *firmware_, file, [this](std::string kind, std::string message) {
      event(std::move(kind), std::move(message));
    });
    if (!sierra_store_->created() && !options_.firmware_version.empty() &&
        sierra::modem_version_of(options_.firmware_version) != sierra_store_->running_firmware().modem_version()) {
      event("flash", fmt::format("the module runs {}; --firmware {} sets up only a new module (new --state-dir or --id)",
                                 sierra_store_->running_firmware().version(), options_.firmware_version));
    }
    sierra_firmware_ = sierra_store_->running_firmware();
    firmware_ = &sierra_firmware_;
  }
  at_commands_ = std::make_unique<AtCommandTable>(build_at_commands(*this));
  qmi_handlers_ = std::make_unique<QmiHandlerTable>(build_qmi_handlers(*this));
}

Modem::~Modem() {
  // Leave the bus so transports drop their references to our ports.
  if (!ports_.empty()) unplug();
}

void Modem::event(std::string kind, std::string message, std::vector<std::pair<std::string, std::string>> fields) {
  log_.emit(options_.id, std::move(kind), std::move(message), std::move(fields));
}

Duration Modem::scaled(std::uint32_t ms) const {
  double ns = static_cast<double>(ms) * 1e6 * options_.time_scale;
  return Duration(static_cast<std::int64_t>(std::llround(ns)));
}

Port* Modem::port_by_node(std::string_view node_name) const {
  for (const auto& p : ports_) {
    if (p->info().node_name == node_name) return p.get();
  }
  return nullptr;
}

void Modem::add_observer(DeviceObserver* observer) { observers_.push_back(observer); }

void Modem::remove_observer(DeviceObserver* observer) {
  observers_.erase(std::remove(observers_.begin(), observers_.end(), observer), observers_.end());
}

bool Modem::transition(PowerEvent ev, PowerState to, std::string_view cause) {
  const auto& table = transitions();
  bool allowed = std::any_of(table.begin(), table.end(),
                             [&](const Transition& t) { return t.from == power_ && t.event == ev && t.to == to; });
  if (!allowed) {
    event("power.refused", fmt::format("{} refused in state {} ({})", to_string(ev), to_string(power_), cause),
          {{"state", std::string(to_string(power_))}, {"event", std::string(to_string(ev))}});
    return false;
  }
  PowerState from = power_;
  power_ = to;
  event("power", fmt::format("{} -> {} ({})", to_string(from), to_string(to), cause),
        {{"from", std::string(to_string(from))}, {"to", std::string(to_string(to))}, {"cause", std::string(cause)}});
  return true;
}

void Modem::power_on(std::string_view cause) {
  if (dead_) {
    event("power.refused", fmt::format("power-on refused: the module is dead ({})", cause));
    return;
  }
  program_factory_flash();
  if (!transition(PowerEvent::kPowerOn, PowerState::kBooting, cause)) return;
  state_.functionality = 1;
  state_.offline = false;
  boot_timer_.start(scaled(profile().timing().boot_ms()), [this] { boot_complete(); });
}

void Modem::power_off(std::string_view cause) {
  if (!transition(PowerEvent::kPowerOff, PowerState::kPoweredOff, cause)) return;
  boot_timer_.cancel();
  action_timer_.cancel();
  unplug();
}

void Modem::reset(std::string_view cause) { reset_for(cause, scaled(profile().timing().reset_ms())); }

void Modem::reset_after_reply(std::string_view cause, profile::BootMode next_mode) {
  // transports.md: an unplug right after "OK" loses the OK on the host side. The grace is for
  // the host to read the reply, so --time-scale leaves it alone.
  action_timer_.start(std::chrono::milliseconds(profile().timing().reset_reply_ms()),
                      [this, cause = std::string(cause), next_mode] {
                        next_boot_mode_ = next_mode;
                        reset(cause);
                      });
}

// A firmware trait is a fault bound to a firmware version: what the running application brings
// with it. Flashing another version changes them at the next boot into it.
void Modem::apply_traits() {
  if (firmware_->version() == traits_version_) return;
  if (!trait_faults_.empty()) {
    event("fault", fmt::format("firmware {} traits end", traits_version_));
    trait_faults_.clear();
  }
  traits_version_ = firmware_->version();
  faults::Rng rng(std::hash<std::string>{}(options_.id + "/" + traits_version_));
  for (const auto& t : firmware_->traits()) {
    faults::Params params(t.params().begin(), t.params().end());
    // Trait timings are profile delays: --time-scale scales them with the others.
    const faults::FaultType* type = faults::find(t.fault());
    if (type == nullptr) {
      event("fault.refused", fmt::format("firmware {} names unknown fault {}", traits_version_, t.fault()));
      continue;
    }
    for (const auto& spec : type->params) {
      Duration d{};
      if (spec.kind == "duration" && params.count(spec.name) != 0 && parse_duration(params[spec.name], d)) {
        params[spec.name] = format_duration(Duration(static_cast<std::int64_t>(static_cast<double>(d.count()) * options_.time_scale)));
      }
    }
    event("fault.trait", fmt::format("firmware {}: {} ({})", traits_version_, t.fault(), t.description()),
          {{"fault", t.fault()}, {"firmware", traits_version_}});
    try {
      trait_faults_.push_back(faults::activate(*this, t.fault(), std::move(params), rng));
    } catch (const std::invalid_argument& e) {
      event("fault.refused", fmt::format("firmware {} trait: {}", traits_version_, e.what()));
    }
  }
}

void Modem::reset_for(std::string_view cause, Duration downtime) {
  if (!transition(PowerEvent::kReset, PowerState::kBooting, cause)) return;
  action_timer_.cancel();
  unplug();
  state_.functionality = 1;  // +CFUN is not kept across a reset
  state_.offline = false;
  state_.sim_powered = true;
  boot_timer_.start(downtime, [this] { boot_complete(); });
}

void Modem::die(std::string_view cause) {
  if (dead_) return;
  dead_ = true;
  boot_timer_.cancel();
  action_timer_.cancel();
  restore_timer_.cancel();
  if (power_ != PowerState::kPoweredOff && power_ != PowerState::kBooting) {
    transition(PowerEvent::kPowerCut, PowerState::kPoweredOff, cause);
    unplug();
  }
  transition(PowerEvent::kDie, PowerState::kDead, cause);
}

void Modem::revive(std::string_view cause) {
  if (!dead_) return;
  dead_ = false;
  transition(PowerEvent::kPowerOff, PowerState::kPoweredOff, cause);
  power_on(cause);
}

void Modem::force_boot_mode(std::optional<profile::BootMode> mode, std::string_view cause) {
  if (mode && find_composition(profile(), *mode) == nullptr) {
    event("fault.refused", fmt::format("{}: the profile has no {} composition", cause, profile::BootMode_Name(*mode)));
    return;
  }
  forced_mode_ = mode;
  if (power_ != PowerState::kPoweredOff && power_ != PowerState::kDead) reset(cause);
}

void Modem::set_qmi_silent(bool silent, std::string_view cause) {
  if (qmi_silent_ == silent) return;
  qmi_silent_ = silent;
  event("qmi.silence", fmt::format("QMI {} ({})", silent ? "stops answering, USB stays up" : "answers again", cause),
        {{"silent", silent ? "true" : "false"}});
}

void Modem::set_sim_state(profile::SimState sim, std::string_view cause) {
  if (state_.sim == sim) return;
  auto from = state_.sim;
  state_.sim = sim;
  event("sim", fmt::format("{} -> {} ({})", profile::SimState_Name(from), profile::SimState_Name(sim), cause),
        {{"from", profile::SimState_Name(from)}, {"to", profile::SimState_Name(sim)}});
  notify(ModelChange::kSim);
  if (sim == profile::SIM_READY) {
    start_radio();
  } else if (registered() || state_.registration == RegStatus::kSearching) {
    radio_timer_.cancel();
    set_registration(RegStatus::kNotRegistered, "no usable SIM");
  }
}

void Modem::set_registration_override(std::optional<RegStatus> status, std::string_view cause) {
  registration_override_ = status;
  if (status) {
    if (radio_on()) set_registration(*status, cause);
  } else if (radio_on()) {
    set_registration(RegStatus::kSearching, cause);
    start_radio();
  }
}

void Modem::set_roaming(bool roaming, std::string_view cause) {
  state_.network.set_roaming(roaming);
  if (registered()) set_registration(roaming ? RegStatus::kRoaming : RegStatus::kHome, cause);
}

void Modem::set_signal(const profile::Signal& signal, std::string_view cause) {
  state_.signal = signal;
  event("radio.signal", fmt::format("RSRP {} dBm, RSRQ {} dB, SINR {} dB ({})", signal.rsrp_dbm(), signal.rsrq_db(),
                                    signal.sinr_db(), cause));
  notify(ModelChange::kSignal);
}

void Modem::set_serving_cell(const profile::Network& cell, std::string_view cause) {
  auto& n = state_.network;
  if (cell.cell_id() != 0) n.set_cell_id(cell.cell_id());
  if (cell.tac() != 0) n.set_tac(cell.tac());
  if (cell.pci() != 0) n.set_pci(cell.pci());
  if (cell.earfcn() != 0) n.set_earfcn(cell.earfcn());
  if (cell.band() != 0) n.set_band(cell.band());
  event("radio.cell", fmt::format("serving cell {:x} TAC {:x} PCI {} EARFCN {} band {} ({})", n.cell_id(), n.tac(), n.pci(),
                                  n.earfcn(), n.band(), cause));
  notify(ModelChange::kSignal);
}

void Modem::power_cut(std::string_view cause) {
  if (power_cut_pending_) return;
  power_cut_pending_ = true;
  cut_timer_.start(Duration::zero(), [this, cause = std::string(cause)] {
    power_cut_pending_ = false;
    if (!transition(PowerEvent::kPowerCut, PowerState::kPoweredOff, cause)) return;
    boot_timer_.cancel();
    action_timer_.cancel();
    next_boot_mode_ = profile::BOOT_MODE_UNSPECIFIED;  // the cookie in RAM is lost with the power
    download_requested_ = false;
    boot_hold_pending_ = false;
    unplug();
    if (options_.power_restore) {
      event("power.restore", fmt::format("power returns in {} ms",
                                         std::chrono::duration_cast<std::chrono::milliseconds>(*options_.power_restore).count()));
      restore_timer_.start(*options_.power_restore, [this] { power_on("power restored after the cut"); });
    }
  });
}

std::size_t Modem::program_budget(std::size_t wanted) {
  if (power_cut_pending_) return 0;
  std::uint64_t limit = options_.power_cut_after_program_bytes;
  if (limit == 0) return wanted;
  if (program_bytes_ >= limit) return 0;
  std::size_t allowed = static_cast<std::size_t>(std::min<std::uint64_t>(wanted, limit - program_bytes_));
  program_bytes_ += allowed;
  if (allowed < wanted || program_bytes_ == limit) {
    options_.power_cut_after_program_bytes = 0;  // one cut per run
    power_cut(fmt::format("power cut after {} bytes of Firehose program data", program_bytes_));
  }
  return allowed;
}

void Modem::power_off_after_reply(std::string_view cause) {
  action_timer_.start(std::chrono::milliseconds(profile().timing().reset_reply_ms()),
                      [this, cause = std::string(cause)] { power_off(cause); });
}

void Modem::require_factory_flash() {
  const std::string& v = options_.firmware_version.empty() ? profile().firmware().default_version() : options_.firmware_version;
  if (sierra_store_ && power_ == PowerState::kPoweredOff) {
    // The Sierra storage starts over too: the factory release stored, preferred and running.
    if (const auto* f = find_firmware(profile(), v)) {
      sierra_store_->reset_to_factory(*f);
      sierra_firmware_ = sierra_store_->running_firmware();
      firmware_ = &sierra_firmware_;
    }
  }
  if (!flash_) return;
  if (const auto* f = find_firmware(profile(), v)) firmware_ = f;
  factory_pending_ = true;
}

void Modem::program_factory_flash() {
  if (!factory_pending_ || !flash_ || power_ != PowerState::kPoweredOff) return;
  factory_pending_ = false;
  provision_flash();
}

void Modem::provision_flash() {
  std::string error;
  if (!firmware::program_images(firmware::build_images(profile(), *firmware_), *flash_, error)) {
    throw std::runtime_error("factory programming of the flash failed: " + error);
  }
  event("flash", fmt::format("flash factory-programmed with {}", firmware_->version()),
        {{"firmware", firmware_->version()}});
}

void Modem::adopt_version(const firmware::BootVerdict& verdict) {
  if (verdict.version.empty() || verdict.version == firmware_->version()) return;
  firmware_ = find_firmware(profile(), verdict.version);
  if (firmware_ == nullptr) {
    // A version the catalogue does not describe still runs, with no traits of its own.
    flashed_firmware_.Clear();
    flashed_firmware_.set_version(verdict.version);
    flashed_firmware_.set_full_revision(verdict.full_revision);
    firmware_ = &flashed_firmware_;
  }
}

profile::BootMode Modem::boot_mode_from_flash() {
  if (!flash_) return profile::APPLICATION;
  auto verdict = firmware::read_boot_chain(profile(), *flash_);
  adopt_version(verdict);
  event("boot", verdict.reason,
        {{"mode", profile::BootMode_Name(verdict.mode)}, {"firmware", verdict.version}});
  return verdict.mode;
}

// The Sierra boot loader's choice (sierra-qdl.md): an interrupted download holds the module in
// boot mode; images still to download after a preference change wait in boot-and-hold; a
// preference naming an image that is not stored runs the old pair in low-power mode.
profile::BootMode Modem::boot_mode_from_sierra_store() {
  if (sierra_store_->state().download_in_progress()) {
    event("boot", "a firmware download was interrupted: boot-and-hold (upgrade mode)",
          {{"mode", profile::BootMode_Name(profile::SIERRA_BOOT_HOLD)}, {"firmware", firmware_->version()}});
    return profile::SIERRA_BOOT_HOLD;
  }
  if (std::exchange(download_requested_, false)) {
    event("boot", "the firmware preference left images to download: boot-and-hold",
          {{"mode", profile::BootMode_Name(profile::SIERRA_BOOT_HOLD)}, {"firmware", firmware_->version()}});
    return profile::SIERRA_BOOT_HOLD;
  }
  bool preferred = sierra_store_->boot_preferred();
  sierra_firmware_ = sierra_store_->running_firmware();
  firmware_ = &sierra_firmware_;
  if (preferred) {
    event("boot", fmt::format("running {} with {}", firmware_->version(), firmware_->carrier_config()),
          {{"mode", profile::BootMode_Name(profile::APPLICATION)}, {"firmware", firmware_->version()}});
  } else {
    state_.firmware_low_power = true;
    state_.functionality = 4;
    event("boot",
          fmt::format("the firmware preference names an image that is not stored: {} runs in low-power mode, SIM and radio off",
                      firmware_->version()),
          {{"mode", profile::BootMode_Name(profile::APPLICATION)}, {"firmware", firmware_->version()}, {"low_power", "true"}});
  }
  return profile::APPLICATION;
}

void Modem::reset_into_boot_hold(std::string_view cause) {
  boot_hold_pending_ = true;
  reset_after_reply(cause, find_composition(profile(), profile::SIERRA_BOOT_HOLD) != nullptr ? profile::SIERRA_BOOT_HOLD
                                                                                               : profile::BOOT_MODE_UNSPECIFIED);
}

bool Modem::sierra_image_info_malformed() const {
  return sierra_store_ && sierra_faults_.malformed_image_info && sierra_store_->installs() == sierra_faults_.malformed_at_installs;
}

profile::Firmware Modem::preferred_firmware() const {
  return sierra_store_ ? sierra_store_->preferred_firmware() : *firmware_;
}

void Modem::boot_complete() {
  // A mode forced for this boot (DIAG's EDL switch), else what the boot chain finds in the flash.
  profile::BootMode mode = std::exchange(next_boot_mode_, profile::BOOT_MODE_UNSPECIFIED);
  if (mode == profile::BOOT_MODE_UNSPECIFIED && forced_mode_) {
    mode = *forced_mode_;
    event("boot", fmt::format("held in {} by a fault", profile::BootMode_Name(mode)), {{"mode", profile::BootMode_Name(mode)}});
  }
  boot_hold_pending_ = false;
  state_.firmware_low_power = false;
  if (mode == profile::BOOT_MODE_UNSPECIFIED) mode = sierra_store_ ? boot_mode_from_sierra_store() : boot_mode_from_flash();
  if (!transition(PowerEvent::kBootComplete, state_for_mode(mode), "boot complete")) return;
  ++state_.boot_count;
  // Traits belong to the running application: none while a bootloader runs.
  if (mode == profile::APPLICATION) {
    apply_traits();
  } else if (!trait_faults_.empty()) {
    event("fault", fmt::format("firmware {} traits end: the application does not run", traits_version_));
    trait_faults_.clear();
    traits_version_.clear();
  }
  plug(mode);
}

void Modem::plug(profile::BootMode mode) {
  std::string wanted;
  if (mode == profile::APPLICATION) {
    for (const auto& opt : profile().at().usbnet()) {
      if (opt.value() == state_.usbnet) wanted = opt.composition();
    }
  }
  composition_ = find_composition(profile(), mode, wanted);
  if (composition_ == nullptr) composition_ = find_composition(profile(), mode);
  if (composition_ == nullptr) {
    event("usb.missing", fmt::format("profile has no composition for {}: staying off the bus", profile::BootMode_Name(mode)));
    return;
  }
  // Node names follow the Linux drivers: serial drivers number their ttys in interface order,
  // qmi_wwan its cdc-wdm nodes likewise (per modem, as each modem gets its own --dev-dir).
  int tty = 0;
  int wdm = 0;
  for (const auto& itf : composition_->interfaces()) {
    PortInfo info{itf.binterfacenumber(), itf.function(), itf.linux_driver(), ""};
    if (itf.linux_driver() == "option" || itf.linux_driver() == "qcserial") {
      info.node_name = fmt::format("ttyUSB{}", tty++);
    } else if (itf.linux_driver() == "qmi_wwan") {
      info.node_name = fmt::format("cdc-wdm{}", wdm++);
    }
    if (itf.function() == profile::AT || itf.function() == profile::AT_MODEM) {
      ports_.push_back(std::make_unique<AtPort>(std::move(info), *this, *at_commands_));
    } else if (itf.function() == profile::DIAG) {
      ports_.push_back(std::make_unique<DiagPort>(std::move(info), *this));
    } else if (itf.function() == profile::SAHARA && (flash_ || sierra_store_)) {
      ports_.push_back(std::make_unique<EdlPort>(std::move(info), *this));
    } else if (itf.function() == profile::QDL && sierra_store_) {
      ports_.push_back(std::make_unique<sierra::QdlPort>(std::move(info), *this, *sierra_store_));
    } else if (itf.function() == profile::QMI) {
      ports_.push_back(std::make_unique<QmiPort>(std::move(info), *this, *qmi_handlers_));
    } else {
      ports_.push_back(std::make_unique<InertPort>(std::move(info)));
    }
  }
  std::string layout;
  for (const auto& p : ports_) {
    layout += fmt::format("{}{}={}", layout.empty() ? "" : " ", p->info().interface_number,
                          p->info().node_name.empty() ? std::string(function_name(p->info().function))
                                                      : p->info().node_name);
  }
  event("usb.plug",
        fmt::format("enumerated as {}:{} \"{}\" ({} {}, interfaces {})", hex4(composition_->idvendor()),
                    hex4(composition_->idproduct()), composition_->product(), profile::BootMode_Name(mode),
                    composition_->composition().empty() ? "default" : composition_->composition(), layout),
        {{"vid", hex4(composition_->idvendor())},
         {"pid", hex4(composition_->idproduct())},
         {"mode", profile::BootMode_Name(mode)},
         {"composition", composition_->composition()}});
  for (DeviceObserver* o : std::vector<DeviceObserver*>(observers_)) o->on_plug(*this);
  for (const auto& p : ports_) p->started();
  if (mode == profile::APPLICATION) {
    ready_timer_.start(scaled(profile().timing().ready_ms()), [this] { become_ready(); });
  }
}

void Modem::unplug() {
  ready_timer_.cancel();
  radio_timer_.cancel();
  state_.ready = false;
  if (!ports_.empty() || composition_ != nullptr) {
    // As a host sees it: the disconnect first, then the drivers let go of the ports.
    event("usb.unplug", "USB disconnect");
    for (DeviceObserver* o : std::vector<DeviceObserver*>(observers_)) o->on_unplug(*this);
    ports_.clear();
    composition_ = nullptr;
  }
  // After the ports are gone: a module that left the bus tells no client that its data
  // sessions ended (and a transport being torn down gets no indication for them).
  deactivate_all_contexts("module left the bus");
  state_.registration = RegStatus::kNotRegistered;
  state_.vendor_unlocked = false;
}

void Modem::become_ready() {
  state_.ready = true;
  event("ready", fmt::format("firmware {} up, SIM {}", firmware().version(), profile::SimState_Name(state_.sim)),
        {{"firmware", firmware().version()}});
  for (AtPort* p : at_ports()) {
    for (const auto& urc : profile().at().boot_urcs()) p->urc(urc);
  }
  if (state_.functionality == 1) start_radio();
}

void Modem::notify(ModelChange change) {
  for (const auto& p : ports_) p->model_changed(change);
}

std::vector<AtPort*> Modem::at_ports() const {
  std::vector<AtPort*> out;
  for (const auto& p : ports_) {
    if (auto* at = dynamic_cast<AtPort*>(p.get())) out.push_back(at);
  }
  return out;
}

void Modem::start_radio() {
  if (!radio_on()) return;
  if (state_.sim != profile::SIM_READY || !state_.sim_powered) {
    set_registration(RegStatus::kNotRegistered, "no usable SIM");
    return;
  }
  set_registration(RegStatus::kSearching, "radio on");
  radio_timer_.start(scaled(network().registration_delay_ms()), [this] {
    set_registration(network().roaming() ? RegStatus::kRoaming : RegStatus::kHome,
                     fmt::format("attached to {} ({}{})", network().operator_long(), network().mcc(),
                                 network().mnc()));
  });
}

void Modem::stop_radio() {
  radio_timer_.cancel();
  deactivate_all_contexts("radio off");
  set_registration(RegStatus::kNotRegistered, "radio off");
}

void Modem::set_registration(RegStatus status, std::string_view cause) {
  // A network that denies (or keeps searching) whatever the module attempts.
  if (registration_override_ && status != RegStatus::kNotRegistered) status = *registration_override_;
  if (state_.registration == status) return;
  RegStatus from = state_.registration;
  state_.registration = status;
  event("radio.registration", fmt::format("{} -> {} ({})", to_string(from), to_string(status), cause),
        {{"from", std::string(to_string(from))}, {"to", std::string(to_string(status))}});
  if (!registered()) deactivate_all_contexts("lost registration");
  notify(ModelChange::kRegistration);
}

bool Modem::registered() const {
  return state_.registration == RegStatus::kHome || state_.registration == RegStatus::kRoaming;
}

ActionResult Modem::sim_access() const {
  // Quectel: CFUN=0 powers the (U)SIM down, CFUN=4 keeps it.
  if (state_.functionality == 0 || !state_.sim_powered) return ActionResult::kSimFailure;
  if (!state_.ready) return ActionResult::kSimBusy;
  if (state_.firmware_low_power) return ActionResult::kNoSim;  // the SIM is not powered up (F9)
  switch (state_.sim) {
    case profile::SIM_READY: return ActionResult::kOk;
    case profile::SIM_ABSENT: return ActionResult::kNoSim;
    case profile::SIM_PIN: return ActionResult::kSimPinRequired;
    case profile::SIM_PUK: return ActionResult::kSimPukRequired;
    case profile::SIM_BUSY: return ActionResult::kSimBusy;
    default: return ActionResult::kSimFailure;
  }
}

ActionResult Modem::set_functionality(int level) {
  if (level != 0 && level != 1 && level != 4) return ActionResult::kBadParameter;
  if (state_.offline || (state_.firmware_low_power && level == 1)) return ActionResult::kNotAllowed;
  int from = state_.functionality;
  if (from == level) return ActionResult::kOk;
  state_.functionality = level;
  event("power.functionality", fmt::format("functionality {} -> {}", from, level),
        {{"from", std::to_string(from)}, {"to", std::to_string(level)}});
  if (level == 1) {
    start_radio();
  } else {
    stop_radio();
  }
  notify(ModelChange::kFunctionality);
  return ActionResult::kOk;
}

ActionResult Modem::set_sim_power(bool on) {
  if (state_.sim_powered == on) return ActionResult::kOk;
  state_.sim_powered = on;
  event("sim", on ? "SIM powered on" : "SIM powered off", {{"powered", on ? "1" : "0"}});
  if (on) {
    start_radio();
  } else {
    stop_radio();
  }
  notify(ModelChange::kSim);
  return ActionResult::kOk;
}

bool Modem::pin_enabled() const {
  return profile().sim().state() == profile::SIM_PIN || profile().sim().state() == profile::SIM_PUK;
}

ActionResult Modem::set_offline() {
  if (state_.offline) return ActionResult::kOk;
  state_.offline = true;
  state_.functionality = 4;
  event("power.functionality", "offline: radio off until the next reset", {{"to", "offline"}});
  stop_radio();
  notify(ModelChange::kFunctionality);
  return ActionResult::kOk;
}

ActionResult Modem::enter_pin(std::string_view pin) {
  if (state_.sim == profile::SIM_READY) return ActionResult::kNotAllowed;
  if (ActionResult r = sim_access(); r != ActionResult::kSimPinRequired) return r;
  if (pin != profile().sim().pin()) {
    event("sim", "wrong PIN entered");
    return ActionResult::kWrongPassword;
  }
  state_.sim = profile::SIM_READY;
  event("sim", "PIN accepted: SIM ready");
  for (AtPort* p : at_ports()) p->urc("+CPIN: READY");
  notify(ModelChange::kSim);
  start_radio();
  return ActionResult::kOk;
}

ActionResult Modem::set_usbnet(std::uint32_t value) {
  bool known = std::any_of(profile().at().usbnet().begin(), profile().at().usbnet().end(),
                           [&](const profile::UsbnetOption& o) { return o.value() == value; });
  if (!known) return ActionResult::kNotSupported;
  if (state_.usbnet == value) return ActionResult::kOk;
  state_.usbnet = value;
  event("nv", fmt::format("usbnet set to {} (applies after a reset)", value), {{"usbnet", std::to_string(value)}});
  save_nv();
  return ActionResult::kOk;
}

ActionResult Modem::define_context(std::uint32_t cid, std::string pdp_type, std::string apn) {
  if (cid < 1 || cid > 15) return ActionResult::kBadParameter;
  if (pdp_type != "IP" && pdp_type != "IPV6" && pdp_type != "IPV4V6" && pdp_type != "PPP") {
    return ActionResult::kBadParameter;
  }
  auto& ctx = state_.contexts[cid];
  if (ctx.active) return ActionResult::kNotAllowed;
  ctx.cid = cid;
  ctx.pdp_type = std::move(pdp_type);
  ctx.apn = std::move(apn);
  event("data.context", fmt::format("context {} defined: {} \"{}\"", cid, ctx.pdp_type, ctx.apn),
        {{"cid", std::to_string(cid)}});
  save_nv();
  return ActionResult::kOk;
}

ActionResult Modem::undefine_context(std::uint32_t cid) {
  auto it = state_.contexts.find(cid);
  if (it == state_.contexts.end()) return ActionResult::kOk;
  if (it->second.active) return ActionResult::kNotAllowed;
  state_.contexts.erase(it);
  event("data.context", fmt::format("context {} removed", cid), {{"cid", std::to_string(cid)}});
  save_nv();
  return ActionResult::kOk;
}

ActionResult Modem::set_context_active(std::uint32_t cid, bool active) {
  auto it = state_.contexts.find(cid);
  if (it == state_.contexts.end()) return ActionResult::kNotFound;
  auto& ctx = it->second;
  if (ctx.active == active) return ActionResult::kOk;
  if (active) {
    if (ActionResult r = sim_access(); r != ActionResult::kOk) return r;
    if (!registered()) return ActionResult::kNoService;
    ctx.active = true;
    ctx.address = context_ipv4(*this, cid);
    event("data.context", fmt::format("context {} activated: APN \"{}\", address {}", cid, ctx.apn, ctx.address),
          {{"cid", std::to_string(cid)}, {"state", "active"}, {"address", ctx.address}});
  } else {
    ctx.active = false;
    ctx.address.clear();
    event("data.context", fmt::format("context {} deactivated", cid), {{"cid", std::to_string(cid)}, {"state", "inactive"}});
  }
  notify(ModelChange::kData);
  return ActionResult::kOk;
}

void Modem::deactivate_all_contexts(std::string_view cause) {
  for (auto& [cid, ctx] : state_.contexts) {
    if (!ctx.active) continue;
    ctx.active = false;
    ctx.address.clear();
    event("data.context", fmt::format("context {} deactivated ({})", cid, cause),
          {{"cid", std::to_string(cid)}, {"state", "inactive"}, {"cause", std::string(cause)}});
    notify(ModelChange::kData);
  }
}

ActionResult Modem::unlock_vendor_commands(std::string_view password) {
  if (profile().at().entercnd_password().empty()) return ActionResult::kNotSupported;
  if (password != profile().at().entercnd_password()) return ActionResult::kWrongPassword;
  state_.vendor_unlocked = true;
  return ActionResult::kOk;
}

void Modem::save_nv() {
  if (!state_dir_) return;
  profile::NvState nv;
  nv.set_usbnet(state_.usbnet);
  nv.set_contexts_set(true);
  for (const auto& [cid, ctx] : state_.contexts) {
    auto* c = nv.add_contexts();
    c->set_cid(cid);
    c->set_pdp_type(ctx.pdp_type);
    c->set_apn(ctx.apn);
  }
  try {
    state_dir_->save_nv(nv);
  } catch (const std::exception& e) {
    event("error", fmt::format("cannot save settings: {}", e.what()));
  }
}

std::string_view function_name(profile::PortFunction f) {
  switch (f) {
    case profile::DIAG: return "DM";
    case profile::NMEA: return "NMEA";
    case profile::AT: return "AT";
    case profile::AT_MODEM: return "AT/modem";
    case profile::QMI: return "QMI";
    case profile::SAHARA: return "Sahara";
    case profile::QDL: return "QDL";
    case profile::ECM_CONTROL: return "ECM control";
    case profile::ECM_DATA: return "ECM data";
    default: return "unknown";
  }
}

}  // namespace modemu::emulator
