#pragma once
// Private to the image store: the implementation class shared by
// image_store.cc (index, snapshots, removal), image_import.cc (archives)
// and registry_pull.cc (pull).

#include <mutex>

#include "agent/runtime/image_store.h"
#include "common/json.h"

namespace capstan::agent::runtime {

inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";

// The hex part of "sha256:<hex>" (all of it without an algorithm).
inline std::string hexOf(std::string_view digest) {
  auto colon = digest.find(':');
  return std::string(colon == std::string_view::npos ? digest : digest.substr(colon + 1));
}

class ImageStoreImpl final : public ImageStore {
 public:
  explicit ImageStoreImpl(std::string root);
  Status load();

  Result<std::vector<Image>> importArchive(const std::string& path, std::optional<std::string> name) override;
  Result<Image> pull(std::string_view name, const PullOptions& options) override;
  Result<Image> resolve(std::string_view name) const override;
  std::vector<Image> list() const override;
  Status remove(std::string_view name) override;

  // Blob plumbing for the importers; blobs land by atomic rename, so no
  // lock is needed.
  std::string blobPath(std::string_view digest) const;
  bool hasBlob(std::string_view digest) const;
  // Copies (or moves, with `move`) a file into the blob store after
  // checking its digest.
  Status ingestBlobFile(const std::string& src, std::string_view digest, bool move = false);
  Result<std::string> ingestBlobBytes(const std::string& data);  // returns the digest
  // Records the image whose manifest blob is present (config and layers
  // too), unpacks its layers, and gives it `names`.
  Result<Image> registerImage(std::string_view manifest_digest, const std::vector<std::string>& names);
  // Resolves a manifest list/index to the platform's manifest digest.
  static Result<std::string> chooseManifest(const Json& index, std::string_view os, std::string_view arch);


 private:
  struct Record {
    std::string manifest_digest;
    std::string config_digest;
    std::vector<std::string> layer_blobs;
    std::vector<std::string> diff_ids;
    uint64_t size = 0;
    std::vector<std::string> names;
    ImageConfig config;
  };
  Image toImage(const Record& r) const;
  const Record* findLocked(std::string_view name) const;
  Status saveLocked();
  Status ensureSnapshot(const std::string& blob_digest, const std::string& diff_id);
  void collectGarbageLocked();
  Result<std::vector<Image>> importLayoutDir(const std::string& dir, std::optional<std::string> name);
  Result<std::vector<Image>> importDockerDir(const std::string& dir, std::optional<std::string> name);

  std::string root_;
  std::mutex unpack_mu_;  // serialises layer unpacking and garbage collection
  mutable std::mutex mu_;  // guards images_ and index.json
  std::map<std::string, Record> images_;  // by manifest digest
};

ImageConfig parseImageConfig(const Json& config);

}  // namespace capstan::agent::runtime
