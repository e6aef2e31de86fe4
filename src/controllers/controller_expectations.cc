#include "controllers/controller_expectations.h"

namespace capstan::controllers {

bool ControllerExpectations::satisfied(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return true;
  const Entry& e = it->second;
  if (e.adds <= 0 && e.deletes.empty()) return true;
  return clock_.monotonic() - e.set_at > ttl_;
}

void ControllerExpectations::expectCreations(const std::string& key, int adds) {
  std::lock_guard lock(mu_);
  entries_[key] = Entry{adds, {}, clock_.monotonic()};
}

void ControllerExpectations::expectDeletions(const std::string& key,
                                             const std::vector<std::string>& pod_keys) {
  std::lock_guard lock(mu_);
  entries_[key] = Entry{0, {pod_keys.begin(), pod_keys.end()}, clock_.monotonic()};
}

void ControllerExpectations::creationObserved(const std::string& key) { lowerCreations(key, 1); }

void ControllerExpectations::lowerCreations(const std::string& key, int n) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) it->second.adds -= n;
}

void ControllerExpectations::deletionObserved(const std::string& key, const std::string& pod_key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) it->second.deletes.erase(pod_key);
}

void ControllerExpectations::remove(const std::string& key) {
  std::lock_guard lock(mu_);
  entries_.erase(key);
}

}  // namespace capstan::controllers
