#pragma once
// In-memory Store for unit tests: a multi-version map (etcd's model) under
// one mutex. Not durable. txn callbacks run on the calling thread.

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "store/store.h"
#include "store/watchers.h"

namespace capstan::store {

class MemoryStore final : public Store {
 public:
  MemoryStore();
  Result<RangeResult> range(const RangeRequest& req) override;
  void txn(Txn txn, TxnCallback done) override;
  Result<std::unique_ptr<Watch>> watch(const std::string& prefix, int64_t from_revision,
                                       WatchCallback cb) override;
  Status compact(int64_t revision) override;
  int64_t currentRevision() override;
  int64_t compactedRevision() override;

 private:
  // A version of a key; a tombstone marks a delete.
  struct Version {
    KeyValue kv;
    bool tombstone = false;
  };
  const Version* at(const std::vector<Version>& versions, int64_t rev) const;

  std::mutex mu_;  // guards everything below and serialises delivery
  std::map<std::string, std::vector<Version>> versions_;
  std::vector<Event> log_;  // every event after compacted_
  int64_t revision_ = 0;
  int64_t compacted_ = 0;
  std::shared_ptr<WatcherSet> watchers_;
};

}  // namespace capstan::store
