#include "store/watchers.h"

namespace capstan::store {

class WatcherSet::Handle final : public Watch {
 public:
  Handle(std::weak_ptr<WatcherSet> set, uint64_t id) : set_(std::move(set)), id_(id) {}
  ~Handle() override {
    if (auto s = set_.lock()) s->remove(id_);
  }

 private:
  std::weak_ptr<WatcherSet> set_;
  uint64_t id_;
};

std::unique_ptr<Watch> WatcherSet::add(std::string prefix, WatchCallback cb) {
  std::lock_guard lock(mu_);
  uint64_t id = next_id_++;
  entries_.emplace(id, Entry{std::move(prefix), std::move(cb)});
  return std::make_unique<Handle>(weak_from_this(), id);
}

void WatcherSet::remove(uint64_t id) {
  std::lock_guard lock(mu_);
  entries_.erase(id);
}

size_t WatcherSet::size() {
  std::lock_guard lock(mu_);
  return entries_.size();
}

std::vector<Event> eventsUnder(const std::vector<Event>& events, const std::string& prefix) {
  std::vector<Event> out;
  for (const auto& e : events)
    if (e.kv.key.compare(0, prefix.size(), prefix) == 0) out.push_back(e);
  return out;
}

void WatcherSet::deliver(const std::vector<Event>& events) {
  if (events.empty()) return;
  std::lock_guard lock(mu_);
  for (auto& [id, entry] : entries_) {
    if (entry.prefix.empty()) {
      entry.cb(events);
      continue;
    }
    bool all = true;
    for (const auto& e : events)
      if (e.kv.key.compare(0, entry.prefix.size(), entry.prefix) != 0) { all = false; break; }
    if (all) {
      entry.cb(events);
    } else {
      auto sub = eventsUnder(events, entry.prefix);
      if (!sub.empty()) entry.cb(sub);
    }
  }
}

}  // namespace capstan::store
