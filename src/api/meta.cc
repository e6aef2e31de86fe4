#include "api/meta.h"

#include <openssl/rand.h>

#include <cstdio>

namespace capstan::api {

std::string newUid() {
  unsigned char b[16];
  RAND_bytes(b, sizeof b);
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
  RAND_bytes(b, sizeof b);
  std::string s;
  for (unsigned char c : b) s += kAlphabet[c % (sizeof kAlphabet - 1)];
  return s;
}

}  // namespace capstan::api
