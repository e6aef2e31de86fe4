// The default seccomp profile: a deny-list in OCI JSON.

#include <algorithm>

#include "agent/runtime/bundle.h"

namespace capstan::agent::runtime {
namespace {

struct Group {
  const char* lifted_by;  // a capability that makes these legitimate, or nullptr
  std::vector<const char*> syscalls;
};

// What Docker's and containerd's default profiles refuse, as a deny-list.
const std::vector<Group>& deniedGroups() {
  static const std::vector<Group> groups = {
      {nullptr,
       {"acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module", "finit_module",
        "get_kernel_syms", "init_module", "ioperm", "iopl", "kexec_file_load", "kexec_load", "keyctl",
        "lookup_dcookie", "nfsservctl", "perf_event_open", "query_module", "request_key", "settimeofday", "swapon",
        "swapoff", "sysfs", "uselib", "userfaultfd", "ustat", "open_by_handle_at", "reboot"}},
      {"CAP_SYS_ADMIN",
       {"mount", "umount2", "pivot_root", "unshare", "setns", "name_to_handle_at", "quotactl", "fsopen", "fsconfig",
        "fsmount", "fspick", "move_mount", "open_tree"}},
      {"CAP_SYS_PTRACE", {"ptrace", "process_vm_readv", "process_vm_writev", "kcmp"}},
      {"CAP_SYS_NICE", {"get_mempolicy", "set_mempolicy", "mbind", "move_pages"}},
  };
  return groups;
}

}  // namespace

Json defaultSeccompProfile(const std::vector<std::string>& capabilities) {
  auto has = [&](const char* cap) {
    return cap && std::find(capabilities.begin(), capabilities.end(), cap) != capabilities.end();
  };
  Json names = Json::array();
  for (const auto& g : deniedGroups()) {
    if (has(g.lifted_by)) continue;
    for (const char* s : g.syscalls) names.push_back(s);
  }
  return {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
      {"syscalls", Json::array({{{"names", names}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}}})},
  };
}

}  // namespace capstan::agent::runtime
