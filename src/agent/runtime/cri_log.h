#pragma once
// The CRI container log format, as kubelet reads it:
//   2016-10-06T00:17:09.669794202Z stdout F a complete line
//   2016-10-06T00:17:09.669794202Z stdout P the first 16 KiB of a longer line
// Written by the shim after fork, so everything here is async-signal-safe:
// no allocation, no locale, no libc time functions.

#include <cstddef>
#include <cstdint>

namespace capstan::agent::runtime {

inline constexpr size_t kCriMaxLine = 16 * 1024;  // containerd's default split size
inline constexpr size_t kCriTimestampLen = 30;

// "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" (UTC, always 9 fraction digits); writes
// exactly kCriTimestampLen bytes (no NUL).
void formatCriTimestamp(char* out, int64_t sec, long nsec);

using CriSink = void (*)(void* ctx, const char* data, size_t len);

// One stream's line splitter. Complete lines become F records; a line
// longer than kCriMaxLine is cut into P records and ends with an F one.
class CriStream {
 public:
  CriStream(const char* name, CriSink sink, void* ctx) : name_(name), sink_(sink), ctx_(ctx) {}
  void feed(const char* data, size_t n, int64_t sec, long nsec);
  // End of stream: a pending unterminated line is written as F.
  void flush(int64_t sec, long nsec);

 private:
  void emit(const char* data, size_t n, bool partial, int64_t sec, long nsec);
  const char* name_;
  CriSink sink_;
  void* ctx_;
  char pending_[kCriMaxLine];
  size_t len_ = 0;
};

// A container's log file, rotated by size as kubelet does with
// containerLogMaxSize and containerLogMaxFiles: before a record would take
// the file past max_bytes, the file becomes <path>.1 (older ones shift to
// .2, ...; with max_files files in all, the oldest is dropped) and a new
// file starts. A record is never split across files; a record larger than
// max_bytes goes whole into a file of its own. `kubectl logs` reads the
// current file, as with kubelet. max_bytes 0: never rotated.
// Async-signal-safe after prepare(), which builds the names (before fork).
class RotatingLog {
 public:
  static constexpr int kMaxFiles = 10;
  static constexpr size_t kMaxPath = 4096;

  // `path` must outlive the object. False when the names do not fit.
  bool prepare(const char* path, size_t max_bytes, int max_files);
  // Opens (appends to) the file and counts what it holds. False on error.
  bool open();
  void write(const char* data, size_t n);
  void close();
  // The CriSink that writes to a RotatingLog* ctx.
  static void sink(void* ctx, const char* data, size_t n);

 private:
  void rotate();
  const char* path_ = nullptr;
  char rotated_[kMaxFiles][kMaxPath] = {};  // [k]: <path>.k, k >= 1
  size_t max_bytes_ = 0;
  int max_files_ = 1;
  size_t written_ = 0;
  int fd_ = -1;
};

}  // namespace capstan::agent::runtime
