// `capstan image import`: OCI layout dirs, OCI archives and docker-save
// tarballs into the store.

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "agent/runtime/image_store_impl.h"
#include "agent/runtime/layer_unpack.h"
#include "common/log.h"

namespace capstan::agent::runtime {
namespace fs = std::filesystem;
namespace {

Result<Json> readJsonFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kInvalid, "missing " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  auto j = parseJson(ss.str());
  if (!j) return Status(Code::kInvalid, path.string() + ": " + j.status().message());
  return j;
}

// A name as the archive carries it; a bare tag ("1", "latest") names no
// repository, so it is not a name on its own.
std::optional<std::string> nameFromAnnotation(const Json& descriptor) {
  const Json* a = find(descriptor, "annotations");
  if (!a) return std::nullopt;
  for (const char* key : {"io.containerd.image.name", "org.opencontainers.image.ref.name"}) {
    std::string v = getString(*a, key);
    if (v.empty() || (v.find('/') == std::string::npos && v.find(':') == std::string::npos)) continue;
    if (auto ref = parseImageRef(v)) return ref->str();
  }
  return std::nullopt;
}

bool isGzip(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  unsigned char m[2] = {0, 0};
  in.read(reinterpret_cast<char*>(m), 2);
  return m[0] == 0x1f && m[1] == 0x8b;
}

}  // namespace

Result<std::vector<Image>> ImageStoreImpl::importArchive(const std::string& path, std::optional<std::string> name) {
  if (name) {
    auto ref = parseImageRef(*name);
    if (!ref) return ref.status();
    name = ref->str();
  }
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (fs::exists(fs::path(path) / "index.json")) return importLayoutDir(path, name);
    if (fs::exists(fs::path(path) / "manifest.json")) return importDockerDir(path, name);
    return Status(Code::kInvalid, path + ": neither an OCI layout nor a docker-save directory");
  }
  if (!fs::is_regular_file(path, ec)) return Status(Code::kNotFound, "no such file: " + path);
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string tmp = root_ + "/tmp/import-" + std::to_string(rng());
  Status st = unpackLayer(path, tmp);
  Result<std::vector<Image>> result = st;
  if (st) {
    if (fs::exists(fs::path(tmp) / "index.json"))
      result = importLayoutDir(tmp, name);
    else if (fs::exists(fs::path(tmp) / "manifest.json"))
      result = importDockerDir(tmp, name);
    else
      result = Status(Code::kInvalid, path + ": neither an OCI archive nor a docker-save tarball");
  }
  fs::remove_all(tmp, ec);
  return result;
}

Result<std::vector<Image>> ImageStoreImpl::importLayoutDir(const std::string& dir, std::optional<std::string> name) {
  auto index = readJsonFile(fs::path(dir) / "index.json");
  if (!index) return index.status();
  const Json* manifests = find(*index, "manifests");
  if (!manifests || !manifests->is_array() || manifests->empty())
    return Status(Code::kInvalid, dir + ": index.json lists no manifests");
  auto blob = [&](std::string_view digest) { return (fs::path(dir) / "blobs" / "sha256" / hexOf(digest)).string(); };
  std::vector<Image> out;
  for (const auto& desc : *manifests) {
    std::string digest = getString(desc, "digest");
    std::string media = getString(desc, "mediaType");
    if (auto st = ingestBlobFile(blob(digest), digest); !st) return st;
    if (media == kOciIndex || media == kDockerManifestList) {
      auto nested = readJsonFile(blob(digest));
      if (!nested) return nested.status();
      auto chosen = chooseManifest(*nested, "linux", "amd64");
      if (!chosen) return chosen.status();
      digest = *chosen;
      if (auto st = ingestBlobFile(blob(digest), digest); !st) return st;
    }
    auto manifest = readJsonFile(blob(digest));
    if (!manifest) return manifest.status();
    std::string config = getString((*manifest)["config"], "digest");
    if (auto st = ingestBlobFile(blob(config), config); !st) return st;
    for (const auto& l : (*manifest)["layers"]) {
      std::string ld = getString(l, "digest");
      if (auto st = ingestBlobFile(blob(ld), ld); !st) return st;
    }
    std::vector<std::string> names;
    if (name && out.empty())
      names.push_back(*name);
    else if (auto n = nameFromAnnotation(desc))
      names.push_back(*n);
    auto image = registerImage(digest, names);
    if (!image) return image.status();
    LOG_INFO("image imported", "manifest", digest, "names", names.empty() ? "" : names[0]);
    out.push_back(std::move(*image));
  }
  return out;
}

Result<std::vector<Image>> ImageStoreImpl::importDockerDir(const std::string& dir, std::optional<std::string> name) {
  auto manifest = readJsonFile(fs::path(dir) / "manifest.json");
  if (!manifest) return manifest.status();
  if (!manifest->is_array() || manifest->empty()) return Status(Code::kInvalid, "manifest.json lists no images");
  std::vector<Image> out;
  for (const auto& entry : *manifest) {
    fs::path config_path = fs::path(dir) / getString(entry, "Config");
    auto config_digest = sha256File(config_path.string());
    if (!config_digest) return config_digest.status();
    if (auto st = ingestBlobFile(config_path.string(), *config_digest); !st) return st;
    Json oci = {{"schemaVersion", 2},
                {"mediaType", kOciManifest},
                {"config",
                 {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                  {"digest", *config_digest},
                  {"size", fs::file_size(config_path)}}},
                {"layers", Json::array()}};
    for (const auto& l : entry.value("Layers", Json::array())) {
      if (!l.is_string()) return Status(Code::kInvalid, "manifest.json: bad layer entry");
      fs::path lp = fs::path(dir) / l.get<std::string>();
      auto digest = sha256File(lp.string());
      if (!digest) return digest.status();
      if (auto st = ingestBlobFile(lp.string(), *digest); !st) return st;
      oci["layers"].push_back({{"mediaType", isGzip(lp) ? "application/vnd.oci.image.layer.v1.tar+gzip"
                                                         : "application/vnd.oci.image.layer.v1.tar"},
                               {"digest", *digest},
                               {"size", fs::file_size(blobPath(*digest))}});
    }
    auto manifest_digest = ingestBlobBytes(oci.dump());
    if (!manifest_digest) return manifest_digest.status();
    std::vector<std::string> names;
    if (name && out.empty()) {
      names.push_back(*name);
    } else {
      for (const auto& tag : entry.value("RepoTags", Json::array()))
        if (tag.is_string())
          if (auto ref = parseImageRef(tag.get<std::string>())) names.push_back(ref->str());
    }
    auto image = registerImage(*manifest_digest, names);
    if (!image) return image.status();
    out.push_back(std::move(*image));
  }
  return out;
}

}  // namespace capstan::agent::runtime
