#pragma once
// The web dashboard's static files: the front end in dashboard/ (Preact,
// built by Vite when capstan is built) compiled into the binary and served
// at /dashboard/ without authentication. The page asks for a bearer token
// and calls the API with it, so it acts with that user's rights.

#include <string>
#include <string_view>

#include "apiserver/http.h"

namespace capstan::apiserver {

bool isDashboardPath(std::string_view path);

// The response for a GET of `path` (isDashboardPath). With `dir` set, files
// are read from that directory instead of the compiled-in ones, so the
// front end can be developed without rebuilding the server.
Response serveDashboard(std::string_view path, const std::string& dir = "");

}  // namespace capstan::apiserver
