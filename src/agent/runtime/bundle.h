#pragma once
// The OCI runtime config (config.json) of a container, from its spec;
// pure, so tests check it without crun.

#include <string>
#include <vector>

#include "agent/runtime/runtime.h"
#include "common/json.h"

namespace capstan::agent::runtime {

// containerd's default capability set (CAP_ names).
const std::vector<std::string>& defaultCapabilities();
// Every capability this kernel generation knows.
const std::vector<std::string>& allCapabilities();

// The effective set from the defaults, drop and add ("ALL" allowed in
// both; names with or without CAP_). Privileged gets all.
std::vector<std::string> effectiveCapabilities(const SecurityOptions& security);

// The default seccomp profile: allow by default, EPERM for syscalls that
// reach outside the container (mount, kexec, bpf, ptrace, ...); ones a
// granted capability legitimately needs (SYS_ADMIN for mount, SYS_PTRACE
// for ptrace, ...) are left allowed, as in Docker's profile.
Json defaultSeccompProfile(const std::vector<std::string>& capabilities);

// cgroupsPath: <parent>/<pod_uid>/<id> (pod_uid "" -> <parent>/<id>).
std::string cgroupPathOf(const std::string& parent, const std::string& pod_uid, const std::string& id);

// Validates the spec (Invalid with the reason) and builds config.json.
Result<Json> buildOciConfig(const ContainerSpec& spec, const std::string& rootfs, const std::string& cgroups_path);

// The labels of a container as stored in config.json annotations.
inline constexpr std::string_view kLabelAnnotationPrefix = "io.capstan.label/";
inline constexpr std::string_view kPodUidAnnotation = "io.capstan.pod-uid";
inline constexpr std::string_view kLogPathAnnotation = "io.capstan.log-path";

}  // namespace capstan::agent::runtime
