#pragma once
// The figures of one benchmark run, printed as a table (stdout) and written
// as JSON. Each figure sits beside its floor from the same run and the
// target it is meant to meet; nothing here asserts on timing.

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fanout_floor.h"
#include "floors.h"
#include "stats.h"

namespace capstan::bench {

struct Machine {
  unsigned cpus = 0;
  std::string kernel;
  std::string cpu_model;
  std::string data_fs;  // filesystem of the server's data dir
};

// A closed-loop load: `clients` connections each sending its next request
// as soon as the previous answer arrived.
struct LoadFigures {
  std::string what;
  size_t clients = 0;
  size_t requests = 0;
  size_t errors = 0;
  std::string first_error;
  double seconds = 0;
  double per_s = 0;
  Summary ms;
  double server_cpu_s = 0;
  double client_cpu_s = 0;
  double other_cpu_s = 0;  // everything else on the machine (noise)
};

struct ListFigures {
  size_t items = 0;
  size_t bytes = 0;
  std::vector<double> runs_ms;
  double median_ms = 0;
  double first_byte_ms = 0;  // median time to the response headers
  double server_cpu_ms = 0;  // per list
  double client_cpu_ms = 0;  // per list (reading the response)
  double asio_client_median_ms = 0;  // the same list read by the Asio/Beast client
};

struct FanoutFigures {
  size_t watchers = 0;
  size_t events = 0;     // measured events (after one warm-up event)
  size_t missed = 0;     // deliveries that did not arrive in time
  double connect_s = 0;  // opening the watch streams
  bool kernel_timestamps = false;  // delivery_ms is from SO_TIMESTAMPNS
  Summary delivery_ms;   // POST sent -> event on a watcher's socket (kernel time), all events pooled
  Summary read_ms;       // POST sent -> event read by the (single-threaded) client
  Summary spread_ms;     // first watcher's arrival -> each watcher's arrival (kernel time)
  Summary first_ms;      // POST sent -> the first watcher's arrival, one sample per event
  Summary create_ms;     // the POST's own round trip
  std::vector<Summary> per_event;
  double server_cpu_s = 0;  // the phase, from the first watch request on
  double client_cpu_s = 0;
};

struct Results {
  Machine machine;
  std::string server_url;
  std::string label;
  size_t configmap_row_bytes = 0;
  size_t pod_row_bytes = 0;
  FsyncFloor fsync;
  SqliteInsertFloor sqlite_single, sqlite_clients, sqlite_large;
  SqliteScanFloor sqlite_scan;
  TransferFloor tls_transfer;
  FanoutFloor fanout_floor;
  LoadFigures healthz, creates, gets, pod_creates;
  ListFigures list;
  FanoutFigures fanout;
  std::vector<std::string> phases_run;
  double seconds = 0;       // the whole run
  double other_cpu_s = 0;   // CPU used by other processes during the run
  double idle_before = 0;   // fraction of the machine idle just before the run
  bool has(const std::string& phase) const;
};

void printTable(const Results& r, std::FILE* out);
nlohmann::json toJson(const Results& r);

}  // namespace capstan::bench
