#pragma once
// Private to the image store: a blocking HTTP client for one repository
// of an OCI distribution registry, used by one pull.
//
// It answers 401 challenges (Bearer: a token from the realm, anonymous or
// with the registry's credentials; Basic: the credentials themselves),
// follows redirects itself so that the Authorization header never leaves
// the registry's origin (blob storage behind a redirect gets none), and
// bounds every request by the pull's deadline.
//
// Threading: one client per pull, used by one thread; clients share
// nothing, so concurrent pulls are independent.

#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "agent/runtime/image_store.h"
#include "common/status.h"

namespace capstan::agent::runtime {

struct RegistryReply {
  long status = 0;
  std::string body;                            // the body; for a download, only a failed reply's body
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string url;                             // after redirects
};

class RegistryClient {
 public:
  RegistryClient(const ImageRef& ref, const PullOptions& options);
  ~RegistryClient();
  RegistryClient(const RegistryClient&) = delete;
  RegistryClient& operator=(const RegistryClient&) = delete;

  // <base>/v2/<repository>/<path>
  std::string url(std::string_view path) const;

  // GET of a small document (manifests), at most `max_body` bytes. HTTP
  // errors come back as replies; Unavailable when there is no reply at all
  // (refused, unresolvable, timed out), Unauthorized when the token
  // service turns us away.
  Result<RegistryReply> get(std::string_view path, std::string_view accept, size_t max_body);

  // GET of a blob streamed into `file` (created or truncated), checking
  // that it is at most `max_bytes` long; `digest` receives "sha256:<hex>"
  // of what was written.
  Result<RegistryReply> download(std::string_view path, const std::string& file, uint64_t max_bytes,
                                 std::string* digest);

  class Sink;  // where a body goes; defined in registry_client.cc

 private:
  Result<RegistryReply> request(std::string_view path, std::string_view accept, Sink& sink);
  // One request following redirects; `authorization` goes only to the
  // origin of `url`.
  Result<RegistryReply> perform(std::string url, const std::string& authorization, std::string_view accept,
                                const std::string& post_body, Sink& sink);
  Status authorize(const RegistryReply& challenged);
  long remainingMs() const;

  ImageRef ref_;
  std::string base_;
  const RegistryAuth* credentials_ = nullptr;  // from the PullOptions, which outlive the pull
  std::chrono::steady_clock::time_point deadline_;
  void* easy_ = nullptr;       // CURL*, reused so connections are kept alive
  std::string authorization_;  // "Bearer ..." / "Basic ..." once challenged
};

}  // namespace capstan::agent::runtime
