#include "scenarios/engine.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>

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

}  // namespace

Engine::Engine(scenario::Scenario s, Fleet& fleet, const em::ModemOptions& base)
    : scenario_(std::move(s)), fleet_(fleet), clock_(fleet.clock()) {
  for (const auto& spec : scenario_.modems()) modems_.push_back(&add_modem(fleet_, spec, base));
  subscription_ = fleet_.log().subscribe([this](const em::Event& e) {
    if (!finished_) events_.push_back({e.t - start_.time_since_epoch(), e.modem, e.kind, e.message, e.fields});
  });
}

Engine::~Engine() {
  fleet_.log().unsubscribe(subscription_);
  faults_.clear();
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
  for (std::size_t i = 0; i < modems_.size(); ++i) start_modem(*modems_[i], scenario_.modems(static_cast<int>(i)));
  for (int i = 0; i < scenario_.faults_size(); ++i) {
    const auto& f = scenario_.faults(i);
    faults_.push_back(std::make_unique<FaultTimeline>(fleet_.log(), target(f.modem()), f,
                                                      scenario_.seed() * 1000003u + static_cast<std::uint64_t>(i),
                                                      start_, duration_));
    faults_.back()->start();
  }
  for (const auto& a : scenario_.actions()) {
    auto t = std::make_unique<em::Timer>(clock_);
    t->start(scenario_duration(a.at()), [this, &a] { run_action(a); });
    timers_.push_back(std::move(t));
  }
  auto end = std::make_unique<em::Timer>(clock_);
  end->start(duration_, [this] { finish(fmt::format("scenario {} ends after {}", scenario_.name(), at_time(duration_))); });
  timers_.push_back(std::move(end));
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
    case scenario::Action::kPing: {
      Pinger::Options o;
      if (!a.ping().target().empty()) o.target = a.ping().target();
      if (a.ping().count() != 0) o.count = a.ping().count();
      o.interval = scenario_duration(a.ping().interval(), o.interval);
      o.timeout = scenario_duration(a.ping().timeout(), o.timeout);
      pingers_.push_back(std::make_unique<Pinger>(m, o));
      pingers_.back()->start();
      break;
    }
    default:
      break;
  }
}

void Engine::stop(std::string_view cause) {
  finish(fmt::format("scenario {} stopped after {} ({})", scenario_.name(), at_time(clock_.now() - start_), cause));
}

void Engine::finish(std::string message) {
  if (finished_) return;
  end_ = clock_.now();
  faults_.clear();
  updates_.clear();
  timers_.clear();
  fleet_.log().emit("", "scenario", std::move(message), {{"scenario", scenario_.name()}, {"end", "true"}});
  finished_ = true;
  if (finished_fn_) finished_fn_();
}

bool Engine::matches(const Recorded& e, const scenario::Match& m) const {
  if (e.kind != m.kind()) return false;
  if (!m.modem().empty() && e.modem != m.modem()) return false;
  if (!m.contains().empty() && e.message.find(m.contains()) == std::string::npos) return false;
  auto field = [&e](const std::string& key) -> const std::string* {
    auto it = std::find_if(e.fields.begin(), e.fields.end(), [&](const auto& f) { return f.first == key; });
    return it == e.fields.end() ? nullptr : &it->second;
  };
  for (const auto& [key, value] : m.fields()) {
    const std::string* v = field(key);
    if (v == nullptr || *v != value) return false;
  }
  // Numeric bounds: the field must read as a number.
  auto number = [&field](const std::string& key) -> std::optional<double> {
    const std::string* v = field(key);
    if (v == nullptr || v->empty()) return std::nullopt;
    char* end = nullptr;
    double d = std::strtod(v->c_str(), &end);
    if (end != v->c_str() + v->size()) return std::nullopt;
    return d;
  };
  for (const auto& [key, low] : m.at_least()) {
    auto v = number(key);
    if (!v || *v < low) return false;
  }
  for (const auto& [key, high] : m.at_most()) {
    auto v = number(key);
    if (!v || *v > high) return false;
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
