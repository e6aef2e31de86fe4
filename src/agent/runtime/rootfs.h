#pragma once
// A container's root filesystem: an overlayfs mount whose lower dirs are
// the image's read-only layer snapshots and whose upper/work dirs belong
// to the container (<layer_dir>/upper, /work, where layer_dir is on the
// node's disk; mounted at <container_dir>/rootfs).

#include <string>
#include <vector>

#include "common/status.h"

namespace capstan::agent::runtime {

// Mounts and returns <container_dir>/rootfs over <layer_dir>/{upper,work};
// idempotent (an existing mount is kept). layer_dirs bottom first; at least
// one.
Result<std::string> mountRootfs(const std::vector<std::string>& layer_dirs, const std::string& container_dir,
                                const std::string& layer_dir);

// Unmounts <container_dir>/rootfs if mounted; ok when it is not.
Status unmountRootfs(const std::string& container_dir);

// True when `path` is a mount point in this mount namespace.
bool isMountPoint(const std::string& path);

}  // namespace capstan::agent::runtime
