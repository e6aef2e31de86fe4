#pragma once
// The shim program's side (capstan-shim, src/shim/main.cc): what it runs
// is described in shim.h. Kept free of the agent's libraries, so the
// program is small and starts in about a millisecond.

#include <cstddef>
#include <cstdint>

namespace capstan::agent::runtime {

// capstan-shim's main: the arguments launchShim passes, the sync pipe on
// fd 3. Returns once the shim proper has been forked off.
int shimMain(int argc, char** argv);

// Field 22 (starttime) of a /proc/<pid>/stat text; 0 if malformed.
uint64_t startTimeFromStat(const char* buf, size_t n);

}  // namespace capstan::agent::runtime
