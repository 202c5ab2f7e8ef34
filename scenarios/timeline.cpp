#include "scenarios/timeline.hpp"

#include <random>

#include <fmt/format.h>

#include "emulator/firmware/boot.hpp"
#include "emulator/flash/flash.hpp"
#include "emulator/profile.hpp"
#include "scenarios/scenario.hpp"

namespace modemu::scenarios {

namespace em = modemu::emulator;
using em::Duration;

FaultTimeline::FaultTimeline(em::EventLog& log, em::Modem& modem, scenario::Fault fault, std::uint64_t seed,
                             em::TimePoint origin, Duration horizon)
    : log_(log),
      modem_(modem),
      clock_(modem.clock()),
      fault_(std::move(fault)),
      rng_(seed),
      origin_(origin),
      horizon_(horizon),
      next_(modem.clock()) {}

FaultTimeline::~FaultTimeline() {
  next_.cancel();
  ends_.clear();
  active_.clear();
}

void FaultTimeline::start() { schedule(scenario_duration(fault_.start())); }

bool FaultTimeline::pending() const { return next_.pending(); }

// One occurrence at `at` (from the origin); a periodic fault schedules the next one first.
void FaultTimeline::schedule(Duration at) {
  if (horizon_ > Duration::zero() && at >= horizon_) return;
  next_.start(at - (clock_.now() - origin_), [this, at] {
    Duration period = scenario_duration(fault_.period());
    if (period > Duration::zero()) schedule(at + period);
    ++occurrences_;
    double p = fault_.probability() == 0 ? 1.0 : fault_.probability();
    if (std::uniform_real_distribution<double>(0.0, 1.0)(rng_) >= p) {
      log_.emit(modem_.id(), "fault", fmt::format("{} skipped this time (probability {})", fault_.type(), p),
                {{"fault", fault_.type()}, {"skipped", "true"}});
      return;
    }
    em::faults::Params params(fault_.params().begin(), fault_.params().end());
    int key = next_key_++;
    auto active = em::faults::activate(modem_, fault_.type(), params, rng_);
    if (!active) return;
    active_[key] = std::move(active);
    Duration lasts = scenario_duration(fault_.duration());
    if (lasts > Duration::zero()) {
      auto& end = ends_[key];
      end = std::make_unique<em::Timer>(clock_);
      end->start(lasts, [this, key] {
        active_.erase(key);
        modem_.event("fault.end", fmt::format("{} ends", fault_.type()), {{"fault", fault_.type()}});
        ends_.erase(key);  // this timer: it has fired, and its callback no longer needs it
      });
    }
  });
}

std::string check_fault(const scenario::Fault& f) {
  const auto* type = em::faults::find(f.type());
  if (type == nullptr) return fmt::format("type: unknown fault \"{}\" (modemu scenario faults lists them)", f.type());
  em::faults::Params params(f.params().begin(), f.params().end());
  if (auto why = em::faults::check(*type, params); !why.empty()) return "params: " + why;
  auto bad_time = [](const std::string& text) {
    Duration d{};
    return !text.empty() && (!em::parse_duration(text, d) || d < Duration::zero());
  };
  for (auto [name, value] : {std::pair{"start", &f.start()}, {"duration", &f.duration()}, {"period", &f.period()}}) {
    if (bad_time(*value)) return fmt::format("{}: \"{}\" is not a duration (examples: 90s, 7.5s, 4h)", name, *value);
  }
  if (!f.period().empty() && scenario_duration(f.period()) <= Duration::zero()) return "period: must be longer than zero";
  if (f.probability() < 0 || f.probability() > 1) return "probability: must be 0..1";
  return {};
}

namespace {

// The scenario's initial flash state: what an interrupted update left behind.
void prepare_flash(em::Modem& m, scenario::FlashState state) {
  if (m.flash() == nullptr) return;
  m.program_factory_flash();
  if (state == scenario::FLASH_FACTORY) return;
  std::string error;
  auto places = em::firmware::layout(m.profile().flash());
  bool ok = state == scenario::FLASH_ERASED_SBL ? m.flash()->erase(0, places.front().size, error)
                                                : em::firmware::set_download_flag(m.profile(), *m.flash(), true, error);
  m.event("flash", ok ? fmt::format("scenario start: {}", scenario::FlashState_Name(state))
                      : fmt::format("scenario start: cannot prepare {}: {}", scenario::FlashState_Name(state), error));
}

}  // namespace

em::Modem& add_modem(Fleet& fleet, const scenario::ModemSpec& spec, const em::ModemOptions& base) {
  em::ModemOptions o = base;
  o.profile = em::load_profile(spec.profile());
  o.id = spec.id().empty() ? o.profile.name() : spec.id();
  o.firmware_version = spec.firmware();
  if (spec.time_scale() > 0) o.time_scale *= spec.time_scale();
  em::Modem& m = fleet.add(std::move(o));
  // A spec declares its starting point: whatever an earlier run left in the state directory,
  // the flash starts with the factory firmware (programmed at the start).
  m.require_factory_flash();
  profile::SimState sim{};
  if (!spec.sim().empty() && profile::SimState_Parse(spec.sim(), &sim)) m.set_sim_state(sim, "scenario start");
  if (spec.roaming()) m.set_roaming(true, "scenario start");
  return m;
}

void start_modem(em::Modem& m, const scenario::ModemSpec& spec) {
  prepare_flash(m, spec.flash());
  if (!spec.powered_off()) m.power_on("scenario start");
}

}  // namespace modemu::scenarios
