#pragma once
// The watch cache (kube-apiserver's cacher): every object under /registry/
// in memory, parsed once with its resourceVersion set and serialized once,
// fed by the store's own change stream, plus a window of recent events for
// watch resume. GET, LIST and WATCH are served from it; the store is read
// once at start.
//
// Threading: the store's writer thread applies events (under mu_ exclusive)
// and then calls watch callbacks, which must not block. Readers take mu_
// shared. Because the store hands events to watchers before it answers a
// txn, a client that heard "created" finds the object here.

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/json.h"
#include "store/store.h"

namespace capstan::apiserver {

struct CachedObject {
  std::string key;
  Json obj;          // with metadata.resourceVersion set
  std::string json;  // obj serialized
  int64_t create_revision = 0;
  int64_t mod_revision = 0;

  // obj without metadata.managedFields, as in-process watches hand it on:
  // made by the first watcher that asks and shared by the rest while any
  // holds it, so that a write costs one such copy however many components
  // watch its kind (and the cache's window does not keep it alive).
  std::shared_ptr<const Json> withoutManagedFields() const;

 private:
  mutable std::atomic<std::weak_ptr<const Json>> lean_;
};
using ObjectPtr = std::shared_ptr<const CachedObject>;

struct CacheEvent {
  enum class Type { kAdded, kModified, kDeleted };
  Type type;
  ObjectPtr obj;  // for kDeleted: the last state, with the delete's revision as resourceVersion
  ObjectPtr prev;  // the state before this event (null for kAdded)
  int64_t revision;
};

class CacheWatch {
 public:
  virtual ~CacheWatch() = default;
};

class ObjectCache {
 public:
  using Callback = std::function<void(const std::vector<CacheEvent>&)>;

  // Loads the current state and starts following the store. `window` is
  // the number of recent events kept for resuming watches.
  static Result<std::unique_ptr<ObjectCache>> start(store::Store& store, std::string prefix, size_t window);
  ~ObjectCache();

  int64_t revision() const;
  ObjectPtr get(const std::string& key) const;
  // Objects under a key prefix, in key order, and the revision they are at.
  std::vector<ObjectPtr> list(const std::string& prefix, int64_t* revision) const;
  size_t size() const;

  // Events under `prefix` after revision `after` (a resourceVersion). Gone
  // if events after `after` have left the window.
  Result<std::unique_ptr<CacheWatch>> watch(const std::string& prefix, int64_t after, Callback cb);

  // Builds a cached object from a store value (parse + resourceVersion).
  static Result<ObjectPtr> decode(const store::KeyValue& kv, int64_t resource_version);
  // The same from the value already decoded.
  static ObjectPtr fromDecoded(const store::KeyValue& kv, int64_t resource_version, Json obj);

 private:
  class Handle;
  struct Watcher {
    std::string prefix;
    Callback cb;
  };
  ObjectCache() = default;
  void apply(const std::vector<store::Event>& events);
  void removeWatcher(uint64_t id);

  mutable std::shared_mutex mu_;  // guards objects_, events_, revision_, window_start_
  std::map<std::string, ObjectPtr> objects_;
  std::deque<CacheEvent> events_;
  size_t window_ = 0;
  int64_t revision_ = 0;
  int64_t window_start_ = 0;  // every event after this revision is in events_

  // Guards watchers_; held while callbacks run and across apply(), so
  // registration and delivery are serialised. Lock order: watchers_mu_, mu_.
  std::mutex watchers_mu_;
  std::map<uint64_t, Watcher> watchers_;
  uint64_t next_id_ = 1;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  std::unique_ptr<store::Watch> store_watch_;
};

}  // namespace capstan::apiserver
