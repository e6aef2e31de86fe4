#pragma once
// Small string helpers shared by components.

#include <string>
#include <string_view>

namespace capstan {

// s with ASCII A-Z lowered and every other byte kept, whatever the locale:
// for DNS names, HTTP header and scheme names, cron's month and day names.
inline std::string asciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// s without the ASCII whitespace (space, tab, CR, LF, VT, FF) at either
// end: header values, fields of a line.
inline std::string_view trimSpace(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

}  // namespace capstan
