#include "emulator/event_log.hpp"

#include <fmt/format.h>

namespace modemu::emulator {

std::string_view Event::field(std::string_view key) const {
  for (const auto& [k, v] : fields) {
    if (k == key) return v;
  }
  return {};
}

EventLog::EventLog(const Clock& clock, std::size_t history) : clock_(clock), history_limit_(history) {}

void EventLog::emit(std::string modem, std::string kind, std::string message,
                    std::vector<std::pair<std::string, std::string>> fields) {
  Event event{next_seq_++, clock_.elapsed(), std::move(modem), std::move(kind), std::move(message), std::move(fields)};
  history_.push_back(event);
  if (history_.size() > history_limit_) history_.pop_front();
  // A subscriber may unsubscribe (or subscribe) while being called: iterate over a snapshot.
  std::vector<SubscriptionId> ids;
  ids.reserve(subscribers_.size());
  for (const auto& [id, s] : subscribers_) ids.push_back(id);
  for (SubscriptionId id : ids) {
    auto it = subscribers_.find(id);
    if (it != subscribers_.end()) it->second(event);
  }
}

EventLog::SubscriptionId EventLog::subscribe(Subscriber subscriber) {
  SubscriptionId id = next_sub_++;
  subscribers_.emplace(id, std::move(subscriber));
  return id;
}

void EventLog::unsubscribe(SubscriptionId id) { subscribers_.erase(id); }

std::string format_text(const Event& event) {
  double seconds = std::chrono::duration<double>(event.t).count();
  std::string who = event.modem.empty() ? std::string("modemu") : event.modem;
  return fmt::format("[{:10.3f}] {} {}: {}", seconds, who, event.kind, event.message);
}

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

std::string format_json(const Event& event) {
  std::string out = fmt::format(R"({{"seq":{},"t":{:.6f},"modem":"{}","kind":"{}","message":"{}")", event.seq,
                                std::chrono::duration<double>(event.t).count(), json_escape(event.modem),
                                json_escape(event.kind), json_escape(event.message));
  if (!event.fields.empty()) {
    out += R"(,"fields":{)";
    bool first = true;
    for (const auto& [k, v] : event.fields) {
      if (!first) out += ',';
      first = false;
      out += fmt::format(R"("{}":"{}")", json_escape(k), json_escape(v));
    }
    out += '}';
  }
  out += '}';
  return out;
}

}  // namespace modemu::emulator
