#pragma once
// Keeps the cluster zone current from the Service, EndpointSlice and Pod
// informers and publishes it as an immutable ZoneSnapshot.
//
// Threading: the informers' threads call the handlers, which only record
// the object's DNS-relevant fields under mu_ and wake the builder thread.
// The builder copies the sources (pointers) and builds a new snapshot
// outside the lock, so bursts of events coalesce into one build, then
// publishes it with an atomic store. Readers (the server's threads) call
// current(), which never blocks on a build: they keep their snapshot and
// compare generation() to learn cheaply that a newer one exists.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/informer.h"
#include "dns/zone_snapshot.h"

namespace capstan::dns {

class RecordStore {
 public:
  // `domain` e.g. "cluster.local". Until start() has seen the informers
  // synced, the snapshot is empty and not `synced`.
  explicit RecordStore(std::string domain);
  ~RecordStore();
  RecordStore(const RecordStore&) = delete;
  RecordStore& operator=(const RecordStore&) = delete;

  // Adds the store's handlers to the three informers; before the factory
  // starts them. The handlers hold `self`: the factory may outlive the
  // server, and events after stop() are harmless.
  static void attach(const std::shared_ptr<RecordStore>& self, client::InformerFactory& informers);

  // Starts the builder thread: it waits for the attached informers' first
  // lists, publishes a synced snapshot, then rebuilds on every change.
  void start();
  void stop();

  std::shared_ptr<const ZoneSnapshot> current() const { return snapshot_.load(std::memory_order_acquire); }
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // The handlers' work, public for tests that feed objects directly.
  enum class Kind { kService, kSlice, kPod };
  void apply(Kind kind, const Json& obj, bool deleted);
  // Builds and publishes a synced snapshot now, on the caller's thread
  // (the builder; tests).
  void rebuild();

 private:
  void run();

  const std::string domain_;
  std::vector<const client::Informer*> informers_;  // set by attach, before start

  mutable std::mutex mu_;  // guards sources_, dirty_, stopping_
  std::condition_variable cv_;
  ClusterSources sources_;
  bool dirty_ = false;
  bool stopping_ = false;
  std::thread builder_;

  std::mutex build_mu_;  // one build at a time, so generations publish in order
  std::atomic<std::shared_ptr<const ZoneSnapshot>> snapshot_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace capstan::dns
