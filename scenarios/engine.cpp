#include "scenarios/engine.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "emulator/firmware/boot.hpp"
#include "emulator/flash/flash.hpp"
#include "emulator/profile.hpp"

namespace modemu::scenarios {

namespace em = modemu::emulator;
using em::Duration;

namespace {

// "3h10m07.9s", "2m30s", "7.5s": scenario times as people read them.
std::string at_time(Duration d) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(d).count();
  auto h = ms / 3'600'000, m = ms / 60'000 % 60;
  double sec = static_cast<double>(ms % 60'000) / 1000.0;
  if (h > 0) return fmt::format("{}h{:02}m{:04.1f}s", h, m, sec);
  if (m > 0) return fmt::format("{}m{:04.1f}s", m, sec);
  return fmt::format("{:.1f}s", sec);
}

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

Engine::Engine(scenario::Scenario s, Fleet& fleet, const em::ModemOptions& base)
    : scenario_(std::move(s)), fleet_(fleet), clock_(fleet.clock()) {
  for (const auto& spec : scenario_.modems()) {
    em::ModemOptions o = base;
    o.profile = em::load_profile(spec.profile());
    o.id = spec.id().empty() ? o.profile.name() : spec.id();
    o.firmware_version = spec.firmware();
    if (spec.time_scale() > 0) o.time_scale *= spec.time_scale();
    em::Modem& m = fleet_.add(std::move(o));
    // A scenario declares its starting point: whatever an earlier run left in the state
    // directory, the flash starts with the factory firmware (programmed at the start).
    m.require_factory_flash();
    profile::SimState sim{};
    if (!spec.sim().empty() && profile::SimState_Parse(spec.sim(), &sim)) m.set_sim_state(sim, "scenario start");
    if (spec.roaming()) m.set_roaming(true, "scenario start");
    modems_.push_back(&m);
  }
  for (int i = 0; i < scenario_.faults_size(); ++i) {
    rngs_.emplace_back(scenario_.seed() * 1000003u + static_cast<std::uint64_t>(i));
  }
  subscription_ = fleet_.log().subscribe([this](const em::Event& e) {
    if (!finished_) events_.push_back({e.t - start_.time_since_epoch(), e.modem, e.kind, e.message, e.fields});
  });
}

Engine::~Engine() {
  fleet_.log().unsubscribe(subscription_);
  active_.clear();
  updates_.clear();
}

em::Modem& Engine::target(const std::string& id) {
  if (id.empty()) return *modems_.front();
  for (em::Modem* m : modems_) {
    if (m->id() == id) return *m;
  }
  return *modems_.front();  // checked when the scenario was loaded
}

void Engine::start() {
  start_ = clock_.now();
  duration_ = scenario_duration(scenario_.duration());
  fleet_.log().emit("", "scenario",
                    fmt::format("scenario {} starts: {} modem(s), {} fault(s), {} action(s), {} expectation(s), {}",
                                scenario_.name(), modems_.size(), scenario_.faults_size(), scenario_.actions_size(),
                                scenario_.expectations_size(), at_time(duration_)),
                    {{"scenario", scenario_.name()}, {"seed", std::to_string(scenario_.seed())}});
  for (std::size_t i = 0; i < modems_.size(); ++i) {
    prepare_flash(*modems_[i], scenario_.modems(static_cast<int>(i)).flash());
    if (!scenario_.modems(static_cast<int>(i)).powered_off()) modems_[i]->power_on("scenario start");
  }
  for (int i = 0; i < scenario_.faults_size(); ++i) schedule_fault(i, scenario_duration(scenario_.faults(i).start()));
  for (const auto& a : scenario_.actions()) {
    auto t = std::make_unique<em::Timer>(clock_);
    t->start(scenario_duration(a.at()), [this, &a] { run_action(a); });
    timers_.push_back(std::move(t));
  }
  auto end = std::make_unique<em::Timer>(clock_);
  end->start(duration_, [this] { finish(); });
  timers_.push_back(std::move(end));
}

// One occurrence of fault `index` at `at` (from the start); periodic faults schedule the next.
void Engine::schedule_fault(int index, Duration at) {
  if (at >= duration_) return;
  auto t = std::make_unique<em::Timer>(clock_);
  em::Timer* raw = t.get();
  timers_.push_back(std::move(t));
  raw->start(at - (clock_.now() - start_), [this, index, at] {
    const auto& f = scenario_.faults(index);
    Duration period = scenario_duration(f.period());
    if (period > Duration::zero()) schedule_fault(index, at + period);
    auto& rng = rngs_[static_cast<std::size_t>(index)];
    double p = f.probability() == 0 ? 1.0 : f.probability();
    if (std::uniform_real_distribution<double>(0.0, 1.0)(rng) >= p) {
      fleet_.log().emit(target(f.modem()).id(), "fault", fmt::format("{} skipped this time (probability {})", f.type(), p),
                        {{"fault", f.type()}, {"skipped", "true"}});
      return;
    }
    em::faults::Params params(f.params().begin(), f.params().end());
    em::Modem& m = target(f.modem());
    int key = next_occurrence_++;
    auto active = em::faults::activate(m, f.type(), params, rng);
    Duration lasts = scenario_duration(f.duration());
    if (!active) return;
    active_[key] = std::move(active);
    if (lasts > Duration::zero()) {
      auto stop = std::make_unique<em::Timer>(clock_);
      stop->start(lasts, [this, key, &m, type = f.type()] {
        active_.erase(key);
        m.event("fault.end", fmt::format("{} ends", type), {{"fault", type}});
      });
      timers_.push_back(std::move(stop));
    }
  });
}

void Engine::run_action(const scenario::Action& a) {
  em::Modem& m = target(a.modem());
  switch (a.action_case()) {
    case scenario::Action::kPower:
      m.event("host", fmt::format("power {}", a.power()));
      if (a.power() == "on") m.power_on("scenario: power on");
      if (a.power() == "off") m.power_off("scenario: power off");
      if (a.power() == "reset") m.reset("scenario: reset");
      if (a.power() == "cycle") {
        m.power_off("scenario: power cycle");
        m.power_on("scenario: power cycle");
      }
      break;
    case scenario::Action::kAtCommand: {
      // The first AT port; a module whose only one also carries PPP (Sierra's interface 3) uses that.
      em::Port* port = nullptr;
      for (auto function : {profile::AT, profile::AT_MODEM}) {
        for (const auto& p : m.ports()) {
          if (port == nullptr && p->info().function == function) port = p.get();
        }
      }
      if (port == nullptr) {
        m.event("host", fmt::format("AT {}: no AT port on the bus", a.at_command()));
        break;
      }
      std::string answer;
      port->claim([&answer](std::string_view b) { answer.append(b); });
      port->from_host(a.at_command() + "\r");
      if (m.composition() != nullptr) port->release();
      std::replace(answer.begin(), answer.end(), '\r', ' ');
      std::replace(answer.begin(), answer.end(), '\n', ' ');
      m.event("host", fmt::format("AT {} -> {}", a.at_command(), answer), {{"command", a.at_command()}});
      break;
    }
    case scenario::Action::kFlash: {
      if (a.flash().cut_at_program_percent() > 0) {
        m.edl_faults().cut_at_program_percent = a.flash().cut_at_program_percent();
        m.edl_faults().cut_program_index = a.flash().cut_program() == 0 ? 1 : a.flash().cut_program();
      }
      updates_.push_back(std::make_unique<ScriptedUpdate>(m, a.flash().version(), nullptr));
      updates_.back()->start();
      break;
    }
    default:
      break;
  }
}

void Engine::finish() {
  if (finished_) return;
  active_.clear();
  updates_.clear();
  fleet_.log().emit("", "scenario", fmt::format("scenario {} ends after {}", scenario_.name(), at_time(duration_)),
                    {{"scenario", scenario_.name()}, {"end", "true"}});
  finished_ = true;
  if (finished_fn_) finished_fn_();
}

bool Engine::matches(const Recorded& e, const scenario::Match& m) const {
  if (e.kind != m.kind()) return false;
  if (!m.modem().empty() && e.modem != m.modem()) return false;
  if (!m.contains().empty() && e.message.find(m.contains()) == std::string::npos) return false;
  for (const auto& [key, value] : m.fields()) {
    auto it = std::find_if(e.fields.begin(), e.fields.end(), [&](const auto& f) { return f.first == key; });
    if (it == e.fields.end() || it->second != value) return false;
  }
  return true;
}

Verdict Engine::judge(const scenario::Expectation& x) const {
  Verdict v{x.name(), false, {}};
  std::size_t from = 0;
  Duration anchor = Duration::zero();
  std::string anchor_text = "the start";
  if (x.has_after()) {
    std::uint32_t wanted = std::max<std::uint32_t>(1, x.after().occurrence());
    std::uint32_t seen = 0;
    for (from = 0; from < events_.size(); ++from) {
      if (matches(events_[from], x.after()) && ++seen == wanted) break;
    }
    if (from == events_.size()) {
      v.detail = fmt::format("the anchor ({} #{}) never happened", x.after().kind(), wanted);
      return v;
    }
    anchor = events_[from].t;
    anchor_text = fmt::format("{} at {}", x.after().kind(), at_time(anchor));
    ++from;
  }
  Duration window = scenario_duration(x.time(), duration_);
  auto first = [&](const scenario::Match& m) -> const Recorded* {
    for (std::size_t i = from; i < events_.size(); ++i) {
      if (matches(events_[i], m)) return &events_[i];
    }
    return nullptr;
  };
  switch (x.check_case()) {
    case scenario::Expectation::kWithinEvent: {
      const Recorded* e = first(x.within_event());
      v.held = e != nullptr && e->t - anchor <= window;
      v.detail = e == nullptr ? fmt::format("no {} after {}", x.within_event().kind(), anchor_text)
                              : fmt::format("{} at {}, {} after {} (limit {}): {}", e->kind, at_time(e->t),
                                            at_time(e->t - anchor), anchor_text, at_time(window), e->message);
      break;
    }
    case scenario::Expectation::kNever: {
      const Recorded* e = first(x.never());
      v.held = e == nullptr || e->t - anchor > window;
      v.detail = v.held ? fmt::format("no {} for {} after {}", x.never().kind(), at_time(window), anchor_text)
                        : fmt::format("{} at {} ({} after {}): {}", e->kind, at_time(e->t), at_time(e->t - anchor),
                                      anchor_text, e->message);
      break;
    }
    case scenario::Expectation::kEventually: {
      const Recorded* e = first(x.eventually());
      v.held = e != nullptr;
      v.detail = e == nullptr ? fmt::format("no {} after {}", x.eventually().kind(), anchor_text)
                              : fmt::format("{} at {}: {}", e->kind, at_time(e->t), e->message);
      break;
    }
    default:
      v.detail = "checks nothing";
  }
  return v;
}

std::vector<Verdict> Engine::verdicts() const {
  std::vector<Verdict> out;
  for (const auto& x : scenario_.expectations()) out.push_back(judge(x));
  return out;
}

std::string format_verdicts(const std::vector<Verdict>& verdicts, bool& all_held) {
  all_held = true;
  std::string out;
  for (const auto& v : verdicts) {
    all_held = all_held && v.held;
    out += fmt::format("{}  {}: {}\n", v.held ? "PASS" : "FAIL", v.name, v.detail);
  }
  return out;
}

}  // namespace modemu::scenarios
