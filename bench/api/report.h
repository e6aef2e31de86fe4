#pragma once
// The figures of one benchmark run, printed as a table (stdout) and written
// as JSON. Each figure sits beside its floor from the same run and the
// target it is meant to meet; nothing here asserts on timing.

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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
};

struct ListFigures {
  size_t items = 0;
  size_t bytes = 0;
  std::vector<double> runs_ms;
  double median_ms = 0;
};

struct FanoutFigures {
  size_t watchers = 0;
  size_t events = 0;     // measured events (after one warm-up event)
  size_t missed = 0;     // deliveries that did not arrive in time
  double connect_s = 0;  // opening the watch streams
  Summary delivery_ms;   // POST sent -> event read by a watcher, all events pooled
  Summary spread_ms;     // first watcher's arrival -> each watcher's arrival
  Summary create_ms;     // the POST's own round trip
  std::vector<Summary> per_event;
  double server_cpu_s = 0;
};

struct Results {
  Machine machine;
  std::string server_url;
  size_t configmap_row_bytes = 0;
  size_t pod_row_bytes = 0;
  FsyncFloor fsync;
  SqliteInsertFloor sqlite_single, sqlite_clients, sqlite_large;
  SqliteScanFloor sqlite_scan;
  LoadFigures healthz, creates, gets, pod_creates;
  ListFigures list;
  FanoutFigures fanout;
  std::vector<std::string> phases_run;
  bool has(const std::string& phase) const;
};

void printTable(const Results& r, std::FILE* out);
nlohmann::json toJson(const Results& r);

}  // namespace capstan::bench
