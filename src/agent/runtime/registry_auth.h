#pragma once
// Registry credentials and challenges: the pure parts of talking to an
// OCI distribution registry, shared by the pull (registry_pull.cc) and the
// agent (imagePullSecrets -> PullOptions::auth).

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agent/runtime/image_store.h"
#include "common/status.h"

namespace capstan::agent::runtime {

// The host a registry is keyed by in PullOptions::auth, as docker and
// kubelet normalise a credential's server: scheme and path dropped, and
// Docker Hub's aliases ("index.docker.io", "registry-1.docker.io",
// "https://index.docker.io/v1/") all become "docker.io".
std::string normaliseRegistryHost(std::string_view server);

// The host the registry's API is served from (docker.io ->
// registry-1.docker.io), and its base URL: http:// when the host is one of
// `insecure`, https:// otherwise.
std::string registryApiHost(std::string_view registry);
std::string registryBaseUrl(std::string_view registry, const std::vector<std::string>& insecure);

// Credentials from a kubernetes.io/dockerconfigjson secret's
// ".dockerconfigjson" (`{"auths": {server: {...}}}`) or a legacy
// kubernetes.io/dockercfg ".dockercfg" (the auths map itself). Each entry
// gives username/password, or "auth" (base64 "user:password"), or an
// identitytoken. Keys are normalised hosts. Invalid for malformed JSON.
Result<std::map<std::string, RegistryAuth>> parseDockerConfig(std::string_view json);

// One challenge of a WWW-Authenticate header (RFC 7235): the scheme,
// lower-cased ("bearer", "basic"), and its auth-params with lower-cased
// names and unquoted values.
struct AuthChallenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};
// Every challenge in the header, in order; malformed parts are skipped.
std::vector<AuthChallenge> parseWwwAuthenticate(std::string_view header);

// The token request of the bearer flow: realm?service=...&scope=...
// (query values percent-encoded; the realm may already carry a query).
std::string tokenRequestUrl(const AuthChallenge& challenge, std::string_view scope);

// The "errors" of a registry's error body ({"errors":[{"code","message"}]}),
// empty when the body is not one.
struct RegistryError {
  std::string code;  // MANIFEST_UNKNOWN, NAME_UNKNOWN, UNAUTHORIZED, DENIED...
  std::string message;
};
std::vector<RegistryError> parseRegistryErrors(std::string_view body);

// scheme://host[:port] of a URL, lower-cased, with the default port made
// explicit; redirects to another origin must not carry our Authorization.
std::string urlOrigin(std::string_view url);

// Resolves a Location header against the URL it came from (absolute,
// scheme-relative, absolute-path or relative).
std::string resolveLocation(std::string_view base, std::string_view location);

// True for "sha256:" followed by 64 lower-case hex digits, the only digests
// the store accepts (they become file names).
bool validSha256Digest(std::string_view digest);

}  // namespace capstan::agent::runtime
