#pragma once
// An informer: a list+watch cache of one resource, kept current from a
// watch, re-listed when the watch ends or its resourceVersion is too old
// (410), with handlers for adds, updates and deletes and optional indexes.
//
// Threading: one thread per informer lists, watches and runs the
// handlers, in event order. Handlers must be quick (enqueue keys) and must
// not call the informer's own start/stop. Reads (get/list/byIndex) are
// thread-safe and return immutable shared objects (never mutate them: copy).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "client/client.h"

namespace capstan::client {

struct InformerHandlers {
  std::function<void(const ObjectPtr&)> on_add;
  std::function<void(const ObjectPtr& old_obj, const ObjectPtr& new_obj)> on_update;
  std::function<void(const ObjectPtr&)> on_delete;
};

// Values an object is indexed under (e.g. its node name, its owner's uid).
using IndexFunc = std::function<std::vector<std::string>(const Json&)>;

class Informer {
 public:
  // `ns` empty: all namespaces. `resync` > 0 replays every cached object to
  // on_update at that period (a safety net for level-triggered controllers).
  Informer(const Client& client, ResourceRef resource, std::string ns = "", ListOptions selectors = {},
           std::chrono::milliseconds resync = std::chrono::milliseconds(0));
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Before start().
  void addHandlers(InformerHandlers h);
  void addIndex(const std::string& name, IndexFunc fn);

  void start();
  void stop();
  // True once the first list has been applied.
  bool hasSynced() const { return synced_.load(); }
  bool waitForSync(std::chrono::milliseconds timeout) const;

  ObjectPtr get(const std::string& key) const;  // "ns/name" or "name"
  std::vector<ObjectPtr> list(const std::string& ns = "") const;
  std::vector<ObjectPtr> byIndex(const std::string& index, const std::string& value) const;
  size_t size() const;
  const ResourceRef& resource() const { return resource_; }

 private:
  struct Event {
    std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR, or "" for end of stream
    ObjectPtr object;
    Status end_status;
    uint64_t generation = 0;  // which watch it came from
  };

  void run();
  Status relist(std::string* rv);
  void apply(const std::string& type, ObjectPtr obj);
  void replaceAll(std::vector<ObjectPtr> objs);
  void resyncAll();
  // Caller holds mu_.
  void indexLocked(const std::string& key, const ObjectPtr& obj, bool add);

  const Client& client_;
  ResourceRef resource_;
  std::string ns_;
  ListOptions selectors_;
  std::chrono::milliseconds resync_;
  std::vector<InformerHandlers> handlers_;
  std::map<std::string, IndexFunc> index_funcs_;

  mutable std::mutex mu_;  // guards items_ and indexes_
  std::unordered_map<std::string, ObjectPtr> items_;
  std::map<std::string, std::map<std::string, std::map<std::string, ObjectPtr>>> indexes_;
  std::atomic<bool> synced_{false};
  mutable std::mutex sync_mu_;
  mutable std::condition_variable sync_cv_;

  std::mutex events_mu_;  // guards events_, stopping_
  std::condition_variable events_cv_;
  std::deque<Event> events_;
  bool stopping_ = false;
  std::thread thread_;
};

// Shared informers for whole-cluster resources, one per resource, so that
// controllers watching the same kind share one cache.
class InformerFactory {
 public:
  explicit InformerFactory(const Client& client, std::chrono::milliseconds resync = std::chrono::minutes(10))
      : client_(client), resync_(resync) {}
  ~InformerFactory();
  Informer& get(const ResourceRef& r);
  void start();
  bool waitForSync(std::chrono::milliseconds timeout);
  void stop();

 private:
  const Client& client_;
  std::chrono::milliseconds resync_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Informer>> informers_;
};

}  // namespace capstan::client
