#pragma once
// Percent-encoding (RFC 3986) for the URLs our clients build: query keys
// and values, path segments.

#include <string>
#include <string_view>

namespace capstan {

// Every byte but the unreserved characters (A-Z a-z 0-9 - . _ ~) and those
// in `keep` (e.g. "/" for a whole path) becomes %XX.
std::string percentEncode(std::string_view s, std::string_view keep = "");

}  // namespace capstan
