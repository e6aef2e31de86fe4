#include "api/meta.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace capstan::api {

namespace {
// Random bytes from the kernel's generator, drawn a page at a time per
// thread: one OpenSSL RAND_bytes call per UID cost 2 % of the server while
// pods and events were created in bulk (its per-call locking and checks,
// not the bytes).
void randomBytes(unsigned char* out, size_t n) {
  thread_local unsigned char pool[4096];
  thread_local size_t left = 0;
  while (n > 0) {
    if (left == 0) {
      for (size_t got = 0; got < sizeof pool;) {
        ssize_t r = getrandom(pool + got, sizeof pool - got, 0);
        if (r > 0) got += static_cast<size_t>(r);
        else if (r < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "getrandom");
      }
      left = sizeof pool;
    }
    size_t take = std::min(n, left);
    unsigned char* from = pool + sizeof pool - left;
    std::memcpy(out, from, take);
    std::memset(from, 0, take);  // each byte is handed out once
    left -= take, out += take, n -= take;
  }
}
}  // namespace

std::string newUid() {
  unsigned char b[16];
  randomBytes(b, sizeof b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

std::string randomNameSuffix() {
  // Kubernetes leaves out vowels and confusable characters.
  static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  unsigned char b[5];
  randomBytes(b, sizeof b);
  std::string s;
  for (unsigned char c : b) s += kAlphabet[c % (sizeof kAlphabet - 1)];
  return s;
}

}  // namespace capstan::api
