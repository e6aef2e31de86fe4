#pragma once
// A container's root filesystem: an overlayfs mount whose lower dirs are
// the image's read-only layer snapshots and whose upper/work dirs belong
// to the container (<layer_dir>/upper, /work, where layer_dir is on the
// node's disk; mounted at <container_dir>/rootfs).

#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace capstan::agent::runtime {

// Mounts and returns <container_dir>/rootfs over <layer_dir>/{upper,work};
// idempotent (an existing mount is kept). layer_dirs bottom first; at least
// one.
Result<std::string> mountRootfs(const std::vector<std::string>& layer_dirs, const std::string& container_dir,
                                const std::string& layer_dir);

// A mount point a container needs in its rootfs: a directory, or an empty
// file for a bind mount of a file.
struct MountPoint {
  std::string path;  // absolute, in the container
  bool directory = true;
};

// The mount points of an OCI config's "mounts": bind mounts by what their
// source is, every other type a directory. Those on the container's own
// /proc, /sys and /dev mounts are left out (those mounts are made first).
std::vector<MountPoint> mountPointsOf(const Json& oci_config);

// A read-only layer holding `points` (as empty directories and files) that
// the image's layers lack, for the top of the overlay's lower dirs. Without
// it crun creates them in the container's writable layer, on the node's
// disk, for every container (with copy-ups of their parents); with it the
// mounts land on the layer's entries, which every container with the same
// image and mount points shares: <root>/<hash>, made once, never changed.
// A point whose path the image has as anything else (a symlink, a file where
// a directory is needed) is left out: crun resolves it as before. Empty:
// nothing to add.
Result<std::string> mountPointLayer(const std::string& root, const std::vector<std::string>& layer_dirs,
                                    const std::vector<MountPoint>& points);

// Unmounts <container_dir>/rootfs if mounted; ok when it is not.
Status unmountRootfs(const std::string& container_dir);

// True when `path` is a mount point in this mount namespace.
bool isMountPoint(const std::string& path);

}  // namespace capstan::agent::runtime
