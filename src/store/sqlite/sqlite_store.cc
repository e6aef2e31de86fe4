#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <fmt/format.h>

#include <optional>

#include "common/log.h"

namespace capstan::store {
namespace {

// A prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return s_; }
  void bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void bind(int i, const std::string& v) { sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC); }
  void bindBlob(int i, const std::string& v) { sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC); }
  int step() { return sqlite3_step(s_); }
  void reset() { sqlite3_reset(s_); sqlite3_clear_bindings(s_); }
  int64_t i64(int c) { return sqlite3_column_int64(s_, c); }
  std::string text(int c) {
    const void* p = sqlite3_column_blob(s_, c);
    int n = sqlite3_column_bytes(s_, c);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
  }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

Status exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    return Status(Code::kInternal, fmt::format("sqlite: {}: {}", sql, msg));
  }
  return Status::ok();
}

Status openDb(const std::string& path, sqlite3** db) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), db, flags, nullptr) != SQLITE_OK)
    return Status(Code::kInternal, fmt::format("sqlite: open {}: {}", path, sqlite3_errmsg(*db)));
  sqlite3_busy_timeout(*db, 5000);
  return Status::ok();
}

// Upper bound for "name < end" when the range has no end.
const std::string kMaxKey = "\xff\xff\xff\xff";

}  // namespace

SqliteStore::SqliteStore(SqliteOptions opts) : opts_(std::move(opts)), watchers_(std::make_shared<WatcherSet>()) {}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const SqliteOptions& opts) {
  std::unique_ptr<SqliteStore> s(new SqliteStore(opts));
  if (auto st = s->init(); !st) return st;
  s->writer_ = std::thread([p = s.get()] { p->writerLoop(); });
  return s;
}

Status SqliteStore::init() {
  if (auto st = openDb(opts_.path, &wdb_); !st) return st;
  for (const char* sql : {
           "PRAGMA journal_mode=WAL",
           // FULL: the WAL is fsync'ed at every commit, so an acknowledged
           // write survives a crash or power loss.
           "PRAGMA synchronous=FULL",
           "PRAGMA wal_autocheckpoint=4000",
           "CREATE TABLE IF NOT EXISTS kv ("
           " id INTEGER PRIMARY KEY AUTOINCREMENT,"
           " name BLOB NOT NULL, rev INTEGER NOT NULL, created INTEGER NOT NULL,"
           " deleted INTEGER NOT NULL, value BLOB NOT NULL)",
           "CREATE INDEX IF NOT EXISTS kv_name_id ON kv(name, id)",
           "CREATE INDEX IF NOT EXISTS kv_rev ON kv(rev)",
           "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)",
       }) {
    if (auto st = exec(wdb_, sql); !st) return st;
  }
  if (auto st = openDb(opts_.path, &rdb_); !st) return st;

  {
    Stmt q(wdb_, "SELECT COALESCE(MAX(rev),0) FROM kv");
    if (q.step() == SQLITE_ROW) revision_ = q.i64(0);
    Stmt m(wdb_, "SELECT k, v FROM meta");
    while (m.step() == SQLITE_ROW) {
      std::string k = m.text(0);
      if (k == "compacted") compacted_ = m.i64(1);
      if (k == "revision") revision_ = std::max<int64_t>(revision_, m.i64(1));
    }
  }
  Stmt live(wdb_,
            "SELECT name, created, rev, deleted FROM kv WHERE id IN (SELECT MAX(id) FROM kv GROUP BY name)");
  while (live.step() == SQLITE_ROW) {
    if (live.i64(3)) continue;
    live_[live.text(0)] = LiveKey{live.i64(1), live.i64(2)};
  }
  LOG_INFO("sqlite store opened", "path", opts_.path, "revision", revision_.load(), "keys", live_.size());
  return Status::ok();
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (wdb_) {
    (void)exec(wdb_, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(wdb_);
  }
  if (rdb_) sqlite3_close(rdb_);
}

void SqliteStore::txn(Txn t, TxnCallback done) {
  {
    std::lock_guard lock(queue_mu_);
    if (!stopping_) {
      queue_.push_back(Pending{std::move(t), std::move(done)});
      queue_cv_.notify_one();
      return;
    }
  }
  done(Status(Code::kUnavailable, "store is shutting down"));
}

void SqliteStore::writerLoop() {
  std::deque<Pending> batch;
  for (;;) {
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      while (!queue_.empty() && batch.size() < opts_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    commitBatch(batch);
    batch.clear();
  }
}

void SqliteStore::commitBatch(std::deque<Pending>& batch) {
  std::vector<Result<TxnResult>> results;
  results.reserve(batch.size());
  std::vector<Event> events;
  // Changes to live_ made by this batch, undone if the commit fails.
  std::vector<std::pair<std::string, std::optional<LiveKey>>> undo;
  int64_t rev = revision_.load();

  Status st = exec(wdb_, "BEGIN IMMEDIATE");
  Stmt ins(wdb_, "INSERT INTO kv(name, rev, created, deleted, value) VALUES(?,?,?,?,?)");
  Stmt val(wdb_, "SELECT value FROM kv WHERE name = ? ORDER BY id DESC LIMIT 1");
  auto lookup = [&](const std::string& key) -> const LiveKey* {
    auto it = live_.find(key);
    return it == live_.end() ? nullptr : &it->second;
  };
  auto remember = [&](const std::string& key) {
    const LiveKey* cur = lookup(key);
    undo.emplace_back(key, cur ? std::optional<LiveKey>(*cur) : std::nullopt);
  };

  for (auto& p : batch) {
    if (!st) {
      results.push_back(st);
      continue;
    }
    TxnResult res;
    bool ok = true;
    for (const auto& c : p.txn.compares) {
      const LiveKey* cur = lookup(c.key);
      if ((cur ? cur->mod_revision : 0) != c.mod_revision) ok = false;
    }
    if (!ok) {
      res.succeeded = false;
      res.revision = rev;
      for (const auto& c : p.txn.compares) {
        const LiveKey* cur = lookup(c.key);
        KeyValue kv{c.key, "", 0, 0};
        if (cur) {
          kv.create_revision = cur->create_revision;
          kv.mod_revision = cur->mod_revision;
          val.bindBlob(1, c.key);
          if (val.step() == SQLITE_ROW) kv.value = val.text(0);
          val.reset();
        }
        res.kvs.push_back(std::move(kv));
      }
      results.push_back(std::move(res));
      continue;
    }
    int64_t this_rev = rev + 1;
    bool wrote = false;
    for (auto& op : p.txn.ops) {
      const LiveKey* cur = lookup(op.key);
      if (op.type == Op::Type::kPut) {
        KeyValue kv{op.key, op.value, cur ? cur->create_revision : this_rev, this_rev};
        ins.bindBlob(1, op.key);
        ins.bind(2, this_rev);
        ins.bind(3, kv.create_revision);
        ins.bind(4, int64_t{0});
        ins.bindBlob(5, op.value);
        if (ins.step() != SQLITE_DONE) st = Status(Code::kInternal, fmt::format("sqlite insert: {}", sqlite3_errmsg(wdb_)));
        ins.reset();
        remember(op.key);
        events.push_back(Event{EventType::kPut, kv, cur == nullptr, std::move(op.decoded)});
        live_[op.key] = LiveKey{kv.create_revision, this_rev};
        res.kvs.push_back(std::move(kv));
        wrote = true;
      } else {
        if (!cur) {
          res.kvs.push_back(KeyValue{op.key, "", 0, 0});
          continue;
        }
        KeyValue kv{op.key, "", cur->create_revision, this_rev};
        val.bindBlob(1, op.key);
        if (val.step() == SQLITE_ROW) kv.value = val.text(0);
        val.reset();
        ins.bindBlob(1, op.key);
        ins.bind(2, this_rev);
        ins.bind(3, kv.create_revision);
        ins.bind(4, int64_t{1});
        ins.bindBlob(5, kv.value);
        if (ins.step() != SQLITE_DONE) st = Status(Code::kInternal, fmt::format("sqlite insert: {}", sqlite3_errmsg(wdb_)));
        ins.reset();
        remember(op.key);
        live_.erase(op.key);
        events.push_back(Event{EventType::kDelete, kv, false});
        res.kvs.push_back(std::move(kv));
        wrote = true;
      }
    }
    if (wrote) rev = this_rev;
    res.succeeded = true;
    res.revision = rev;
    results.push_back(std::move(res));
  }

  if (st) st = exec(wdb_, "COMMIT");
  if (!st) {
    LOG_ERROR("sqlite batch failed", "error", st.message());
    (void)exec(wdb_, "ROLLBACK");
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
      if (it->second) live_[it->first] = *it->second;
      else live_.erase(it->first);
    }
    for (auto& p : batch) p.done(st);
    return;
  }
  {
    std::lock_guard lock(deliver_mu_);
    revision_ = rev;
    watchers_->deliver(events);
  }
  for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
}

Result<RangeResult> SqliteStore::range(const RangeRequest& req) {
  int64_t current = revision_.load();
  int64_t rev = req.revision == 0 ? current : req.revision;
  if (rev > current) return Status(Code::kBadRequest, "requested revision is in the future");
  if (req.revision != 0 && rev < compacted_.load())
    return Status(Code::kGone, "required revision has been compacted");
  std::string end = req.end.empty() ? req.key + std::string(1, '\0')
                                    : (req.end == std::string(1, '\0') ? kMaxKey : req.end);
  RangeResult out;
  out.revision = rev;
  std::lock_guard lock(read_mu_);
  Stmt q(rdb_,
         "SELECT name, value, created, rev, deleted FROM kv WHERE id IN ("
         " SELECT MAX(id) FROM kv WHERE name >= ? AND name < ? AND rev <= ? GROUP BY name)"
         " ORDER BY name");
  if (!q.ok()) return Status(Code::kInternal, fmt::format("sqlite: {}", sqlite3_errmsg(rdb_)));
  q.bindBlob(1, req.key);
  q.bindBlob(2, end);
  q.bind(3, rev);
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    if (q.i64(4)) continue;
    if (req.limit > 0 && static_cast<int64_t>(out.kvs.size()) >= req.limit) {
      out.more = true;
      break;
    }
    out.kvs.push_back(KeyValue{q.text(0), q.text(1), q.i64(2), q.i64(3)});
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return Status(Code::kInternal, fmt::format("sqlite: {}", sqlite3_errmsg(rdb_)));
  return out;
}

Result<std::unique_ptr<Watch>> SqliteStore::watch(const std::string& prefix, int64_t from_revision,
                                                  WatchCallback cb) {
  std::lock_guard lock(deliver_mu_);
  if (from_revision != 0 && from_revision <= compacted_.load())
    return Status(Code::kGone, "required revision has been compacted");
  int64_t current = revision_.load();
  if (from_revision != 0 && from_revision <= current) {
    std::vector<Event> replay;
    {
      std::lock_guard rlock(read_mu_);
      Stmt q(rdb_,
             "SELECT name, value, created, rev, deleted FROM kv WHERE rev >= ? AND rev <= ?"
             " AND name >= ? AND name < ? ORDER BY id");
      q.bind(1, from_revision);
      q.bind(2, current);
      std::string end = prefix.empty() ? kMaxKey : prefixEnd(prefix);
      q.bindBlob(3, prefix);
      q.bindBlob(4, end);
      while (q.step() == SQLITE_ROW) {
        KeyValue kv{q.text(0), q.text(1), q.i64(2), q.i64(3)};
        bool deleted = q.i64(4) != 0;
        bool created = !deleted && kv.create_revision == kv.mod_revision;
        replay.push_back(Event{deleted ? EventType::kDelete : EventType::kPut, std::move(kv), created});
      }
    }
    if (!replay.empty()) cb(replay);
  }
  return watchers_->add(prefix, std::move(cb));
}

Status SqliteStore::compact(int64_t revision) {
  // Runs as a txn-like operation on its own connection; SQLite serialises
  // writers, and busy_timeout covers the writer thread holding the lock.
  if (revision <= compacted_.load()) return Status(Code::kGone, "revision already compacted");
  if (revision > revision_.load()) return Status(Code::kBadRequest, "revision is in the future");
  std::lock_guard lock(read_mu_);
  if (auto st = exec(rdb_, "BEGIN IMMEDIATE"); !st) return st;
  Stmt del(rdb_,
           "DELETE FROM kv WHERE rev <= ?1 AND (deleted = 1 OR id < ("
           " SELECT MAX(k2.id) FROM kv AS k2 WHERE k2.name = kv.name AND k2.rev <= ?1))");
  del.bind(1, revision);
  if (del.step() != SQLITE_DONE) {
    (void)exec(rdb_, "ROLLBACK");
    return Status(Code::kInternal, fmt::format("sqlite compact: {}", sqlite3_errmsg(rdb_)));
  }
  Stmt meta(rdb_, "INSERT OR REPLACE INTO meta(k, v) VALUES('compacted', ?), ('revision', ?)");
  meta.bind(1, revision);
  meta.bind(2, revision_.load());
  if (meta.step() != SQLITE_DONE) {
    (void)exec(rdb_, "ROLLBACK");
    return Status(Code::kInternal, fmt::format("sqlite compact: {}", sqlite3_errmsg(rdb_)));
  }
  if (auto st = exec(rdb_, "COMMIT"); !st) return st;
  compacted_ = revision;
  (void)exec(rdb_, "PRAGMA wal_checkpoint(PASSIVE)");
  return Status::ok();
}

int64_t SqliteStore::currentRevision() { return revision_.load(); }
int64_t SqliteStore::compactedRevision() { return compacted_.load(); }

}  // namespace capstan::store
