#pragma once
// Pod namespaces without a pause process: a short-lived child unshares a
// new network, IPC and UTS namespace, sets the hostname, and bind-mounts
// its /proc/self/ns/{net,ipc,uts} onto files in the sandbox dir. The
// mounts keep the namespaces alive after the child exits.

#include <string>

#include "common/status.h"

namespace capstan::agent::network {

struct PinnedNamespaces {
  std::string net, ipc, uts;
};

// Creates <dir>/{net,ipc,uts} pinned to new namespaces.
Result<PinnedNamespaces> pinNamespaces(const std::string& dir, const std::string& hostname);

// Unmounts and deletes the pins (each if present); ok when absent.
Status unpinNamespaces(const std::string& dir);

}  // namespace capstan::agent::network
