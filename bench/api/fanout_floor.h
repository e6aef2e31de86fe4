#pragma once
// The floor of the watch fan-out: an ideal server in this process that
// holds `watchers` TLS streams (the server's own certificates) and, per
// event, writes one pre-serialized chunk of `event_bytes` to each from one
// thread. Read by the same WatchFleet client as the real fan-out, so the
// difference between the two is the API server's.

#include <string>

#include "stats.h"

namespace capstan::bench {

struct FanoutFloor {
  size_t watchers = 0;
  size_t events = 0;
  Summary delivery_ms;  // first write of the event -> event on a watcher's socket (kernel time)
  Summary read_ms;      // ... -> event read by the client
  double write_all_ms = 0;  // median time the writing thread took for all watchers
};

// tls_dir holds ca.crt, server.crt, server.key, admin.crt, admin.key.
FanoutFloor measureFanoutFloor(const std::string& tls_dir, size_t watchers, size_t events, size_t event_bytes);

}  // namespace capstan::bench
