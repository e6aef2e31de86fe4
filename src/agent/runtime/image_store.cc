#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "agent/runtime/image_store_impl.h"
#include "agent/runtime/layer_unpack.h"
#include "common/log.h"

namespace capstan::agent::runtime {
namespace fs = std::filesystem;
namespace {

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kNotFound, "cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string randomSuffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::to_string(rng());
}

Status writeFileAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp-" + randomSuffix();
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << data;
    out.flush();
    if (!out) return Status(Code::kInternal, "write " + tmp);
  }
  int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) ::fsync(fd), ::close(fd);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status(Code::kInternal, "rename " + tmp + ": " + ec.message());
  return Status::ok();
}

}  // namespace

ImageConfig parseImageConfig(const Json& config) {
  ImageConfig c;
  const Json* cfg = find(config, "config");
  if (!cfg || !cfg->is_object()) return c;
  if (auto* e = find(*cfg, "Entrypoint")) c.entrypoint = stringsOf(*e);
  if (auto* e = find(*cfg, "Cmd")) c.cmd = stringsOf(*e);
  if (auto* e = find(*cfg, "Env")) c.env = stringsOf(*e);
  c.working_dir = getString(*cfg, "WorkingDir");
  c.user = getString(*cfg, "User");
  return c;
}

Result<std::unique_ptr<ImageStore>> ImageStore::open(const std::string& root) {
  auto store = std::make_unique<ImageStoreImpl>(root);
  if (auto st = store->load(); !st) return st;
  return std::unique_ptr<ImageStore>(std::move(store));
}

ImageStoreImpl::ImageStoreImpl(std::string root) : root_(std::move(root)) {}

Status ImageStoreImpl::load() {
  std::error_code ec;
  for (const char* d : {"blobs/sha256", "snapshots", "tmp"}) {
    fs::create_directories(fs::path(root_) / d, ec);
    if (ec) return Status(Code::kInternal, "mkdir " + root_ + "/" + d + ": " + ec.message());
  }
  // Leftovers of an interrupted import or unpack.
  for (const char* d : {"tmp", "snapshots", "blobs/sha256"}) {
    for (const auto& e : fs::directory_iterator(fs::path(root_) / d, ec)) {
      std::string n = e.path().filename().string();
      if (std::string_view(d) == "tmp" || n.find(".tmp-") != std::string::npos) fs::remove_all(e.path(), ec);
    }
  }
  std::string index_path = root_ + "/index.json";
  if (!fs::exists(index_path)) return Status::ok();
  auto text = readFile(index_path);
  if (!text) return text.status();
  auto j = parseJson(*text);
  if (!j) return Status(Code::kInternal, "image index " + index_path + ": " + j.status().message());
  std::lock_guard lock(mu_);
  for (const auto& [digest, v] : (*j)["images"].items()) {
    Record r;
    r.manifest_digest = digest;
    r.config_digest = getString(v, "config");
    r.layer_blobs = stringsOf(v["layers"]);
    r.diff_ids = stringsOf(v["diffIDs"]);
    r.names = stringsOf(v["names"]);
    r.size = v.value("size", uint64_t{0});
    auto cfg_text = readFile(blobPath(r.config_digest));
    if (!cfg_text) {
      LOG_WARN("image config blob missing, dropping image", "manifest", digest);
      continue;
    }
    auto cfg = parseJson(*cfg_text);
    if (cfg) r.config = parseImageConfig(*cfg);
    images_[digest] = std::move(r);
  }
  return Status::ok();
}

Status ImageStoreImpl::saveLocked() {
  Json j;
  j["images"] = Json::object();
  for (const auto& [digest, r] : images_) {
    j["images"][digest] = {{"config", r.config_digest}, {"layers", r.layer_blobs}, {"diffIDs", r.diff_ids},
                           {"names", r.names}, {"size", r.size}};
  }
  return writeFileAtomic(root_ + "/index.json", j.dump(1));
}

std::string ImageStoreImpl::blobPath(std::string_view digest) const {
  return root_ + "/blobs/sha256/" + hexOf(digest);
}

bool ImageStoreImpl::hasBlob(std::string_view digest) const { return fs::exists(blobPath(digest)); }

Status ImageStoreImpl::ingestBlobFile(const std::string& src, std::string_view digest, bool move) {
  if (digest.substr(0, 7) != "sha256:") return Status(Code::kInvalid, "unsupported digest " + std::string(digest));
  if (hasBlob(digest)) return Status::ok();
  auto actual = sha256File(src);
  if (!actual) return actual.status();
  if (*actual != digest)
    return Status(Code::kInvalid, "digest mismatch for " + src + ": want " + std::string(digest) + ", got " + *actual);
  std::string dst = blobPath(digest);
  std::string tmp = dst + ".tmp-" + randomSuffix();
  std::error_code ec;
  if (move) {
    fs::rename(src, dst, ec);
    if (!ec) return Status::ok();
  }
  fs::copy_file(src, tmp, fs::copy_options::overwrite_existing, ec);
  if (ec) return Status(Code::kInternal, "copy blob " + src + ": " + ec.message());
  fs::rename(tmp, dst, ec);
  if (ec) return Status(Code::kInternal, "store blob: " + ec.message());
  return Status::ok();
}

Result<std::string> ImageStoreImpl::ingestBlobBytes(const std::string& data) {
  std::string digest = "sha256:" + sha256Hex(data);
  if (hasBlob(digest)) return digest;
  if (auto st = writeFileAtomic(blobPath(digest), data); !st) return st;
  return digest;
}

Status ImageStoreImpl::ensureSnapshot(const std::string& blob_digest, const std::string& diff_id) {
  std::string dir = root_ + "/snapshots/" + hexOf(diff_id);
  if (fs::exists(dir)) return Status::ok();
  std::string tmp = dir + ".tmp-" + randomSuffix();
  Status st = unpackLayer(blobPath(blob_digest), tmp);
  std::error_code ec;
  if (!st) {
    fs::remove_all(tmp, ec);
    return st;
  }
  fs::rename(tmp, dir, ec);
  if (ec) {
    fs::remove_all(tmp, ec);
    return Status(Code::kInternal, "snapshot rename: " + ec.message());
  }
  return Status::ok();
}

Result<std::string> ImageStoreImpl::chooseManifest(const Json& index, std::string_view os, std::string_view arch) {
  const Json* manifests = find(index, "manifests");
  if (!manifests || !manifests->is_array() || manifests->empty())
    return Status(Code::kInvalid, "image index has no manifests");
  for (const auto& m : *manifests) {
    const Json* p = find(m, "platform");
    if (p && getString(*p, "os") == os && getString(*p, "architecture") == arch) return getString(m, "digest");
  }
  // An index without platforms (a plain OCI layout) has one image.
  if (manifests->size() == 1 && !find((*manifests)[0], "platform")) return getString((*manifests)[0], "digest");
  return Status(Code::kNotFound, "no manifest for " + std::string(os) + "/" + std::string(arch));
}

Result<Image> ImageStoreImpl::registerImage(std::string_view manifest_digest, const std::vector<std::string>& names) {
  auto text = readFile(blobPath(manifest_digest));
  if (!text) return text.status();
  auto manifest = parseJson(*text);
  if (!manifest) return Status(Code::kInvalid, "manifest " + std::string(manifest_digest) + ": not JSON");
  Record r;
  r.manifest_digest = std::string(manifest_digest);
  r.size = text->size();
  const Json* cfg = find(*manifest, "config");
  if (!cfg) return Status(Code::kInvalid, "manifest without config");
  r.config_digest = getString(*cfg, "digest");
  auto cfg_text = readFile(blobPath(r.config_digest));
  if (!cfg_text) return Status(Code::kInvalid, "image config blob missing: " + r.config_digest);
  auto config = parseJson(*cfg_text);
  if (!config) return Status(Code::kInvalid, "image config is not JSON");
  r.config = parseImageConfig(*config);
  r.size += cfg_text->size();
  const Json* layers = find(*manifest, "layers");
  const Json* rootfs = find(*config, "rootfs");
  std::vector<std::string> diff_ids = rootfs ? stringsOf((*rootfs)["diff_ids"]) : std::vector<std::string>{};
  if (!layers || !layers->is_array() || layers->size() != diff_ids.size())
    return Status(Code::kInvalid, "manifest layers do not match the config's rootfs.diff_ids");
  for (const auto& l : *layers) {
    r.layer_blobs.push_back(getString(l, "digest"));
    r.size += l.value("size", uint64_t{0});
  }
  r.diff_ids = diff_ids;
  {
    std::lock_guard lock(unpack_mu_);
    for (size_t i = 0; i < r.layer_blobs.size(); ++i) {
      if (!hasBlob(r.layer_blobs[i])) return Status(Code::kInvalid, "layer blob missing: " + r.layer_blobs[i]);
      if (auto st = ensureSnapshot(r.layer_blobs[i], r.diff_ids[i]); !st) return st;
    }
  }
  std::lock_guard lock(mu_);
  // A name moves to the new image, as a tag does.
  for (auto& [d, other] : images_) {
    if (d == r.manifest_digest) continue;
    std::erase_if(other.names, [&](const std::string& n) {
      return std::find(names.begin(), names.end(), n) != names.end();
    });
  }
  auto& slot = images_[r.manifest_digest];
  std::vector<std::string> merged = slot.names;
  for (const auto& n : names)
    if (std::find(merged.begin(), merged.end(), n) == merged.end()) merged.push_back(n);
  r.names = std::move(merged);
  slot = std::move(r);
  if (auto st = saveLocked(); !st) return st;
  return toImage(slot);
}

Image ImageStoreImpl::toImage(const Record& r) const {
  Image img;
  img.id = r.config_digest;
  img.manifest_digest = r.manifest_digest;
  img.names = r.names;
  img.layer_digests = r.diff_ids;
  img.size = r.size;
  img.config = r.config;
  for (const auto& d : r.diff_ids) img.rootfs.layer_dirs.push_back(root_ + "/snapshots/" + hexOf(d));
  return img;
}

const ImageStoreImpl::Record* ImageStoreImpl::findLocked(std::string_view name) const {
  std::string normalised;
  if (auto ref = parseImageRef(name)) normalised = ref->str();
  for (const auto& [digest, r] : images_) {
    if (digest == name || r.config_digest == name || hexOf(r.config_digest) == name) return &r;
    for (const auto& n : r.names)
      if (n == name || n == normalised) return &r;
  }
  return nullptr;
}

Result<Image> ImageStoreImpl::resolve(std::string_view name) const {
  std::lock_guard lock(mu_);
  const Record* r = findLocked(name);
  if (!r) return Status(Code::kNotFound, "image not found: " + std::string(name));
  return toImage(*r);
}

std::vector<Image> ImageStoreImpl::list() const {
  std::lock_guard lock(mu_);
  std::vector<Image> out;
  for (const auto& [d, r] : images_) out.push_back(toImage(r));
  return out;
}

Status ImageStoreImpl::remove(std::string_view name) {
  std::lock_guard unpack(unpack_mu_);
  std::lock_guard lock(mu_);
  const Record* found = findLocked(name);
  if (!found) return Status(Code::kNotFound, "image not found: " + std::string(name));
  Record& r = images_[found->manifest_digest];
  std::string normalised;
  if (auto ref = parseImageRef(name)) normalised = ref->str();
  size_t before = r.names.size();
  std::erase_if(r.names, [&](const std::string& n) { return n == name || n == normalised; });
  // Removing by id (or the last name) removes the image.
  if (r.names.size() == before || r.names.empty()) images_.erase(r.manifest_digest);
  if (auto st = saveLocked(); !st) return st;
  collectGarbageLocked();
  return Status::ok();
}

void ImageStoreImpl::collectGarbageLocked() {
  std::set<std::string> blobs, snapshots;
  for (const auto& [d, r] : images_) {
    blobs.insert(hexOf(d));
    blobs.insert(hexOf(r.config_digest));
    for (const auto& l : r.layer_blobs) blobs.insert(hexOf(l));
    for (const auto& l : r.diff_ids) snapshots.insert(hexOf(l));
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root_ + "/blobs/sha256", ec))
    if (!blobs.count(e.path().filename().string())) fs::remove(e.path(), ec);
  for (const auto& e : fs::directory_iterator(root_ + "/snapshots", ec))
    if (!snapshots.count(e.path().filename().string())) fs::remove_all(e.path(), ec);
}

}  // namespace capstan::agent::runtime
