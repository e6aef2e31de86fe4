// The HTTP side of a registry pull, over libcurl's easy interface.

#include "agent/runtime/registry_client.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "agent/runtime/registry_auth.h"
#include "common/base64.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/url.h"

namespace capstan::agent::runtime {
namespace {

constexpr int kMaxRedirects = 10;
constexpr long kConnectTimeoutMs = 30000;
constexpr size_t kMaxErrorBody = 64 * 1024;
constexpr size_t kMaxTokenBody = 1 << 20;

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Environment proxies apply as they do for containerd, but never to
// loopback registries.
std::string noProxyList() {
  const char* env = std::getenv("NO_PROXY");
  if (!env) env = std::getenv("no_proxy");
  std::string list = env ? env : "";
  if (list == "*") return list;
  return list + (list.empty() ? "" : ",") + "localhost,127.0.0.1,::1";
}

size_t onHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string_view line(data, size * n);
  if (line.substr(0, 5) == "HTTP/") {
    headers->clear();  // a new response (after a 100 Continue, say)
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    std::string name = asciiLower(trimSpace(line.substr(0, colon)));
    std::string value(trimSpace(line.substr(colon + 1)));
    auto [it, fresh] = headers->emplace(name, value);
    if (!fresh) it->second += ", " + value;  // repeated headers join, as RFC 7230 allows
  }
  return size * n;
}

}  // namespace

// Where a response body goes: memory or a file; a failed response's body
// always goes to memory (bounded), for the error message.
class RegistryClient::Sink {
 public:
  virtual ~Sink() = default;
  // Called before each attempt (a redirect or a retry starts over).
  virtual Status reset() {
    error_body.clear();
    overflow = false;
    return Status::ok();
  }
  virtual bool write(std::string_view data) = 0;  // false aborts the transfer

  size_t onBody(CURL* easy, std::string_view data) {
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) return write(data) ? data.size() : 0;
    if (error_body.size() < kMaxErrorBody)
      error_body.append(data.substr(0, kMaxErrorBody - error_body.size()));
    return data.size();
  }

  std::string error_body;
  bool overflow = false;  // the body was larger than allowed
};

namespace {

class MemorySink final : public RegistryClient::Sink {
 public:
  explicit MemorySink(size_t max) : max_(max) {}
  Status reset() override {
    body.clear();
    return Sink::reset();
  }
  bool write(std::string_view data) override {
    if (body.size() + data.size() > max_) {
      overflow = true;
      return false;
    }
    body.append(data);
    return true;
  }
  std::string body;

 private:
  size_t max_;
};

class FileSink final : public RegistryClient::Sink {
 public:
  FileSink(std::string path, uint64_t max) : path_(std::move(path)), max_(max), md_(EVP_MD_CTX_new()) {}
  ~FileSink() override {
    if (file_) std::fclose(file_);
    EVP_MD_CTX_free(md_);
  }
  Status reset() override {
    if (file_) std::fclose(file_);
    file_ = std::fopen(path_.c_str(), "wbe");
    if (!file_) return Status(Code::kInternal, "cannot create " + path_);
    written_ = 0;
    EVP_DigestInit_ex(md_, EVP_sha256(), nullptr);
    return Sink::reset();
  }
  bool write(std::string_view data) override {
    if (written_ + data.size() > max_) {
      overflow = true;
      return false;
    }
    if (std::fwrite(data.data(), 1, data.size(), file_) != data.size()) {
      write_failed_ = true;
      return false;
    }
    EVP_DigestUpdate(md_, data.data(), data.size());
    written_ += data.size();
    return true;
  }
  // Flushes and closes the file; "sha256:<hex>" of its content.
  Result<std::string> finish() {
    bool ok = file_ && !write_failed_ && std::fflush(file_) == 0;
    if (file_) ok = std::fclose(file_) == 0 && ok;
    file_ = nullptr;
    if (!ok) return Status(Code::kInternal, "write " + path_ + " failed");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(md_, md, &len);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "sha256:";
    for (unsigned int i = 0; i < len; ++i) {
      out.push_back(kHex[md[i] >> 4]);
      out.push_back(kHex[md[i] & 15]);
    }
    return out;
  }
  bool writeFailed() const { return write_failed_; }

 private:
  std::string path_;
  uint64_t max_;
  EVP_MD_CTX* md_;
  FILE* file_ = nullptr;
  uint64_t written_ = 0;
  bool write_failed_ = false;
};

size_t onBody(char* data, size_t size, size_t n, void* user) {
  auto* ctx = static_cast<std::pair<CURL*, RegistryClient::Sink*>*>(user);
  return ctx->second->onBody(ctx->first, std::string_view(data, size * n));
}

}  // namespace

RegistryClient::RegistryClient(const ImageRef& ref, const PullOptions& options)
    : ref_(ref),
      base_(registryBaseUrl(ref.registry, options.insecure_registries)),
      deadline_(std::chrono::steady_clock::now() +
                std::chrono::seconds(std::max(1L, options.timeout_seconds))) {
  globalInit();
  easy_ = curl_easy_init();
  for (const auto& [server, auth] : options.auth)
    if (normaliseRegistryHost(server) == ref.registry) {
      credentials_ = &auth;
      break;
    }
}

RegistryClient::~RegistryClient() {
  if (easy_) curl_easy_cleanup(static_cast<CURL*>(easy_));
}

std::string RegistryClient::url(std::string_view path) const {
  return base_ + "/v2/" + ref_.repository + "/" + std::string(path);
}

long RegistryClient::remainingMs() const {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - std::chrono::steady_clock::now());
  return static_cast<long>(left.count());
}

Result<RegistryReply> RegistryClient::get(std::string_view path, std::string_view accept, size_t max_body) {
  MemorySink sink(max_body);
  auto reply = request(path, accept, sink);
  if (!reply) return reply;
  if (sink.overflow)
    return Status(Code::kInvalid, fmt::format("{}: response larger than {} bytes", url(path), max_body));
  if (reply->status >= 200 && reply->status < 300) reply->body = std::move(sink.body);
  return reply;
}

Result<RegistryReply> RegistryClient::download(std::string_view path, const std::string& file,
                                               uint64_t max_bytes, std::string* digest) {
  FileSink sink(file, max_bytes);
  auto reply = request(path, "", sink);
  if (!reply) return reply;
  if (sink.overflow)
    return Status(Code::kInvalid, fmt::format("{}: blob larger than {} bytes", url(path), max_bytes));
  if (reply->status >= 200 && reply->status < 300) {
    auto d = sink.finish();
    if (!d) return d.status();
    *digest = *d;
  }
  return reply;
}

Result<RegistryReply> RegistryClient::request(std::string_view path, std::string_view accept, Sink& sink) {
  std::string target = url(path);
  auto reply = perform(target, authorization_, accept, "", sink);
  if (!reply || reply->status != 401) return reply;
  // Challenged: get credentials for this scope and try once more (a token
  // that expired mid-pull is renewed the same way).
  if (auto st = authorize(*reply); !st) return st;
  return perform(target, authorization_, accept, "", sink);
}

Result<RegistryReply> RegistryClient::perform(std::string target, const std::string& authorization,
                                              std::string_view accept, const std::string& post_body,
                                              Sink& sink) {
  CURL* e = static_cast<CURL*>(easy_);
  if (!e) return Status(Code::kInternal, "cannot start the HTTP client");
  const std::string origin = urlOrigin(target);
  const std::string no_proxy = noProxyList();
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    long left = remainingMs();
    if (left <= 0)
      return Status(Code::kUnavailable,
                    fmt::format("failed to do request: Get \"{}\": context deadline exceeded", target));
    if (auto st = sink.reset(); !st) return st;
    RegistryReply reply;
    char error[CURL_ERROR_SIZE] = {0};
    std::pair<CURL*, Sink*> ctx{e, &sink};
    curl_slist* headers = nullptr;
    if (!accept.empty()) headers = curl_slist_append(headers, ("Accept: " + std::string(accept)).c_str());
    // Only the origin we were sent to gets our credentials; storage
    // behind a redirect authenticates through its signed URL.
    if (!authorization.empty() && urlOrigin(target) == origin)
      headers = curl_slist_append(headers, ("Authorization: " + authorization).c_str());
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, target.c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, no_proxy.c_str());
    curl_easy_setopt(e, CURLOPT_USERAGENT, "capstan/1 (containerd-compatible)");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, std::min(left, kConnectTimeoutMs));
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &ctx);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, onHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &reply.headers);
    if (!post_body.empty()) {
      headers = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded");
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, post_body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post_body.size()));
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(e);
    curl_slist_free_all(headers);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &reply.status);
    const char* method = post_body.empty() ? "Get" : "Post";
    if (rc == CURLE_WRITE_ERROR && sink.overflow) {
      reply.url = target;
      return reply;  // the caller reports the size
    }
    if (rc != CURLE_OK) {
      std::string why = error[0] ? error : curl_easy_strerror(rc);
      if (rc == CURLE_OPERATION_TIMEDOUT) why += " (context deadline exceeded)";
      if (rc == CURLE_WRITE_ERROR)
        return Status(Code::kInternal, fmt::format("{} \"{}\": {}", method, target, why));
      return Status(Code::kUnavailable,
                    fmt::format("failed to do request: {} \"{}\": {}", method, target, why));
    }
    reply.url = target;
    bool redirect = reply.status == 301 || reply.status == 302 || reply.status == 303 ||
                    reply.status == 307 || reply.status == 308;
    auto location = reply.headers.find("location");
    if (redirect && location != reply.headers.end() && !location->second.empty()) {
      target = resolveLocation(target, location->second);
      continue;
    }
    if (reply.status < 200 || reply.status >= 300) reply.body = std::move(sink.error_body);
    return reply;
  }
  return Status(
      Code::kUnavailable,
      fmt::format("failed to do request: Get \"{}\": stopped after {} redirects", target, kMaxRedirects));
}

Status RegistryClient::authorize(const RegistryReply& challenged) {
  auto header = challenged.headers.find("www-authenticate");
  std::vector<AuthChallenge> challenges;
  if (header != challenged.headers.end()) challenges = parseWwwAuthenticate(header->second);
  for (const auto& c : challenges) {
    if (c.scheme == "basic") {
      if (!credentials_ || credentials_->username.empty()) continue;
      authorization_ = "Basic " + base64Encode(credentials_->username + ":" + credentials_->password);
      return Status::ok();
    }
    if (c.scheme != "bearer") continue;
    auto realm = c.params.find("realm");
    if (realm == c.params.end() || realm->second.empty()) continue;
    std::string scope = "repository:" + ref_.repository + ":pull";
    if (auto s = c.params.find("scope"); s != c.params.end() && !s->second.empty()) scope = s->second;
    std::string service = c.params.count("service") ? c.params.at("service") : "";
    MemorySink sink(kMaxTokenBody);
    Result<RegistryReply> reply = Status(Code::kInternal, "no token request");
    std::string what;
    if (credentials_ && !credentials_->identity_token.empty()) {
      // OAuth2 refresh-token grant, as docker and containerd send it.
      std::string form = "grant_type=refresh_token&client_id=capstan&refresh_token=" +
                         percentEncode(credentials_->identity_token) + "&service=" + percentEncode(service) +
                         "&scope=" + percentEncode(scope);
      what = "POST request to " + realm->second;
      reply = perform(realm->second, "", "application/json", form, sink);
    } else {
      std::string basic;
      if (credentials_ && !credentials_->username.empty())
        basic = "Basic " + base64Encode(credentials_->username + ":" + credentials_->password);
      std::string token_url = tokenRequestUrl(c, scope);
      what = "GET request to " + token_url;
      reply = perform(token_url, basic, "application/json", "", sink);
    }
    if (!reply) return reply.status();
    if (reply->status == 401 || reply->status == 403)
      return Status(
          Code::kUnauthorized,
          fmt::format("failed to authorize: failed to fetch {} token: unexpected status from {}: {}",
                      credentials_ ? "oauth" : "anonymous", what, reply->status));
    if (reply->status < 200 || reply->status >= 300)
      return Status(reply->status >= 500 ? Code::kUnavailable : Code::kUnauthorized,
                    fmt::format("failed to authorize: unexpected status from {}: {}", what, reply->status));
    auto doc = parseJson(sink.body);
    std::string token = doc ? getString(*doc, "token") : "";
    if (token.empty() && doc) token = getString(*doc, "access_token");
    if (token.empty())
      return Status(Code::kUnauthorized, "failed to authorize: the token service returned no token");
    authorization_ = "Bearer " + token;
    return Status::ok();
  }
  return Status(Code::kUnauthorized,
                fmt::format("pull access denied, repository does not exist or may require authorization: "
                            "unsupported or unanswerable challenge \"{}\"",
                            header == challenged.headers.end() ? "" : header->second));
}

}  // namespace capstan::agent::runtime
