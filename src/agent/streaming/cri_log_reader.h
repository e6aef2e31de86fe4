#pragma once
// Reading CRI-format container logs back as `kubectl logs` prints them
// (kubelet's pkg/kubelet/kuberuntime/logs): records
//   2016-10-06T00:17:09.669794202Z stdout F message
// P records are the first pieces of a longer line and are joined with what
// follows; tailLines counts joined lines; sinceTime keeps records at or
// after it; timestamps prefixes each line with its first record's time;
// limitBytes cuts the output after that many bytes.
//
// Pure functions and a stateful formatter: no I/O, no threads.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace capstan::agent::streaming {

struct LogOptions {
  bool follow = false;
  bool previous = false;
  bool timestamps = false;
  std::optional<int64_t> tail_lines;     // >= 0
  std::optional<WallTime> since;         // from sinceTime or sinceSeconds
  std::optional<int64_t> limit_bytes;    // > 0
};

// From the query of a log request (kubelet's and pods/log's parameter
// names). `param(name)` returns the value or nullopt when absent. BadRequest
// for malformed values, as upstream's validation.
Result<LogOptions> parseLogOptions(const std::function<std::optional<std::string>(std::string_view)>& param,
                                   WallTime now);

struct CriRecord {
  std::string_view timestamp;
  WallTime time;
  std::string_view stream;  // "stdout" / "stderr"
  bool partial = false;
  std::string_view content;  // without the record's newline
};

// One record line (without its '\n'); nullopt when it is not a CRI record.
std::optional<CriRecord> parseCriRecord(std::string_view line);

// The byte offset in `data` (whole CRI records) where the last `n` joined
// lines begin; 0 when there are fewer.
size_t tailOffset(std::string_view data, int64_t n);

// Turns record lines into output bytes, in order. Lines that are not CRI
// records are skipped (a torn write, garbage).
class LogFormatter {
 public:
  explicit LogFormatter(const LogOptions& opts) : opts_(opts) {}
  // Appends what `line` contributes to `out`. Returns false once limitBytes
  // is reached: nothing more will be produced.
  bool feed(std::string_view line, std::string* out);
  // Like feed(), but hands the stream of the record too (for attach, which
  // sends stdout and stderr apart).
  bool feed(std::string_view line, std::string* out, std::string_view* stream);
  bool done() const { return done_; }

 private:
  LogOptions opts_;
  bool in_partial_ = false;  // a P record started the current line
  bool skipping_ = false;    // the current joined line is before `since`
  int64_t written_ = 0;
  bool done_ = false;
};

}  // namespace capstan::agent::streaming
