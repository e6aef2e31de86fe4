#pragma once
// Building API responses: Kubernetes Status bodies for errors, JSON objects,
// and the Warning header.

#include <string>

#include "apiserver/http.h"
#include "common/json.h"
#include "common/status.h"

namespace capstan::apiserver {

// The metav1.Status object for an error.
Json statusObject(const Status& st);
Response errorResponse(const Status& st);
Response jsonResponse(int code, std::string body);
Response successStatus(const std::string& name, const std::string& group, const std::string& kind);
// A Warning header value as kubectl parses it: 299 - "text".
std::string warningHeader(const std::string& text);

// Kubernetes' not-found / already-exists / conflict messages.
Status notFound(const std::string& qualified_resource, const std::string& name);
Status alreadyExists(const std::string& qualified_resource, const std::string& name);
Status conflict(const std::string& qualified_resource, const std::string& name, const std::string& why);
Status badRequest(const std::string& message);

}  // namespace capstan::apiserver
