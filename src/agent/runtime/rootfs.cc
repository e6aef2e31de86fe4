#include "agent/runtime/rootfs.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace capstan::agent::runtime {
namespace fs = std::filesystem;

// statx's STATX_ATTR_MOUNT_ROOT (Linux 5.8): one system call, where
// reading /proc/self/mountinfo grows with every mount on the node (each
// pod adds its rootfs, volumes and namespace files).
bool isMountPoint(const std::string& path) {
  struct statx st {};
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st) != 0) return false;
  return (st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (st.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

Result<std::string> mountRootfs(const std::vector<std::string>& layer_dirs, const std::string& container_dir,
                                const std::string& layer_dir) {
  if (layer_dirs.empty()) return Status(Code::kInvalid, "rootfs needs at least one layer");
  if (layer_dir.find_first_of(",:") != std::string::npos)
    return Status(Code::kInvalid, "layer dir with ',' or ':': " + layer_dir);
  std::string rootfs = container_dir + "/rootfs";
  std::error_code ec;
  for (const std::string& d : {rootfs, layer_dir + "/upper", layer_dir + "/work"}) {
    fs::create_directories(d, ec);
    if (ec) return Status(Code::kInternal, "mkdir " + d + ": " + ec.message());
  }
  if (isMountPoint(rootfs)) return rootfs;
  std::string lower;
  for (auto it = layer_dirs.rbegin(); it != layer_dirs.rend(); ++it) {
    if (it->find_first_of(",:") != std::string::npos)
      return Status(Code::kInvalid, "layer path with ',' or ':': " + *it);
    if (!lower.empty()) lower += ':';
    lower += *it;
  }
  std::string opts = "lowerdir=" + lower + ",upperdir=" + layer_dir + "/upper,workdir=" + layer_dir + "/work";
  if (opts.size() >= 4096) return Status(Code::kInvalid, "too many layers for one overlay mount");
  if (::mount("overlay", rootfs.c_str(), "overlay", 0, opts.c_str()) != 0)
    return Status(Code::kInternal, "mount overlay on " + rootfs + ": " + strerror(errno));
  return rootfs;
}

Status unmountRootfs(const std::string& container_dir) {
  std::string rootfs = container_dir + "/rootfs";
  if (!isMountPoint(rootfs)) return Status::ok();
  if (::umount2(rootfs.c_str(), 0) == 0) return Status::ok();
  if (::umount2(rootfs.c_str(), MNT_DETACH) == 0) return Status::ok();
  return Status(Code::kInternal, "umount " + rootfs + ": " + strerror(errno));
}

}  // namespace capstan::agent::runtime
