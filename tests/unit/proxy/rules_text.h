#pragma once
// Reading generated rule text (nft scripts, iptables-restore input) in the
// proxy's tests.

#include <string>

namespace capstan::proxy {

// Whether the rules text contains `what` verbatim.
inline bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

}  // namespace capstan::proxy
