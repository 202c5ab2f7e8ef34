#include "emulator/data/data_faults.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <vector>

#include <fmt/format.h>

namespace modemu::emulator {

namespace {

struct NamedReason {
  std::string_view name;
  std::uint16_t reason, verbose_type;
  std::int16_t verbose_reason;
};
// Generic reason 5 (release from the network) with the 3GPP SM cause, as a network-initiated
// PDP context deactivation reaches the module; "no-service" is the module's own verdict.
constexpr std::array<NamedReason, 6> kReasons{{
    {"network-failure", 5, 6, 38},
    {"regular-deactivation", 5, 6, 36},
    {"reactivation-requested", 5, 6, 39},
    {"insufficient-resources", 5, 6, 26},
    {"operator-barring", 5, 6, 8},
    {"no-service", 3, 2, 1},
}};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

template <typename T>
bool parse_number(std::string_view text, T& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end;
}

// "1000kbit" -> 1000000
std::optional<std::uint64_t> parse_rate(std::string_view text) {
  std::string t = lower(text);
  std::size_t unit = t.find_first_not_of("0123456789.");
  if (unit == 0 || unit == std::string::npos) return std::nullopt;
  double value = 0;
  if (!parse_number(std::string_view(t).substr(0, unit), value)) return std::nullopt;
  std::string_view u = std::string_view(t).substr(unit);
  if (u.size() > 2 && u.substr(u.size() - 2) == "/s") u.remove_suffix(2);
  double scale = u == "bit" ? 1 : u == "kbit" ? 1e3 : u == "mbit" ? 1e6 : u == "gbit" ? 1e9 : 0;
  double bps = value * scale;
  if (scale == 0 || !(bps >= 1) || bps > 1e12) return std::nullopt;
  return static_cast<std::uint64_t>(std::llround(bps));
}

std::vector<std::string_view> split(std::string_view text, char by) {
  std::vector<std::string_view> out;
  while (true) {
    std::size_t at = text.find(by);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return out;
    text.remove_prefix(at + 1);
  }
}

constexpr std::string_view kSpecs =
    "no-downlink, silence, latency=DURATION, loss=P[,seed=N], cap=RATE, drop=DURATION[,reason=R][,cid=N]";

}  // namespace

std::optional<CallEndReason> parse_call_end_reason(std::string_view text) {
  std::string t = lower(text);
  for (const auto& r : kReasons) {
    if (t == r.name) return CallEndReason{std::string(r.name), r.reason, r.verbose_type, r.verbose_reason};
  }
  if (t.rfind("3gpp:", 0) == 0) {
    int cause = 0;
    if (!parse_number(std::string_view(t).substr(5), cause) || cause < 0 || cause > 255) return std::nullopt;
    return CallEndReason{t, 5, 6, static_cast<std::int16_t>(cause)};
  }
  return std::nullopt;
}

std::string format_rate(std::uint64_t bps) {
  if (bps % 1'000'000'000 == 0) return fmt::format("{}gbit", bps / 1'000'000'000);
  if (bps % 1'000'000 == 0) return fmt::format("{}mbit", bps / 1'000'000);
  if (bps % 1'000 == 0) return fmt::format("{}kbit", bps / 1'000);
  return fmt::format("{}bit", bps);
}

std::string add_data_fault(std::string_view spec, DataFaults& f) {
  auto parts = split(spec, ',');
  std::string_view head = parts[0];
  std::size_t eq = head.find('=');
  std::string name = lower(head.substr(0, eq));
  std::string_view value = eq == std::string_view::npos ? std::string_view() : head.substr(eq + 1);
  bool has_value = eq != std::string_view::npos;
  // Options after the first comma: key=value, each allowed for one fault only.
  std::vector<std::pair<std::string, std::string_view>> options;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    std::size_t at = parts[i].find('=');
    if (at == std::string_view::npos) return fmt::format("\"{}\": option \"{}\" is not key=value", spec, parts[i]);
    options.emplace_back(lower(parts[i].substr(0, at)), parts[i].substr(at + 1));
  }
  auto only_options = [&](std::initializer_list<std::string_view> allowed) -> std::string {
    for (const auto& [key, v] : options) {
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        return fmt::format("\"{}\": {} takes no option \"{}\"", spec, name, key);
      }
    }
    return "";
  };
  auto twice = [&] { return fmt::format("\"{}\": {} is given twice", spec, name); };
  auto needs = [&](std::string_view what) { return fmt::format("\"{}\": {} needs {}", spec, name, what); };

  if (name == "no-downlink" || name == "silence") {
    if (has_value || !options.empty()) return fmt::format("\"{}\": {} takes no value", spec, name);
    bool& flag = name == "silence" ? f.silence : f.no_downlink;
    if (flag) return twice();
    flag = true;
    return "";
  }
  if (name == "latency") {
    if (auto e = only_options({}); !e.empty()) return e;
    Duration d{};
    if (!parse_duration(value, d) || d.count() <= 0) return needs("a duration (latency=200ms)");
    if (f.latency.count() > 0) return twice();
    f.latency = d;
    return "";
  }
  if (name == "loss") {
    if (auto e = only_options({"seed"}); !e.empty()) return e;
    double p = 0;
    if (!parse_number(value, p) || !(p > 0 && p <= 1)) return needs("a probability above 0 and at most 1 (loss=0.3)");
    std::uint64_t seed = 1;
    for (const auto& [key, v] : options) {
      if (!parse_number(v, seed)) return fmt::format("\"{}\": seed=\"{}\" is not a whole number", spec, v);
    }
    if (f.loss > 0) return twice();
    f.loss = p;
    f.seed = seed;
    return "";
  }
  if (name == "cap") {
    if (auto e = only_options({}); !e.empty()) return e;
    auto rate = parse_rate(value);
    if (!rate) return needs("a rate with its unit: bit, kbit, mbit or gbit (cap=1000kbit)");
    if (f.cap_bps > 0) return twice();
    f.cap_bps = *rate;
    return "";
  }
  if (name == "drop") {
    if (auto e = only_options({"reason", "cid"}); !e.empty()) return e;
    SessionDrop drop;
    if (!parse_duration(value, drop.after) || drop.after.count() < 0) {
      return needs("the time after which each session drops (drop=30s)");
    }
    drop.reason = *parse_call_end_reason("network-failure");
    for (const auto& [key, v] : options) {
      if (key == "cid") {
        std::uint32_t cid = 0;
        if (!parse_number(v, cid) || cid == 0) return fmt::format("\"{}\": cid=\"{}\" is not a context id (1 or more)", spec, v);
        drop.cid = cid;
        continue;
      }
      auto reason = parse_call_end_reason(v);
      if (!reason) {
        std::string names;
        for (const auto& r : kReasons) names += fmt::format("{}, ", r.name);
        return fmt::format("\"{}\": unknown call end reason \"{}\" (known: {}or 3gpp:N)", spec, v, names);
      }
      drop.reason = *reason;
    }
    if (f.drop) return twice();
    f.drop = drop;
    return "";
  }
  return fmt::format("\"{}\": unknown data fault \"{}\" (known: {})", spec, name, kSpecs);
}

std::string describe(const DataFaults& f) {
  std::vector<std::string> parts;
  if (f.no_downlink) parts.emplace_back("no-downlink");
  if (f.silence) parts.emplace_back("silence");
  if (f.latency.count() > 0) parts.push_back("latency=" + format_duration(f.latency));
  if (f.loss > 0) parts.push_back(fmt::format("loss={} (seed {})", f.loss, f.seed));
  if (f.cap_bps > 0) parts.push_back("cap=" + format_rate(f.cap_bps));
  if (f.drop) {
    parts.push_back(fmt::format("drop={} ({}{})", format_duration(f.drop->after), f.drop->reason.name,
                                f.drop->cid ? fmt::format(", context {}", *f.drop->cid) : ""));
  }
  if (parts.empty()) return "none";
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

}  // namespace modemu::emulator
