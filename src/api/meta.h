#pragma once
// Object metadata helpers shared by the API server and (later) clients:
// uids, generated names, and reading the few metadata fields everyone needs.

#include <string>

#include "common/json.h"

namespace capstan::api {

// A random RFC 4122 version 4 UUID.
std::string newUid();
// Five characters from Kubernetes' generateName alphabet.
std::string randomNameSuffix();

inline std::string nameOf(const Json& obj) { return obj.is_object() && obj.contains("metadata") ? getString(obj["metadata"], "name") : ""; }
inline std::string namespaceOf(const Json& obj) { return obj.is_object() && obj.contains("metadata") ? getString(obj["metadata"], "namespace") : ""; }

}  // namespace capstan::api
