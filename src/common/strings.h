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

}  // namespace capstan
