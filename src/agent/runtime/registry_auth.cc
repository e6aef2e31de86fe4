// Registry credentials, challenges and error bodies; pure.

#include "agent/runtime/registry_auth.h"

#include <algorithm>
#include <cctype>

#include "common/base64.h"
#include "common/json.h"
#include "common/strings.h"
#include "common/url.h"

namespace capstan::agent::runtime {
namespace {

bool isTokenChar(char c) {
  // RFC 7230 tchar; '/' is not one, but realms are always quoted anyway.
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Splits scheme://authority/path?query; `authority` empty when the URL has
// no scheme.
struct UrlParts {
  std::string scheme, authority, rest;
};
UrlParts splitUrl(std::string_view url) {
  UrlParts p;
  auto sep = url.find("://");
  if (sep == std::string_view::npos) {
    p.rest = std::string(url);
    return p;
  }
  p.scheme = asciiLower(url.substr(0, sep));
  std::string_view tail = url.substr(sep + 3);
  auto end = tail.find_first_of("/?#");
  p.authority = std::string(tail.substr(0, end));
  p.rest = end == std::string_view::npos ? "/" : std::string(tail.substr(end));
  return p;
}

}  // namespace

std::string normaliseRegistryHost(std::string_view server) {
  std::string s = asciiLower(server);
  if (auto sep = s.find("://"); sep != std::string::npos) s = s.substr(sep + 3);
  if (auto slash = s.find('/'); slash != std::string::npos) s = s.substr(0, slash);
  if (s == "index.docker.io" || s == "registry-1.docker.io" || s == "registry.hub.docker.com")
    return "docker.io";
  return s;
}

std::string registryApiHost(std::string_view registry) {
  if (registry == "docker.io") return "registry-1.docker.io";
  return std::string(registry);
}

std::string registryBaseUrl(std::string_view registry, const std::vector<std::string>& insecure) {
  bool plain = std::any_of(insecure.begin(), insecure.end(),
                           [&](const std::string& h) { return normaliseRegistryHost(h) == registry; });
  return std::string(plain ? "http://" : "https://") + registryApiHost(registry);
}

Result<std::map<std::string, RegistryAuth>> parseDockerConfig(std::string_view json) {
  auto doc = parseJson(json);
  if (!doc || !doc->is_object()) return Status(Code::kInvalid, "docker config is not a JSON object");
  const Json* auths = find(*doc, "auths");
  if (!auths) auths = &*doc;  // .dockercfg: the map itself
  if (!auths->is_object()) return Status(Code::kInvalid, "docker config: auths is not an object");
  std::map<std::string, RegistryAuth> out;
  for (const auto& [server, entry] : auths->items()) {
    if (!entry.is_object()) continue;
    RegistryAuth a;
    a.username = getString(entry, "username");
    a.password = getString(entry, "password");
    a.identity_token = getString(entry, "identitytoken");
    std::string encoded = getString(entry, "auth");
    if (!encoded.empty() && a.username.empty()) {
      auto decoded = base64Decode(encoded);
      if (!decoded) return Status(Code::kInvalid, "docker config: auth for " + server + " is not base64");
      auto colon = decoded->find(':');
      if (colon == std::string::npos)
        return Status(Code::kInvalid, "docker config: auth for " + server + " is not user:password");
      a.username = decoded->substr(0, colon);
      a.password = decoded->substr(colon + 1);
    }
    if (a.username.empty() && a.password.empty() && a.identity_token.empty()) continue;
    out.emplace(normaliseRegistryHost(server), std::move(a));  // the first of two aliases wins
  }
  return out;
}

std::vector<AuthChallenge> parseWwwAuthenticate(std::string_view h) {
  std::vector<AuthChallenge> out;
  size_t i = 0;
  auto skipSpace = [&] {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t')) ++i;
  };
  auto readToken = [&] {
    size_t start = i;
    while (i < h.size() && isTokenChar(h[i])) ++i;
    return h.substr(start, i - start);
  };
  while (i < h.size()) {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t' || h[i] == ',')) ++i;
    std::string_view scheme = readToken();
    if (scheme.empty()) {
      ++i;  // junk: skip a character and resynchronise
      continue;
    }
    AuthChallenge c;
    c.scheme = asciiLower(scheme);
    // auth-params until a token not followed by '=' starts the next challenge.
    while (true) {
      skipSpace();
      while (i < h.size() && h[i] == ',') {
        ++i;
        skipSpace();
      }
      size_t mark = i;
      std::string_view name = readToken();
      skipSpace();
      if (name.empty() || i >= h.size() || h[i] != '=') {
        i = mark;
        break;
      }
      ++i;
      skipSpace();
      std::string value;
      if (i < h.size() && h[i] == '"') {
        ++i;
        while (i < h.size() && h[i] != '"') {
          if (h[i] == '\\' && i + 1 < h.size()) ++i;
          value.push_back(h[i++]);
        }
        if (i < h.size()) ++i;  // closing quote
      } else {
        while (i < h.size() && h[i] != ',' && h[i] != ' ' && h[i] != '\t') value.push_back(h[i++]);
      }
      c.params[asciiLower(name)] = value;
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string tokenRequestUrl(const AuthChallenge& challenge, std::string_view scope) {
  auto get = [&](const char* k) {
    auto it = challenge.params.find(k);
    return it == challenge.params.end() ? std::string() : it->second;
  };
  std::string url = get("realm");
  char sep = url.find('?') == std::string::npos ? '?' : '&';
  if (std::string service = get("service"); !service.empty()) {
    url += sep + std::string("service=") + percentEncode(service);
    sep = '&';
  }
  if (!scope.empty()) url += sep + std::string("scope=") + percentEncode(scope);
  return url;
}

std::vector<RegistryError> parseRegistryErrors(std::string_view body) {
  std::vector<RegistryError> out;
  auto doc = parseJson(body);
  if (!doc || !doc->is_object()) return out;
  for (const auto& e : arrayAt(*doc, "errors"))
    if (e.is_object()) out.push_back({getString(e, "code"), getString(e, "message")});
  return out;
}

std::string urlOrigin(std::string_view url) {
  UrlParts p = splitUrl(url);
  std::string host = asciiLower(p.authority);
  if (auto at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
  size_t bracket = host.rfind(']');  // an IPv6 literal's colons are not a port
  if (host.find(':', bracket == std::string::npos ? 0 : bracket) == std::string::npos)
    host += p.scheme == "http" ? ":80" : ":443";
  return p.scheme + "://" + host;
}

std::string resolveLocation(std::string_view base, std::string_view location) {
  if (location.find("://") != std::string_view::npos) return std::string(location);
  UrlParts b = splitUrl(base);
  if (location.substr(0, 2) == "//") return b.scheme + ":" + std::string(location);
  if (!location.empty() && location.front() == '/')
    return b.scheme + "://" + b.authority + std::string(location);
  std::string dir = b.rest.substr(0, b.rest.find_first_of("?#"));
  dir = dir.substr(0, dir.rfind('/') + 1);
  return b.scheme + "://" + b.authority + dir + std::string(location);
}

bool validSha256Digest(std::string_view d) {
  if (d.size() != 71 || d.substr(0, 7) != "sha256:") return false;
  return std::all_of(d.begin() + 7, d.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace capstan::agent::runtime
