#include "floors.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace capstan::bench {
namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    throw std::runtime_error(std::string("sqlite ") + what + ": " + sqlite3_errmsg(db));
}

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error(std::string("sqlite: ") + sql + ": " + msg);
  }
}

// The store's schema and settings (src/store/sqlite/sqlite_store.cc), so the
// floor is the store's own write path without anything above it.
sqlite3* openLikeStore(const std::string& path) {
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK)
    throw std::runtime_error("sqlite open " + path);
  for (const char* sql : {
           "PRAGMA journal_mode=WAL",
           "PRAGMA synchronous=FULL",
           "PRAGMA wal_autocheckpoint=4000",
           "CREATE TABLE kv (id INTEGER PRIMARY KEY AUTOINCREMENT, name BLOB NOT NULL, rev INTEGER NOT NULL,"
           " created INTEGER NOT NULL, deleted INTEGER NOT NULL, value BLOB NOT NULL)",
           "CREATE INDEX kv_name_id ON kv(name, id)",
           "CREATE INDEX kv_rev ON kv(rev)",
       })
    exec(db, sql);
  return db;
}

// A JSON-looking value of exactly `n` bytes (SQLite does not compress, so
// only the size matters; this keeps it printable).
std::string rowValue(size_t n, int64_t i) {
  std::string v = "{\"kind\":\"ConfigMap\",\"seq\":" + std::to_string(i) + ",\"data\":\"";
  while (v.size() + 2 < n) v += static_cast<char>('a' + (v.size() * 7 + static_cast<size_t>(i)) % 26);
  v += "\"}";
  v.resize(std::max(n, v.size()));
  return v;
}

void insertRows(sqlite3* db, sqlite3_stmt* ins, int64_t first, size_t n, size_t row_bytes, const char* prefix) {
  for (size_t k = 0; k < n; ++k) {
    int64_t rev = first + static_cast<int64_t>(k);
    char key[128];
    std::snprintf(key, sizeof key, "/registry/core/%s/default/floor-%08lld", prefix, static_cast<long long>(rev));
    std::string value = rowValue(row_bytes, rev);
    sqlite3_bind_blob(ins, 1, key, static_cast<int>(std::strlen(key)), SQLITE_TRANSIENT);
    sqlite3_bind_int64(ins, 2, rev);
    sqlite3_bind_int64(ins, 3, rev);
    sqlite3_bind_int64(ins, 4, 0);
    sqlite3_bind_blob(ins, 5, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    check(sqlite3_step(ins), db, "insert");
    sqlite3_reset(ins);
  }
}

}  // namespace

FsyncFloor measureFdatasync(const std::string& dir, double seconds) {
  std::string path = dir + "/fdatasync.floor";
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  // Preallocate and make the size durable, so each timed fdatasync flushes
  // data only (as a reused WAL does), not a growing file's metadata.
  constexpr size_t kBlock = 4096, kFile = 4 << 20;
  std::vector<char> block(kBlock, 'x');
  for (size_t off = 0; off < kFile; off += kBlock)
    if (::pwrite(fd, block.data(), kBlock, static_cast<off_t>(off)) != static_cast<ssize_t>(kBlock))
      throw std::runtime_error("pwrite");
  ::fsync(fd);
  std::vector<double> lat;
  auto start = Clock::now();
  size_t off = 0;
  while (msSince(start) < seconds * 1000 || lat.size() < 100) {
    block[0] = static_cast<char>(lat.size());
    auto t0 = Clock::now();
    if (::pwrite(fd, block.data(), kBlock, static_cast<off_t>(off)) != static_cast<ssize_t>(kBlock) ||
        ::fdatasync(fd) != 0)
      throw std::runtime_error(std::string("write+fdatasync: ") + std::strerror(errno));
    lat.push_back(msSince(t0));
    off = (off + kBlock) % kFile;
  }
  ::close(fd);
  std::filesystem::remove(path);
  return FsyncFloor{summarize(std::move(lat))};
}

SqliteInsertFloor measureSqliteInserts(const std::string& dir, size_t batch, size_t row_bytes, double seconds) {
  std::string path = dir + "/insert-floor.db";
  sqlite3* db = openLikeStore(path);
  sqlite3_stmt* ins = nullptr;
  check(sqlite3_prepare_v2(db, "INSERT INTO kv(name, rev, created, deleted, value) VALUES(?,?,?,?,?)", -1, &ins,
                           nullptr),
        db, "prepare");
  std::vector<double> commits;
  int64_t next = 1;
  auto start = Clock::now();
  while (msSince(start) < seconds * 1000 || commits.size() < 20) {
    auto t0 = Clock::now();
    exec(db, "BEGIN IMMEDIATE");
    insertRows(db, ins, next, batch, row_bytes, "configmaps");
    exec(db, "COMMIT");
    commits.push_back(msSince(t0));
    next += static_cast<int64_t>(batch);
  }
  double elapsed = msSince(start) / 1000;
  sqlite3_finalize(ins);
  sqlite3_close(db);
  for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path + s);
  SqliteInsertFloor f;
  f.batch = batch;
  f.row_bytes = row_bytes;
  f.rows_per_s = static_cast<double>(next - 1) / elapsed;
  f.commit_ms = summarize(std::move(commits));
  return f;
}

SqliteScanFloor measureSqliteScan(const std::string& dir, size_t rows, size_t row_bytes, int runs) {
  std::string path = dir + "/scan-floor.db";
  sqlite3* db = openLikeStore(path);
  sqlite3_stmt* ins = nullptr;
  check(sqlite3_prepare_v2(db, "INSERT INTO kv(name, rev, created, deleted, value) VALUES(?,?,?,?,?)", -1, &ins,
                           nullptr),
        db, "prepare");
  exec(db, "BEGIN");
  insertRows(db, ins, 1, rows, row_bytes, "pods");
  exec(db, "COMMIT");
  sqlite3_finalize(ins);
  // The store's range query (SqliteStore::range), copying each row out.
  sqlite3_stmt* q = nullptr;
  check(sqlite3_prepare_v2(db,
                           "SELECT name, value, created, rev, deleted FROM kv WHERE id IN ("
                           " SELECT MAX(id) FROM kv WHERE name >= ? AND name < ? AND rev <= ? GROUP BY name)"
                           " ORDER BY name",
                           -1, &q, nullptr),
        db, "prepare");
  std::vector<double> times;
  const std::string lo = "/registry/core/pods/default/", hi = "/registry/core/pods/default0";
  for (int r = 0; r < runs; ++r) {
    auto t0 = Clock::now();
    sqlite3_bind_blob(q, 1, lo.data(), static_cast<int>(lo.size()), SQLITE_STATIC);
    sqlite3_bind_blob(q, 2, hi.data(), static_cast<int>(hi.size()), SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, static_cast<int64_t>(rows));
    std::vector<std::string> out;
    out.reserve(rows);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
      auto* p = static_cast<const char*>(sqlite3_column_blob(q, 1));
      out.emplace_back(p, static_cast<size_t>(sqlite3_column_bytes(q, 1)));
    }
    check(rc, db, "scan");
    sqlite3_reset(q);
    times.push_back(msSince(t0));
    if (out.size() != rows) throw std::runtime_error("scan floor read " + std::to_string(out.size()) + " rows");
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path + s);
  return SqliteScanFloor{rows, median(std::move(times))};
}

}  // namespace capstan::bench
