#include "agent/runtime/cri_log.h"

#include <cstring>

namespace capstan::agent::runtime {
namespace {

void put(char*& p, int64_t v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  p += width;
}

}  // namespace

void formatCriTimestamp(char* out, int64_t sec, long nsec) {
  // Days since the epoch to a civil date (Howard Hinnant's algorithm).
  int64_t days = sec / 86400;
  int64_t rem = sec % 86400;
  if (rem < 0) rem += 86400, --days;
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char* p = out;
  put(p, y, 4), *p++ = '-', put(p, m, 2), *p++ = '-', put(p, d, 2), *p++ = 'T';
  put(p, rem / 3600, 2), *p++ = ':', put(p, rem / 60 % 60, 2), *p++ = ':', put(p, rem % 60, 2);
  *p++ = '.', put(p, nsec, 9), *p++ = 'Z';
}

void CriStream::emit(const char* data, size_t n, bool partial, int64_t sec, long nsec) {
  char record[kCriTimestampLen + 16 + kCriMaxLine + 1];
  char* p = record;
  formatCriTimestamp(p, sec, nsec);
  p += kCriTimestampLen;
  *p++ = ' ';
  size_t name_len = strlen(name_);
  memcpy(p, name_, name_len);
  p += name_len;
  *p++ = ' ';
  *p++ = partial ? 'P' : 'F';
  *p++ = ' ';
  memcpy(p, data, n);
  p += n;
  *p++ = '\n';
  sink_(ctx_, record, static_cast<size_t>(p - record));
}

void CriStream::feed(const char* data, size_t n, int64_t sec, long nsec) {
  while (n > 0) {
    const char* nl = static_cast<const char*>(memchr(data, '\n', n));
    size_t take = nl ? static_cast<size_t>(nl - data) : n;
    size_t room = kCriMaxLine - len_;
    if (take >= room && !(nl && take == room)) {
      // The line does not fit: fill the buffer and write it as partial.
      memcpy(pending_ + len_, data, room);
      emit(pending_, kCriMaxLine, true, sec, nsec);
      len_ = 0;
      data += room;
      n -= room;
      continue;
    }
    memcpy(pending_ + len_, data, take);
    len_ += take;
    if (!nl) return;
    emit(pending_, len_, false, sec, nsec);
    len_ = 0;
    data += take + 1;
    n -= take + 1;
  }
}

void CriStream::flush(int64_t sec, long nsec) {
  if (len_ > 0) emit(pending_, len_, false, sec, nsec);
  len_ = 0;
}

}  // namespace capstan::agent::runtime
