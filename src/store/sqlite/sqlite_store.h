#pragma once
// Durable Store on SQLite in WAL mode, kine's idea made event-driven: one
// table is the revision log (a row per put or delete), one writer thread
// applies queued txns in batches, one fsync per batch (group commit), then
// hands the batch's events to the watchers, then answers the callers.
//
// Threading: txn() only enqueues. The writer thread owns the write
// connection and the index of live keys. Reads use a second connection under
// read_mu_. Delivery to watchers is serialised by deliver_mu_.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "store/store.h"
#include "store/watchers.h"

struct sqlite3;

namespace capstan::store {

struct SqliteOptions {
  std::string path;
  // Most txns committed by one fsync.
  size_t max_batch = 2048;
};

class SqliteStore final : public Store {
 public:
  static Result<std::unique_ptr<SqliteStore>> open(const SqliteOptions& opts);
  ~SqliteStore() override;

  Result<RangeResult> range(const RangeRequest& req) override;
  void txn(Txn txn, TxnCallback done) override;
  Result<std::unique_ptr<Watch>> watch(const std::string& prefix, int64_t from_revision,
                                       WatchCallback cb) override;
  Status compact(int64_t revision) override;
  int64_t currentRevision() override;
  int64_t compactedRevision() override;

 private:
  struct Pending {
    Txn txn;
    TxnCallback done;
  };
  struct LiveKey {
    int64_t create_revision;
    int64_t mod_revision;
  };

  explicit SqliteStore(SqliteOptions opts);
  Status init();
  void writerLoop();
  void commitBatch(std::deque<Pending>& batch);

  SqliteOptions opts_;
  sqlite3* wdb_ = nullptr;  // writer thread only (and init)
  sqlite3* rdb_ = nullptr;  // guarded by read_mu_
  std::mutex read_mu_;

  std::mutex queue_mu_;  // guards queue_, stopping_
  std::condition_variable queue_cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;

  std::map<std::string, LiveKey> live_;  // writer thread only (and init)

  std::mutex deliver_mu_;  // serialises delivery with watch registration
  std::atomic<int64_t> revision_{0};   // last committed and delivered revision
  std::atomic<int64_t> compacted_{0};
  std::shared_ptr<WatcherSet> watchers_;
  std::thread writer_;
};

}  // namespace capstan::store
