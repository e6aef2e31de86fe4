#include "floors.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common.h"

namespace capstan::bench {
namespace {

using Clock = std::chrono::steady_clock;

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

TransferFloor measureTlsTransfer(const std::string& tls_dir, size_t bytes, int runs) {
  auto fail = [](const std::string& what) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    return std::runtime_error("TLS transfer floor: " + what + ": " + buf);
  };
  SSL_CTX* sctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  if (!sctx || !cctx || SSL_CTX_use_certificate_chain_file(sctx, (tls_dir + "server.crt").c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(sctx, (tls_dir + "server.key").c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_load_verify_locations(sctx, (tls_dir + "ca.crt").c_str(), nullptr) != 1 ||
      SSL_CTX_load_verify_locations(cctx, (tls_dir + "ca.crt").c_str(), nullptr) != 1 ||
      SSL_CTX_use_certificate_file(cctx, (tls_dir + "admin.crt").c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_use_PrivateKey_file(cctx, (tls_dir + "admin.key").c_str(), SSL_FILETYPE_PEM) != 1)
    throw fail("credentials");
  SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_read_ahead(cctx, 1);
  SSL_CTX_set_default_read_buffer_len(cctx, 256 * 1024);

  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error(std::string("TLS transfer floor: listen: ") + std::strerror(errno));

  // The sending side: one request byte in, `bytes` out, `runs` times (and
  // once more to warm up).
  std::string payload(bytes, 'p');
  std::thread sender([&] {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SSL* ssl = SSL_new(sctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      char req;
      for (int r = 0; r <= runs && SSL_read(ssl, &req, 1) == 1; ++r)
        if (SSL_write(ssl, payload.data(), static_cast<int>(payload.size())) <= 0) break;
    }
    SSL_free(ssl);
    ::close(fd);
  });

  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  std::vector<double> times;
  std::string error;
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error = std::string("connect: ") + std::strerror(errno);
  } else {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SSL* ssl = SSL_new(cctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
      error = "handshake";
    } else {
      std::string body, chunk(256 * 1024, '\0');
      body.reserve(bytes);
      for (int r = 0; r <= runs && error.empty(); ++r) {
        auto t0 = Clock::now();
        if (SSL_write(ssl, "g", 1) != 1) error = "write";
        body.clear();
        while (error.empty() && body.size() < bytes) {
          int n = SSL_read(ssl, chunk.data(), static_cast<int>(chunk.size()));
          if (n <= 0) error = "read";
          else body.append(chunk.data(), static_cast<size_t>(n));
        }
        if (r > 0) times.push_back(msSince(t0));
      }
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
  }
  if (fd >= 0) ::close(fd);
  ::shutdown(listener, SHUT_RDWR);
  sender.join();
  ::close(listener);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
  if (!error.empty()) throw fail(error);
  return TransferFloor{bytes, median(std::move(times))};
}

}  // namespace capstan::bench
