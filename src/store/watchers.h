#pragma once
// Private to the store backends: the set of live watches and in-order
// delivery to them. The owner serialises deliver() and add() with its own
// lock, so that a watch registered after replaying history up to revision R
// receives exactly the events after R.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/store.h"

namespace capstan::store {

class WatcherSet : public std::enable_shared_from_this<WatcherSet> {
 public:
  // Caller holds the owner's delivery lock.
  std::unique_ptr<Watch> add(std::string prefix, WatchCallback cb);
  void deliver(const std::vector<Event>& events);
  size_t size();

 private:
  class Handle;
  struct Entry {
    std::string prefix;
    WatchCallback cb;
  };
  void remove(uint64_t id);

  std::mutex mu_;  // guards entries_; held while callbacks run
  std::map<uint64_t, Entry> entries_;
  uint64_t next_id_ = 1;
};

// Filters a batch down to the keys under a prefix.
std::vector<Event> eventsUnder(const std::vector<Event>& events, const std::string& prefix);

}  // namespace capstan::store
