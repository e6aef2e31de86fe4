#pragma once
// Creation and deletion expectations of a pod-owning controller, as
// upstream's ControllerExpectations / UIDTrackingControllerExpectations.
//
// A controller's writes are acknowledged before its informer shows them;
// a sync in between would count the old pods and act again (duplicate
// creations, double deletions). So before creating n pods a sync calls
// expectCreations(key, n) and each pod add the informer delivers for that
// owner lowers the count; deletions are tracked by pod key, lowered when
// the informer shows the pod being deleted or gone. Until the counts reach
// zero, satisfied(key) is false and the sync only refreshes status.
// Expectations older than the TTL (upstream: 5 minutes) count as satisfied,
// so a lost event cannot wedge an owner forever.
//
// Threading: thread-safe (informer handlers observe, workers expect).

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"

namespace capstan::controllers {

class ControllerExpectations {
 public:
  explicit ControllerExpectations(const Clock& clock, std::chrono::seconds ttl = std::chrono::minutes(5))
      : clock_(clock), ttl_(ttl) {}

  // True when `key` has no outstanding expectations (or they expired).
  bool satisfied(const std::string& key) const;
  // Replaces key's expectations with `adds` creations to observe.
  void expectCreations(const std::string& key, int adds);
  // Replaces key's expectations with deletions of these pod keys.
  void expectDeletions(const std::string& key, const std::vector<std::string>& pod_keys);
  void creationObserved(const std::string& key);
  // A pod of `key` was seen deleted (or being deleted); counts only when it
  // was one this owner expected to delete.
  void deletionObserved(const std::string& key, const std::string& pod_key);
  // Creations that were never sent (an earlier batch failed).
  void lowerCreations(const std::string& key, int n);
  void remove(const std::string& key);

 private:
  struct Entry {
    int adds = 0;
    std::set<std::string> deletes;
    std::chrono::steady_clock::time_point set_at;
  };
  const Clock& clock_;
  const std::chrono::seconds ttl_;
  mutable std::mutex mu_;  // guards entries_
  std::map<std::string, Entry> entries_;
};

}  // namespace capstan::controllers
