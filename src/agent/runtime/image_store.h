#pragma once
// The node's content-addressed image store.
//
//   <root>/blobs/sha256/<hex>          manifests, configs, compressed layers
//   <root>/snapshots/<diff-id hex>/    each layer unpacked once, read-only
//                                      (whiteouts applied), shared by images
//   <root>/index.json                  name -> manifest digest
//
// Names are normalised as docker and Kubernetes do: "busybox" ->
// "docker.io/library/busybox:latest". An image may carry several names.
//
// Threading: thread-safe; one lock guards the index, layer unpacking runs
// under it (imports and pulls of one node are serialised, which also
// keeps two pulls from unpacking the same layer twice).

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/runtime/runtime.h"
#include "common/status.h"

namespace capstan::agent::runtime {

// A parsed reference: registry/repository[:tag][@digest].
struct ImageRef {
  std::string registry;    // "docker.io", "127.0.0.1:5000"
  std::string repository;  // "library/busybox"
  std::string tag;         // "latest" when neither tag nor digest was given
  std::string digest;      // "sha256:..." or empty
  // "docker.io/library/busybox:latest" or ".../busybox@sha256:..."
  std::string str() const;
};

// Kubernetes/docker normalisation: no registry -> docker.io, docker.io
// single names -> library/, no tag and no digest -> latest. Invalid for
// empty or malformed input (upper case repository, bad digest).
Result<ImageRef> parseImageRef(std::string_view text);

// The parts of the image config the bundle needs.
struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string working_dir;
  std::string user;  // "uid", "uid:gid", "name", "name:group"
};

struct Image {
  std::string id;               // config digest ("sha256:...")
  std::string manifest_digest;  // what imageID/repo digest report
  std::vector<std::string> names;
  std::vector<std::string> layer_digests;  // diff ids, bottom first
  uint64_t size = 0;            // compressed bytes of its blobs
  ImageConfig config;
  RootfsSpec rootfs;            // snapshot dirs, bottom first
};

// Kubernetes' command/args over the image's entrypoint/cmd: command
// replaces the entrypoint (and drops cmd), args replaces cmd.
std::vector<std::string> resolveArgs(const ImageConfig& config, const std::vector<std::string>& command,
                                     const std::vector<std::string>& args);

// Credentials for one registry (from imagePullSecrets).
struct RegistryAuth {
  std::string username;
  std::string password;
  std::string identity_token;  // used as a refresh token when set
};

struct PullOptions {
  // Hosts ("127.0.0.1:5000") spoken to over plain HTTP.
  std::vector<std::string> insecure_registries;
  std::map<std::string, RegistryAuth> auth;  // registry host -> credentials
  std::string platform_os = "linux";
  std::string platform_arch = "amd64";
  long timeout_seconds = 300;
};

class ImageStore {
 public:
  virtual ~ImageStore() = default;

  static Result<std::unique_ptr<ImageStore>> open(const std::string& root);

  // Loads an OCI image layout directory, an OCI archive (tar of a layout),
  // or a `docker save` tarball (manifest.json). Every image found is added
  // under the names it carries (org.opencontainers.image.ref.name /
  // io.containerd.image.name annotations, RepoTags); `name`, when given,
  // names the single (or first) image instead. Idempotent.
  virtual Result<std::vector<Image>> importArchive(const std::string& path,
                                                   std::optional<std::string> name = std::nullopt) = 0;

  // Pulls from an OCI distribution registry (manifest lists resolved to
  // the platform, Docker Hub's bearer-token flow, basic auth, digests
  // verified). NotFound if the registry has no such image, Unauthorized,
  // Unavailable when it cannot be reached.
  virtual Result<Image> pull(std::string_view name, const PullOptions& options = {}) = 0;

  // By name (normalised) or by id / manifest digest. NotFound.
  virtual Result<Image> resolve(std::string_view name) const = 0;
  virtual std::vector<Image> list() const = 0;

  // Drops the name; once an image has no names its blobs and the
  // snapshots no other image uses are deleted. The caller must not remove
  // an image that running containers use. NotFound.
  virtual Status remove(std::string_view name) = 0;
};

}  // namespace capstan::agent::runtime
