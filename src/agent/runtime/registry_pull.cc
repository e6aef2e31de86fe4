// `ImageStore::pull`: resolve a reference on an OCI distribution registry,
// fetch what the store lacks, verify every digest, then register the
// image as an import does. Error messages follow containerd's, since
// kubelet puts them into pod events and waiting messages.

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <random>
#include <set>

#include "agent/runtime/image_store_impl.h"
#include "agent/runtime/layer_unpack.h"
#include "agent/runtime/registry_auth.h"
#include "agent/runtime/registry_client.h"
#include "common/log.h"

namespace capstan::agent::runtime {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxManifestBytes = 4 << 20;  // containerd's limit
constexpr uint64_t kMaxUnsizedBlob = uint64_t{64} << 30;
constexpr std::string_view kDockerSchema1 = "application/vnd.docker.distribution.manifest.v1";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string acceptHeader() {
  return fmt::format("{}, {}, {}, {}", kOciManifest, kDockerManifest, kOciIndex, kDockerManifestList);
}

const char* reasonPhrase(long status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

std::string serverMessage(const RegistryReply& r) {
  auto errors = parseRegistryErrors(r.body);
  if (errors.empty()) return "";
  return fmt::format(": server message: {}: {}", lower(errors[0].code), errors[0].message);
}

bool hasErrorCode(const RegistryReply& r, std::initializer_list<std::string_view> codes) {
  for (const auto& e : parseRegistryErrors(r.body))
    for (auto c : codes)
      if (e.code == c) return true;
  return false;
}

// A failed reply as a Status; `what` names the object ("127.0.0.1:5000/x:1"
// for a manifest, the digest for a blob).
Status replyError(const RegistryReply& r, const std::string& what) {
  if (r.status == 404 || hasErrorCode(r, {"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"}))
    return Status(Code::kNotFound, what + ": not found");
  if (r.status == 401 || r.status == 403)
    return Status(
        Code::kUnauthorized,
        "pull access denied, repository does not exist or may require authorization" + serverMessage(r));
  std::string msg =
      fmt::format("unexpected status from GET request to {}: {} {}", r.url, r.status, reasonPhrase(r.status));
  if (std::string sm = serverMessage(r); !sm.empty()) msg += sm;
  if (r.status >= 500 || r.status == 429) return Status(Code::kUnavailable, msg);
  return Status(Code::kInvalid, msg);
}

Status withPrefix(const Status& st, const std::string& prefix) {
  return Status(st.code(), prefix + st.message());
}

std::string mediaTypeOf(const RegistryReply& r, const Json& body) {
  std::string type = getString(body, "mediaType");
  if (type.empty()) {
    auto ct = r.headers.find("content-type");
    if (ct != r.headers.end()) type = ct->second.substr(0, ct->second.find(';'));
  }
  if (type.empty() || type == "application/json") {
    // An OCI document need not carry its mediaType; its shape tells.
    if (find(body, "manifests")) return std::string(kOciIndex);
    if (find(body, "config") && find(body, "layers")) return std::string(kOciManifest);
  }
  return type;
}

struct Fetched {
  std::string digest;
  std::string media_type;
  std::string body;
  Json json;
};

// GET of a manifest (by tag or digest), verified against `expected` when
// given and against the registry's Docker-Content-Digest.
Result<Fetched> fetchManifest(RegistryClient& client, const std::string& reference,
                              const std::string& expected, const std::string& what) {
  auto reply = client.get("manifests/" + reference, acceptHeader(), kMaxManifestBytes);
  if (!reply) return reply.status();
  if (reply->status != 200) return replyError(*reply, what);
  Fetched f;
  f.digest = "sha256:" + sha256Hex(reply->body);
  if (!expected.empty() && f.digest != expected)
    return Status(Code::kInvalid,
                  fmt::format("manifest digest mismatch: want {}, got {}", expected, f.digest));
  if (auto h = reply->headers.find("docker-content-digest");
      h != reply->headers.end() && validSha256Digest(h->second) && h->second != f.digest)
    return Status(Code::kInvalid, fmt::format("manifest digest mismatch: registry says {}, content is {}",
                                              h->second, f.digest));
  auto json = parseJson(reply->body);
  if (!json || !json->is_object())
    return Status(Code::kInvalid, "manifest " + f.digest + " is not a JSON object");
  f.json = std::move(*json);
  f.media_type = mediaTypeOf(*reply, f.json);
  f.body = std::move(reply->body);
  return f;
}

struct Descriptor {
  std::string digest;
  uint64_t size = 0;
};

Result<Descriptor> descriptorOf(const Json& j, const char* what) {
  Descriptor d;
  d.digest = getString(j, "digest");
  if (!validSha256Digest(d.digest))
    return Status(Code::kInvalid, fmt::format("manifest has an invalid {} digest \"{}\"", what, d.digest));
  if (const Json* s = find(j, "size"); s && s->is_number_unsigned()) d.size = s->get<uint64_t>();
  return d;
}

std::string randomSuffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::to_string(rng());
}

}  // namespace

Result<Image> ImageStoreImpl::pull(std::string_view name, const PullOptions& options) {
  auto ref = parseImageRef(name);
  if (!ref) return ref.status();
  const std::string refstr = ref->str();
  const std::string pull_prefix = fmt::format("failed to pull and unpack image \"{}\": ", refstr);
  const std::string resolve_prefix = fmt::format("failed to resolve reference \"{}\": ", refstr);
  RegistryClient client(*ref, options);

  // Resolve: the tag (or digest) to a manifest or an index.
  auto top = fetchManifest(client, ref->digest.empty() ? ref->tag : ref->digest, ref->digest, refstr);
  if (!top) return withPrefix(top.status(), resolve_prefix);
  Fetched manifest = std::move(*top);
  if (manifest.media_type == kOciIndex || manifest.media_type == kDockerManifestList) {
    auto chosen = chooseManifest(manifest.json, options.platform_os, options.platform_arch);
    if (!chosen)
      return Status(chosen.status().code(),
                    pull_prefix + fmt::format("no match for platform {}/{} in manifest {}: not found",
                                              options.platform_os, options.platform_arch, manifest.digest));
    if (!validSha256Digest(*chosen))
      return Status(Code::kInvalid, pull_prefix + "image index names an invalid digest \"" + *chosen + "\"");
    auto platform = fetchManifest(client, *chosen, *chosen, refstr + "@" + *chosen);
    if (!platform) return withPrefix(platform.status(), pull_prefix);
    manifest = std::move(*platform);
  }
  if (manifest.media_type.rfind(kDockerSchema1, 0) == 0)
    return Status(Code::kInvalid,
                  pull_prefix + "Docker Image Format v1 (schema 1) manifests are not supported");
  if (manifest.media_type != kOciManifest && manifest.media_type != kDockerManifest)
    return Status(Code::kInvalid,
                  pull_prefix + "unsupported manifest media type \"" + manifest.media_type + "\"");

  // The blobs the store lacks, each verified before it lands.
  auto config = descriptorOf(objectAt(manifest.json, "config"), "config");
  if (!config) return withPrefix(config.status(), pull_prefix);
  std::vector<Descriptor> blobs{*config};
  std::set<std::string> seen{config->digest};
  for (const auto& l : arrayAt(manifest.json, "layers")) {
    auto layer = descriptorOf(l, "layer");
    if (!layer) return withPrefix(layer.status(), pull_prefix);
    if (seen.insert(layer->digest).second) blobs.push_back(*layer);
  }
  size_t fetched = 0;
  for (const auto& b : blobs) {
    if (hasBlob(b.digest)) continue;
    ++fetched;
    std::string tmp = blobPath(b.digest) + ".tmp-pull-" + randomSuffix();
    std::string actual;
    auto reply = client.download("blobs/" + b.digest, tmp, b.size ? b.size : kMaxUnsizedBlob, &actual);
    Status st;
    if (!reply) {
      st = reply.status();
    } else if (reply->status != 200) {
      st = replyError(*reply, b.digest);
    } else if (actual != b.digest) {
      st = Status(Code::kInvalid,
                  fmt::format("failed to copy: digest mismatch for {}: got {}", b.digest, actual));
    } else if (b.size && fs::file_size(tmp) != b.size) {
      st = Status(Code::kInvalid, fmt::format("failed to copy: {} is {} bytes, the manifest says {}",
                                              b.digest, fs::file_size(tmp), b.size));
    } else {
      st = ingestBlobFile(tmp, b.digest, /*move=*/true);
    }
    std::error_code ec;
    fs::remove(tmp, ec);  // moved already unless something failed (or a concurrent pull won)
    if (!st) return withPrefix(st, pull_prefix);
  }
  auto stored = ingestBlobBytes(manifest.body);
  if (!stored) return withPrefix(stored.status(), pull_prefix);

  auto image = registerImage(manifest.digest, {refstr});
  if (!image) return withPrefix(image.status(), pull_prefix);
  LOG_INFO("image pulled", "image", refstr, "manifest", manifest.digest, "fetched_blobs",
           std::to_string(fetched));
  return image;
}

}  // namespace capstan::agent::runtime
