#include "cmd/allocator.h"

#include <jemalloc/jemalloc.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "common/log.h"

extern "C" const char* malloc_conf;
const char* malloc_conf = capstan::kMallocConf;

namespace capstan {

void keepFreedMemoryLonger() {
  if (std::getenv("MALLOC_CONF") != nullptr) return;
  ssize_t decay_ms = 10'000;
  unsigned narenas = 0;
  size_t len = sizeof(narenas);
  bool ok = mallctl("arenas.narenas", &narenas, &len, nullptr, 0) == 0;
  // Arenas created later take the defaults; the ones in use are set one by
  // one (the others are not created yet and refuse with EFAULT).
  for (const char* name : {"arenas.dirty_decay_ms", "arenas.muzzy_decay_ms"})
    ok = ok && mallctl(name, nullptr, nullptr, &decay_ms, sizeof(decay_ms)) == 0;
  for (unsigned i = 0; ok && i < narenas; ++i)
    for (const char* kind : {"dirty", "muzzy"}) {
      std::string name = "arena." + std::to_string(i) + "." + kind + "_decay_ms";
      int rc = mallctl(name.c_str(), nullptr, nullptr, &decay_ms, sizeof(decay_ms));
      ok = ok && (rc == 0 || rc == EFAULT);
    }
  if (!ok) LOG_WARN("could not lengthen the allocator's decay; keeping 1 s");
}

}  // namespace capstan
