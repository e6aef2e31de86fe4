#include "apiserver/http.h"

namespace capstan::apiserver {

std::string Request::param(std::string_view name) const {
  for (const auto& [k, v] : query)
    if (k == name) return v;
  return {};
}

bool Request::hasParam(std::string_view name) const {
  for (const auto& [k, v] : query)
    if (k == name) return true;
  return false;
}

std::string Request::header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? std::string() : it->second;
}

}  // namespace capstan::apiserver
