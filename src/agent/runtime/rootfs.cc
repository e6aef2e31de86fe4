#include "agent/runtime/rootfs.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "common/pki.h"

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

std::vector<MountPoint> mountPointsOf(const Json& oci_config) {
  std::vector<MountPoint> out;
  for (const auto& m : arrayAt(oci_config, "mounts")) {
    std::string dest = getString(m, "destination");
    if (dest.size() < 2 || dest[0] != '/') continue;
    bool special = false;
    for (const char* under : {"/proc/", "/sys/", "/dev/"})
      if (dest.rfind(under, 0) == 0) special = true;
    if (special) continue;
    bool directory = true;
    if (getString(m, "type") == "bind") {
      struct stat st {};
      directory = ::stat(getString(m, "source").c_str(), &st) != 0 || S_ISDIR(st.st_mode);
    }
    out.push_back({dest, directory});
  }
  return out;
}

namespace {

enum class Entry { kNone, kDirectory, kFile, kOther };

// What the image's merged view has at `rel`, judged from the topmost layer
// that has anything there (a whiteout counts as "other").
Entry entryInImage(const std::vector<std::string>& layer_dirs, const std::string& rel) {
  for (auto it = layer_dirs.rbegin(); it != layer_dirs.rend(); ++it) {
    struct stat st {};
    if (::lstat((*it + "/" + rel).c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) return Entry::kDirectory;
    if (S_ISREG(st.st_mode)) return Entry::kFile;
    return Entry::kOther;
  }
  return Entry::kNone;
}

// The parts of `path` under "/", with nothing that could leave the layer.
std::vector<std::string> partsOf(const std::string& path) {
  std::vector<std::string> parts;
  for (const auto& part : fs::path(path).relative_path()) {
    std::string s = part.string();
    if (s.empty() || s == ".") continue;
    if (s == "..") return {};
    parts.push_back(s);
  }
  return parts;
}

}  // namespace

Result<std::string> mountPointLayer(const std::string& root, const std::vector<std::string>& layer_dirs,
                                    const std::vector<MountPoint>& points) {
  // What to create, relative paths: directories first (parents before
  // children), then files.
  std::set<std::string> dirs, files;
  for (const auto& point : points) {
    auto parts = partsOf(point.path);
    if (parts.empty()) continue;
    std::string rel;
    std::vector<std::string> wanted_dirs;
    bool fits = true;
    for (size_t i = 0; i < parts.size() && fits; ++i) {
      rel += (rel.empty() ? "" : "/") + parts[i];
      bool leaf = i + 1 == parts.size();
      Entry e = entryInImage(layer_dirs, rel);
      bool want_dir = !leaf || point.directory;
      if (e == Entry::kNone || e == (want_dir ? Entry::kDirectory : Entry::kFile)) {
        if (want_dir) wanted_dirs.push_back(rel);
        if (leaf && e != Entry::kNone) fits = false;  // the image has it: nothing to add
      } else {
        fits = false;  // crun resolves this one inside the rootfs, as before
      }
    }
    if (!fits) continue;
    dirs.insert(wanted_dirs.begin(), wanted_dirs.end());
    if (!point.directory) files.insert(rel);
  }
  for (const auto& f : files)
    if (dirs.count(f)) return std::string();  // a path both a file and a directory: leave it all to crun
  if (dirs.empty() && files.empty()) return std::string();

  std::string key;
  for (const auto& l : layer_dirs) key += l + '\n';
  for (const auto& d : dirs) key += "d " + d + '\n';
  for (const auto& f : files) key += "f " + f + '\n';
  std::string layer = root + "/" + pki::sha256Hex(key).substr(0, 32);
  if (fs::is_directory(layer)) return layer;

  // Made aside and renamed into place, so a layer is never seen half made
  // (two pod workers may make the same one at once).
  std::error_code ec;
  fs::create_directories(root, ec);
  std::string tmp = fmt::format("{}/.tmp-{}", root, std::random_device{}());
  fs::remove_all(tmp, ec);
  auto fail = [&](const std::string& what) -> Status {
    int err = errno;
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    return Status(Code::kInternal, fmt::format("mount point layer: {}: {}", what, std::strerror(err)));
  };
  if (::mkdir(tmp.c_str(), 0755) != 0) return fail("mkdir " + tmp);
  for (const auto& d : dirs)  // a std::set orders each parent before its children
    if (::mkdir((tmp + "/" + d).c_str(), 0755) != 0) return fail("mkdir " + d);
  for (const auto& f : files) {
    int fd = ::open((tmp + "/" + f).c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) return fail("create " + f);
    ::close(fd);
  }
  if (::rename(tmp.c_str(), layer.c_str()) != 0) {
    if (errno != EEXIST && errno != ENOTEMPTY) return fail("rename to " + layer);
    fs::remove_all(tmp, ec);  // another worker made it first
  }
  return layer;
}

Status unmountRootfs(const std::string& container_dir) {
  std::string rootfs = container_dir + "/rootfs";
  if (!isMountPoint(rootfs)) return Status::ok();
  if (::umount2(rootfs.c_str(), 0) == 0) return Status::ok();
  if (::umount2(rootfs.c_str(), MNT_DETACH) == 0) return Status::ok();
  return Status(Code::kInternal, "umount " + rootfs + ": " + strerror(errno));
}

}  // namespace capstan::agent::runtime
