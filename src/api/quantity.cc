#include "api/quantity.h"

#include <limits>
#include <string>

namespace capstan::api {
namespace {

using Int128 = __int128;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
// Beyond this the result saturates anyway; keeps every step inside 128 bits.
constexpr Int128 kSaturate = static_cast<Int128>(1) << 100;

Status malformedQuantity() {
  return Status(Code::kBadRequest,
                "quantities must match the regular expression "
                "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
}

struct Suffix {
  int exp10 = 0;
  int exp2 = 0;
};

bool parseSuffix(std::string_view s, Suffix& out) {
  if (s.empty()) return true;
  if (s.size() == 2 && s[1] == 'i') {
    switch (s[0]) {
      case 'K':
        out.exp2 = 10;
        return true;
      case 'M':
        out.exp2 = 20;
        return true;
      case 'G':
        out.exp2 = 30;
        return true;
      case 'T':
        out.exp2 = 40;
        return true;
      case 'P':
        out.exp2 = 50;
        return true;
      case 'E':
        out.exp2 = 60;
        return true;
      default:
        return false;
    }
  }
  if (s.size() == 1) {
    switch (s[0]) {
      case 'n':
        out.exp10 = -9;
        return true;
      case 'u':
        out.exp10 = -6;
        return true;
      case 'm':
        out.exp10 = -3;
        return true;
      case 'k':
        out.exp10 = 3;
        return true;
      case 'M':
        out.exp10 = 6;
        return true;
      case 'G':
        out.exp10 = 9;
        return true;
      case 'T':
        out.exp10 = 12;
        return true;
      case 'P':
        out.exp10 = 15;
        return true;
      case 'E':
        out.exp10 = 18;
        return true;
      default:
        break;
    }
  }
  // Decimal exponent: e3, E-3, e+6.
  if ((s[0] == 'e' || s[0] == 'E') && s.size() >= 2) {
    size_t i = 1;
    bool negative = false;
    if (s[i] == '+' || s[i] == '-') {
      negative = s[i] == '-';
      ++i;
    }
    if (i == s.size()) return false;
    int exp = 0;
    for (; i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      exp = exp * 10 + (s[i] - '0');
      if (exp > 1000) exp = 1000;  // saturates either way
    }
    out.exp10 = negative ? -exp : exp;
    return true;
  }
  return false;
}

// ceil(mantissa * 10^exp10 * 2^exp2) for a non-negative mantissa, saturated.
int64_t scaleUp(Int128 mantissa, int exp10, int exp2) {
  if (mantissa == 0) return 0;
  for (int i = 0; i < exp2; ++i) {
    mantissa *= 2;
    if (mantissa > kSaturate) return kMax;
  }
  if (exp10 >= 0) {
    for (int i = 0; i < exp10; ++i) {
      mantissa *= 10;
      if (mantissa > kSaturate) return kMax;
    }
    return mantissa > kMax ? kMax : static_cast<int64_t>(mantissa);
  }
  Int128 divisor = 1;
  for (int i = 0; i < -exp10; ++i) {
    divisor *= 10;
    if (divisor > mantissa) return 1;  // 0 < q < 1 rounds up to 1
  }
  Int128 q = mantissa / divisor + (mantissa % divisor != 0 ? 1 : 0);
  return q > kMax ? kMax : static_cast<int64_t>(q);
}

}  // namespace

Result<Quantity> parseQuantity(std::string_view text) {
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    negative = text[i] == '-';
    ++i;
  }
  Int128 mantissa = 0;
  int digits = 0;
  int frac_digits = 0;
  int dropped_int_digits = 0;  // integer digits beyond 128-bit precision
  bool seen_dot = false;
  bool inexact = false;  // dropped nonzero fractional digits: round up
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '.') {
      if (seen_dot) return malformedQuantity();
      seen_dot = true;
      continue;
    }
    if (c < '0' || c > '9') break;
    ++digits;
    if (mantissa > kSaturate) {
      if (seen_dot) {
        if (c != '0') inexact = true;
      } else {
        ++dropped_int_digits;
      }
      continue;
    }
    mantissa = mantissa * 10 + (c - '0');
    if (seen_dot) ++frac_digits;
  }
  if (digits == 0) return malformedQuantity();
  Suffix suffix;
  if (!parseSuffix(text.substr(i), suffix)) return malformedQuantity();

  int exp10 = suffix.exp10 - frac_digits + dropped_int_digits;
  if (inexact) mantissa += 1;
  Quantity q;
  q.value = scaleUp(mantissa, exp10, suffix.exp2);
  q.milli = scaleUp(mantissa, exp10 + 3, suffix.exp2);
  if (negative) {
    // Upstream rounds away from zero (infDec's RoundUp).
    q.value = -q.value;
    q.milli = -q.milli;
  }
  return q;
}

Result<Quantity> parseQuantityValue(const Json& value) {
  if (value.is_string()) return parseQuantity(value.get_ref<const std::string&>());
  if (value.is_number()) return parseQuantity(std::string_view(value.dump()));
  return malformedQuantity();
}

}  // namespace capstan::api
