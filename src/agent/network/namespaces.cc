#include "agent/network/namespaces.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace capstan::agent::network {
namespace fs = std::filesystem;

Result<PinnedNamespaces> pinNamespaces(const std::string& dir, const std::string& hostname) {
  PinnedNamespaces p{dir + "/net", dir + "/ipc", dir + "/uts"};
  for (const auto* path : {&p.net, &p.ipc, &p.uts}) {
    int fd = ::open(path->c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
    if (fd < 0) return Status(Code::kInternal, "create " + *path + ": " + strerror(errno));
    ::close(fd);
  }
  // The child runs only syscalls on strings prepared here (the agent is
  // multi-threaded); it reports the failed step as its exit code.
  const char* sources[3] = {"/proc/self/ns/net", "/proc/self/ns/ipc", "/proc/self/ns/uts"};
  const char* targets[3] = {p.net.c_str(), p.ipc.c_str(), p.uts.c_str()};
  const char* name = hostname.c_str();
  size_t name_len = hostname.size();
  pid_t pid = fork();
  if (pid < 0) return Status(Code::kInternal, std::string("fork: ") + strerror(errno));
  if (pid == 0) {
    if (unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) != 0) _exit(10);
    if (name_len > 0 && sethostname(name, name_len) != 0) _exit(11);
    for (int i = 0; i < 3; ++i)
      if (mount(sources[i], targets[i], nullptr, MS_BIND, nullptr) != 0) _exit(12 + i);
    _exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    unpinNamespaces(dir).ignore();
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    const char* step = code == 10 ? "unshare" : code == 11 ? "sethostname" : "bind mount";
    return Status(Code::kInternal, std::string("pinning pod namespaces failed at ") + step);
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
