#include "agent/runtime/cri_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
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

bool RotatingLog::prepare(const char* path, size_t max_bytes, int max_files) {
  path_ = path;
  max_bytes_ = max_bytes;
  max_files_ = max_files < 1 ? 1 : max_files > kMaxFiles ? kMaxFiles : max_files;
  size_t len = strlen(path);
  for (int k = 1; k < max_files_; ++k) {
    if (len + 4 > kMaxPath) return false;
    memcpy(rotated_[k], path, len);
    rotated_[k][len] = '.';
    rotated_[k][len + 1] = static_cast<char>('0' + k);
    rotated_[k][len + 2] = '\0';
  }
  return true;
}

bool RotatingLog::open() {
  fd_ = ::open(path_, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd_ < 0) return false;
  struct stat st;
  written_ = ::fstat(fd_, &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
  return true;
}

void RotatingLog::rotate() {
  ::close(fd_);
  fd_ = -1;
  if (max_files_ > 1) {
    for (int k = max_files_ - 1; k >= 2; --k) ::rename(rotated_[k - 1], rotated_[k]);
    ::rename(path_, rotated_[1]);
  } else {
    ::unlink(path_);  // one file in all: start it again
  }
  fd_ = ::open(path_, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  written_ = 0;
}

void RotatingLog::write(const char* data, size_t n) {
  if (fd_ < 0) return;
  if (max_bytes_ > 0 && written_ > 0 && written_ + n > max_bytes_) rotate();
  if (fd_ < 0) return;
  while (n > 0) {
    ssize_t w = ::write(fd_, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    data += w;
    n -= static_cast<size_t>(w);
    written_ += static_cast<size_t>(w);
  }
}

void RotatingLog::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void RotatingLog::sink(void* ctx, const char* data, size_t n) { static_cast<RotatingLog*>(ctx)->write(data, n); }

}  // namespace capstan::agent::runtime
