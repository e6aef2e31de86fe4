#include "client/event_recorder.h"

#include <fmt/format.h>

namespace capstan::client {

Json objectReference(const Json& obj) {
  Json ref = Json::object();
  for (const char* f : {"kind", "apiVersion"})
    if (auto it = obj.find(f); it != obj.end() && it->is_string()) ref[f] = *it;
  if (auto m = obj.find("metadata"); m != obj.end() && m->is_object())
    for (const char* f : {"namespace", "name", "uid", "resourceVersion"})
      if (auto it = m->find(f); it != m->end() && it->is_string()) ref[f] = *it;
  return ref;
}

EventRecorder::EventRecorder(const Client& client, std::string component, std::string host, const Clock& clock)
    : client_(client), component_(std::move(component)), host_(std::move(host)), clock_(clock) {}

void EventRecorder::forgetOld(WallTime now) {
  // order_ runs from the newest repeat to the oldest, so the stale ones and
  // the ones past the bound are all at its back.
  while (!order_.empty()) {
    auto it = seen_.find(order_.back());
    if (seen_.size() <= kMaxRemembered && now - it->second.seen.last <= std::chrono::minutes(10)) break;
    seen_.erase(it);
    order_.pop_back();
  }
}

void EventRecorder::record(const Json& involved, const std::string& type, const std::string& reason,
                           const std::string& message) {
  Json ref = objectReference(involved);
  std::string ns = ref.value("namespace", "default");
  if (ns.empty()) ns = "default";
  WallTime now = clock_.now();
  std::string stamp = formatRfc3339(now);
  std::string key = fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}", ref.value("uid", ""), ref.value("name", ""), type,
                                reason, message);

  Seen seen;
  bool repeat = false;
  {
    std::lock_guard lock(mu_);
    forgetOld(now);
    auto it = seen_.find(key);
    if (it != seen_.end()) {
      repeat = true;
      it->second.seen.count++;
      it->second.seen.last = now;
      order_.splice(order_.begin(), order_, it->second.place);
      seen = it->second.seen;
    } else {
      auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
      // The sequence number keeps names unique when the clock stands still
      // (a test clock) or two events share a nanosecond.
      seen = {fmt::format("{}.{:x}", ref.value("name", "object"), nanos + static_cast<int64_t>(++sequence_)), 1, now};
      order_.push_front(key);
      seen_.emplace(std::move(key), Remembered{seen, order_.begin()});
      forgetOld(now);
    }
  }
  if (repeat) {
    Json patch = {{"count", seen.count}, {"lastTimestamp", stamp}};
    HttpCall c{.method = "PATCH", .path = res::kEvents.path(ns, seen.name), .body = patch.dump(),
               .content_type = "application/merge-patch+json"};
    client_.sendAsync(std::move(c));
    return;
  }
  // Reasons and messages may quote what a container or a registry said;
  // the object goes to the server as it is (HttpCall::object), not
  // through a serialiser that would reject invalid UTF-8.
  auto ev = std::make_shared<Json>(Json{{"apiVersion", "v1"},
                                        {"kind", "Event"},
                                        {"metadata", {{"name", seen.name}, {"namespace", ns}}},
                                        {"involvedObject", std::move(ref)},
                                        {"reason", sanitizeUtf8(reason)},
                                        {"message", sanitizeUtf8(message)},
                                        {"type", type},
                                        {"count", 1},
                                        {"firstTimestamp", stamp},
                                        {"lastTimestamp", stamp},
                                        {"eventTime", nullptr},
                                        {"source", {{"component", component_}}},
                                        {"reportingComponent", component_},
                                        {"reportingInstance", host_}});
  if (!host_.empty()) (*ev)["source"]["host"] = host_;
  client_.sendAsync({.method = "POST", .path = res::kEvents.path(ns), .object = std::move(ev)});
}

}  // namespace capstan::client
