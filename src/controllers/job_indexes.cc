#include "controllers/job_indexes.h"

#include <fmt/format.h>

#include <charconv>

namespace capstan::controllers {
namespace {

bool parseInt(std::string_view s, int* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out >= 0;
}

}  // namespace

std::set<int> parseIndexes(std::string_view text, int limit) {
  std::set<int> out;
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    auto dash = part.find('-');
    int first = 0, last = 0;
    if (dash == std::string_view::npos) {
      if (!parseInt(part, &first)) continue;
      last = first;
    } else if (!parseInt(part.substr(0, dash), &first) || !parseInt(part.substr(dash + 1), &last) ||
               last < first) {
      continue;
    }
    for (int i = first; i <= last && i < limit; ++i) out.insert(i);
  }
  return out;
}

std::string formatIndexes(const std::set<int>& indexes) {
  std::string out;
  for (auto it = indexes.begin(); it != indexes.end();) {
    int first = *it, last = *it;
    for (++it; it != indexes.end() && *it == last + 1; ++it) last = *it;
    if (!out.empty()) out += ',';
    out += first == last ? fmt::format("{}", first) : fmt::format("{}-{}", first, last);
  }
  return out;
}

}  // namespace capstan::controllers
