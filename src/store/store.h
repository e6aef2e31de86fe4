#pragma once
// The Store: capstan's only truth. Its shape follows etcd v3 so that an etcd
// backend is a thin adapter:
//   - every write gets the next cluster-wide revision (int64, starting at 1);
//   - a key has a create_revision and a mod_revision;
//   - range reads a key or [key, end) at the current or an older revision;
//   - txn applies puts/deletes atomically when all compares hold
//     (compare-and-swap on mod_revision, 0 meaning "absent");
//   - watch delivers every event of a prefix from a revision on, in order,
//     exactly once; a revision at or below the compacted one is Gone;
//   - compact forgets history before a revision.
//
// Threading: every method is thread-safe. txn is asynchronous: the callback
// runs on the store's writer thread after the write is durable (fsync'ed for
// durable backends), and only after every watcher has been handed the
// write's events, so a reader that heard "done" sees the write in caches fed
// by watches. Watch callbacks run on the writer thread (or, for the replay of
// history, on the thread calling watch()) and must not block.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"

namespace capstan::store {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
};

enum class EventType { kPut, kDelete };

struct Event {
  EventType type = EventType::kPut;
  // For a put: the new key-value. For a delete: key and the revision of the
  // delete in mod_revision, and the deleted value in value.
  KeyValue kv;
  bool is_create = false;  // a put that created the key
  // A put's Op::decoded, moved here by the store; never for replayed
  // history. Handed over: a watcher that is its only holder
  // (use_count() == 1) may move the object out, leaving JSON null, so a
  // watcher uses it only while it is an object and otherwise parses `kv`.
  std::shared_ptr<nlohmann::json> decoded;
};

struct RangeRequest {
  std::string key;
  // Empty: just `key`. Otherwise the half-open range [key, end).
  std::string end;
  // 0 reads the current revision.
  int64_t revision = 0;
  // 0 means no limit.
  int64_t limit = 0;
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  bool more = false;
  int64_t revision = 0;  // the revision the read was served at
};

struct Compare {
  std::string key;
  int64_t mod_revision = 0;  // must equal; 0 = key absent
};

struct Op {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  std::string key;
  std::string value;
  // For a put, optionally: the value as the writer already holds it
  // decoded, given up by the writer. The store never reads it; it moves it
  // to the put's Event so that a watcher need not parse the value again.
  std::shared_ptr<nlohmann::json> decoded;
};

struct Txn {
  std::vector<Compare> compares;
  std::vector<Op> ops;
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;  // revision of the write (current revision if it failed)
  // If succeeded: one entry per op: the written kv for a put, the deleted kv
  // (with mod_revision = delete revision) for a delete.
  // If not: the current kv of each compared key (mod_revision 0 if absent).
  std::vector<KeyValue> kvs;
};

using TxnCallback = std::function<void(Result<TxnResult>)>;
using WatchCallback = std::function<void(const std::vector<Event>&)>;

// Returns the smallest key greater than every key with this prefix.
std::string prefixEnd(const std::string& prefix);

// A live watch; destroying it cancels delivery (no callback runs after the
// destructor returns).
class Watch {
 public:
  virtual ~Watch() = default;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<RangeResult> range(const RangeRequest& req) = 0;

  // Applies the txn atomically. Errors (Internal, Unavailable) only for
  // failures of the backend; a failed compare is a successful call with
  // succeeded = false.
  virtual void txn(Txn txn, TxnCallback done) = 0;

  // Delivers events for keys starting with `prefix` whose revision is at
  // least from_revision (0: only future events). Gone if from_revision is at
  // or below the compacted revision.
  virtual Result<std::unique_ptr<Watch>> watch(const std::string& prefix, int64_t from_revision,
                                               WatchCallback cb) = 0;

  // Forgets history before `revision`; reads and watches at older
  // revisions get Gone.
  virtual Status compact(int64_t revision) = 0;

  virtual int64_t currentRevision() = 0;
  virtual int64_t compactedRevision() = 0;

  // Blocking convenience around txn for callers off the I/O threads.
  Result<TxnResult> txnSync(Txn txn);
};

}  // namespace capstan::store
