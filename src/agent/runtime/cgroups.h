#pragma once
// cgroup v1 plumbing for the runtime (this host is hybrid: every v1
// controller on its own hierarchy under /sys/fs/cgroup, cgroup2 at
// /sys/fs/cgroup/unified with no controllers -- ideally).
//
// The hybrid problem: crun 1.8 refuses to create a container when
// /sys/fs/cgroup/unified/cgroup.controllers is non-empty ("cgroups in
// hybrid mode not supported"). On a fresh machine of this kind it holds
// `hugetlb`, a controller nobody mounted as v1. fixHybridCgroups() mounts
// each such controller on its own v1 hierarchy (/sys/fs/cgroup/<name>), as
// a distribution's init would have done; cgroup2 is then controller-free
// and crun runs. We chose this over running crun in a private mount
// namespace without the unified mount because (1) it is one idempotent
// step at agent start instead of a namespace dance around every crun
// call (create, exec, kill, delete, update, state), (2) crun and runc then
// agree about the host, so a human debugging with plain `crun` sees what
// the agent sees, and (3) it was measured to work (runtime-probe.md §1,
// and tests/runtime here). The cost: it is host-wide and lasts until
// reboot (the hierarchy cannot be given back to cgroup2), which is what
// any v1 host with that controller mounted looks like anyway.

#include <cstdint>
#include <string>
#include <vector>

#include "agent/runtime/runtime.h"
#include "common/status.h"

namespace capstan::agent::runtime {

inline constexpr const char* kCgroupRoot = "/sys/fs/cgroup";

// Controllers left on cgroup2 (empty when the host is fine or pure v2).
std::vector<std::string> hybridLeftoverControllers();

// Mounts each leftover controller as its own v1 hierarchy; ok when there
// is nothing to do. Internal error when the controllers stay on cgroup2.
Status fixHybridCgroups();

// Mount points of every cgroup hierarchy (v1 ones and the unified one).
std::vector<std::string> cgroupMounts();

// The directory of `path` (absolute cgroup path, "/capstan/pod/ctr") in
// the v1 hierarchy that carries `controller`; empty if not mounted.
std::string controllerDir(const std::string& controller, const std::string& path);

// rmdir of `path` in every hierarchy (the leaf must be empty of tasks);
// ok when absent. Returns the first error other than ENOENT/EBUSY.
Status removeCgroup(const std::string& path);

// True when the memory cgroup's oom_kill counter is non-zero.
bool cgroupOomKilled(const std::string& path);

Result<ContainerStats> readCgroupStats(const std::string& path);

// Usage from explicit controller directories (readCgroupStats resolves
// them from the mounts; tests pass fake ones). Reads cgroup v1 files
// (memory.usage_in_bytes, memory.stat's total_* fields, cpuacct.usage) and,
// where those are absent, their cgroup v2 equivalents (memory.current,
// memory.stat's inactive_file/anon, cpu.stat's usage_usec). Missing files
// read as 0. Working set as cAdvisor computes it: usage - inactive_file.
ContainerStats readCgroupStatsFrom(const std::string& memory_dir, const std::string& cpu_dir,
                                   const std::string& pids_dir);

}  // namespace capstan::agent::runtime
