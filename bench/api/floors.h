#pragma once
// The floors the API figures are compared with, measured in the same run on
// the same filesystem as the server's data dir: what the disk and SQLite
// alone can do, with no HTTP, TLS, JSON or API logic in the way.

#include <string>

#include "stats.h"

namespace capstan::bench {

// write(4 KiB) + fdatasync in a loop, in a preallocated file under `dir`
// (the cost of one durable commit, at least).
struct FsyncFloor {
  Summary latency_ms;
};
FsyncFloor measureFdatasync(const std::string& dir, double seconds);

// Durable batched inserts into a fresh SQLite file under `dir`, set up like
// the store (WAL, synchronous=FULL, the same revision-log table and
// indexes): `batch` rows of `row_bytes` per transaction, for `seconds`.
struct SqliteInsertFloor {
  size_t batch = 0;
  size_t row_bytes = 0;
  double rows_per_s = 0;
  Summary commit_ms;  // one transaction: inserts + COMMIT (the fsync)
};
SqliteInsertFloor measureSqliteInserts(const std::string& dir, size_t batch, size_t row_bytes, double seconds);

// Reads the latest version of `rows` keys of `row_bytes` each back from
// SQLite with the store's range query: what a LIST would cost without the
// watch cache. Median of `runs`.
struct SqliteScanFloor {
  size_t rows = 0;
  double median_ms = 0;
};
SqliteScanFloor measureSqliteScan(const std::string& dir, size_t rows, size_t row_bytes, int runs);

// Moves `bytes` over TLS on loopback between two threads of this process,
// with the server's own certificates (tls_dir holds ca.crt, server.crt,
// server.key, admin.crt, admin.key): the transfer floor of a LIST response
// of that size, with no HTTP and no API server. Median of `runs`.
struct TransferFloor {
  size_t bytes = 0;
  double median_ms = 0;
};
TransferFloor measureTlsTransfer(const std::string& tls_dir, size_t bytes, int runs);

}  // namespace capstan::bench
