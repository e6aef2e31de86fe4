#include "agent/network/namespaces.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

namespace capstan::agent::network {
namespace fs = std::filesystem;

Result<PinnedNamespaces> pinNamespaces(const std::string& dir, const std::string& hostname) {
  PinnedNamespaces p{dir + "/net", dir + "/ipc", dir + "/uts"};
  for (const auto* path : {&p.net, &p.ipc, &p.uts}) {
    int fd = ::open(path->c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
    if (fd < 0) return Status(Code::kInternal, "create " + *path + ": " + strerror(errno));
    ::close(fd);
  }
  // A thread of our own makes the namespaces: unshare() of these three
  // changes only the calling thread, which then pins them by bind mounts
  // (the mount namespace stays the shared one) and ends. No fork: a fork
  // of the agent would cost it a copy-on-write fault on every page it
  // writes afterwards.
  const char* step = nullptr;
  int error = 0;
  std::thread([&] {
    if (unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) != 0) {
      step = "unshare", error = errno;
      return;
    }
    if (!hostname.empty() && sethostname(hostname.c_str(), hostname.size()) != 0) {
      step = "sethostname", error = errno;
      return;
    }
    const char* sources[3] = {"/proc/thread-self/ns/net", "/proc/thread-self/ns/ipc", "/proc/thread-self/ns/uts"};
    const std::string* targets[3] = {&p.net, &p.ipc, &p.uts};
    for (int i = 0; i < 3; ++i)
      if (mount(sources[i], targets[i]->c_str(), nullptr, MS_BIND, nullptr) != 0) {
        step = "bind mount", error = errno;
        return;
      }
  }).join();
  if (step) {
    unpinNamespaces(dir).ignore();
    return Status(Code::kInternal, std::string("pinning pod namespaces failed at ") + step + ": " + strerror(error));
  }
  return p;
}

Status unpinNamespaces(const std::string& dir) {
  Status first;
  for (const char* n : {"net", "ipc", "uts"}) {
    std::string path = dir + "/" + n;
    if (!fs::exists(path)) continue;
    // EINVAL: not a mount point (never pinned, or already unpinned).
    if (umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT && first.isOk())
      first = Status(Code::kInternal, "umount " + path + ": " + strerror(errno));
    ::unlink(path.c_str());
  }
  return first;
}

}  // namespace capstan::agent::network
