#include "agent/streaming/cri_log_reader.h"

#include <charconv>

namespace capstan::agent::streaming {
namespace {

std::optional<int64_t> parseInt(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

bool isTrue(const std::string& v) { return v == "true" || v == "1" || v == "True"; }

}  // namespace

Result<LogOptions> parseLogOptions(const std::function<std::optional<std::string>(std::string_view)>& param,
                                   WallTime now) {
  LogOptions o;
  if (auto v = param("follow")) o.follow = isTrue(*v);
  if (auto v = param("previous")) o.previous = isTrue(*v);
  if (auto v = param("timestamps")) o.timestamps = isTrue(*v);
  if (auto v = param("tailLines"); v && !v->empty()) {
    auto n = parseInt(*v);
    if (!n || *n < 0) return Status(Code::kBadRequest, "tailLines: Invalid value: \"" + *v + "\": must be greater than or equal to 0");
    o.tail_lines = *n;
  }
  if (auto v = param("limitBytes"); v && !v->empty()) {
    auto n = parseInt(*v);
    if (!n || *n < 1) return Status(Code::kBadRequest, "limitBytes: Invalid value: \"" + *v + "\": must be greater than 0");
    o.limit_bytes = *n;
  }
  auto since_seconds = param("sinceSeconds");
  auto since_time = param("sinceTime");
  if (since_seconds && !since_seconds->empty() && since_time && !since_time->empty())
    return Status(Code::kBadRequest, "at most one of `sinceTime` or `sinceSeconds` may be specified");
  if (since_seconds && !since_seconds->empty()) {
    auto n = parseInt(*since_seconds);
    if (!n || *n < 1) return Status(Code::kBadRequest, "sinceSeconds: Invalid value: \"" + *since_seconds + "\": must be greater than 0");
    o.since = now - std::chrono::seconds(*n);
  }
  if (since_time && !since_time->empty()) {
    auto t = parseRfc3339(*since_time);
    if (!t) return Status(Code::kBadRequest, "sinceTime: Invalid value: \"" + *since_time + "\": not an RFC 3339 time");
    o.since = *t;
  }
  return o;
}

std::optional<CriRecord> parseCriRecord(std::string_view line) {
  CriRecord r;
  size_t a = line.find(' ');
  if (a == std::string_view::npos) return std::nullopt;
  size_t b = line.find(' ', a + 1);
  if (b == std::string_view::npos || b + 2 > line.size()) return std::nullopt;
  r.timestamp = line.substr(0, a);
  r.stream = line.substr(a + 1, b - a - 1);
  char tag = line[b + 1];
  if (tag != 'F' && tag != 'P') return std::nullopt;
  // "... F" with nothing after the tag is an empty line.
  if (b + 2 < line.size() && line[b + 2] != ' ') return std::nullopt;
  r.partial = tag == 'P';
  r.content = b + 3 <= line.size() ? line.substr(b + 3) : std::string_view();
  auto t = parseRfc3339(r.timestamp);
  if (!t) return std::nullopt;
  r.time = *t;
  return r;
}

size_t tailOffset(std::string_view data, int64_t n) {
  if (n <= 0) return data.size();
  // Walk back over whole records. A line ends at an F record; it starts
  // after the previous F record.
  int64_t lines = 0;
  size_t end = data.size();
  if (end > 0 && data[end - 1] == '\n') --end;
  size_t line_start_of_current = data.size();
  bool have_line = false;
  while (true) {
    size_t nl = end == 0 ? std::string_view::npos : data.rfind('\n', end - 1);
    size_t start = nl == std::string_view::npos ? 0 : nl + 1;
    auto rec = parseCriRecord(data.substr(start, end - start));
    if (rec && !rec->partial) {
      // An F record closes a line: the line after it (if any) is complete.
      if (have_line) {
        if (++lines == n) return line_start_of_current;
      }
      have_line = true;
    }
    if (rec) line_start_of_current = start;
    if (start == 0) break;
    end = start - 1;
  }
  return have_line ? 0 : data.size();
}

bool LogFormatter::feed(std::string_view line, std::string* out) {
  std::string_view stream;
  return feed(line, out, &stream);
}

bool LogFormatter::feed(std::string_view line, std::string* out, std::string_view* stream) {
  if (done_) return false;
  auto rec = parseCriRecord(line);
  if (!rec) return true;
  *stream = rec->stream;
  bool starts_line = !in_partial_;
  if (starts_line) skipping_ = opts_.since && rec->time < *opts_.since;
  in_partial_ = rec->partial;
  if (skipping_) return true;
  std::string piece;
  if (starts_line && opts_.timestamps) {
    piece.append(rec->timestamp);
    piece.push_back(' ');
  }
  piece.append(rec->content);
  if (!rec->partial) piece.push_back('\n');
  if (opts_.limit_bytes) {
    int64_t room = *opts_.limit_bytes - written_;
    if (static_cast<int64_t>(piece.size()) >= room) {
      out->append(piece, 0, static_cast<size_t>(room));
      written_ += room;
      done_ = true;
      return false;
    }
  }
  written_ += static_cast<int64_t>(piece.size());
  out->append(piece);
  return true;
}

}  // namespace capstan::agent::streaming
