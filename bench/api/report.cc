#include "report.h"

#include <fmt/format.h>

#include <algorithm>

namespace capstan::bench {
namespace {

using Json = nlohmann::json;

std::string thousands(double v) {
  auto n = static_cast<long long>(v + 0.5);
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string ms(double v) { return v >= 100 ? fmt::format("{:.0f} ms", v) : v >= 10 ? fmt::format("{:.1f} ms", v) : fmt::format("{:.2f} ms", v); }

// A rate as a fraction of its floor; a latency as a multiple of its floor.
std::string rateRatio(double measured, double floor) {
  return floor > 0 ? fmt::format("{:.2f} of floor", measured / floor) : "-";
}
std::string latencyRatio(double measured, double floor) {
  return floor > 0 ? fmt::format("{:.1f}x floor", measured / floor) : "-";
}

std::string verdict(bool met) { return met ? "met" : "MISSED"; }

struct Row {
  std::string figure, measured, floor, ratio, target;
};

Json summaryJson(const Summary& s) {
  return {{"count", s.count}, {"p50_ms", s.p50}, {"p90_ms", s.p90}, {"p99_ms", s.p99}, {"max_ms", s.max}, {"mean_ms", s.mean}};
}

Json loadJson(const LoadFigures& f) {
  return {{"what", f.what},
          {"clients", f.clients},
          {"requests", f.requests},
          {"errors", f.errors},
          {"first_error", f.first_error},
          {"seconds", f.seconds},
          {"per_s", f.per_s},
          {"latency", summaryJson(f.ms)},
          {"server_cpu_s", f.server_cpu_s},
          {"client_cpu_s", f.client_cpu_s},
          {"other_cpu_s", f.other_cpu_s},
          {"server_cpu_us_per_request", f.requests ? f.server_cpu_s * 1e6 / static_cast<double>(f.requests) : 0},
          {"client_cpu_us_per_request", f.requests ? f.client_cpu_s * 1e6 / static_cast<double>(f.requests) : 0}};
}

Json insertJson(const SqliteInsertFloor& f) {
  return {{"batch", f.batch}, {"row_bytes", f.row_bytes}, {"rows_per_s", f.rows_per_s}, {"commit", summaryJson(f.commit_ms)}};
}

}  // namespace

bool Results::has(const std::string& phase) const {
  return std::find(phases_run.begin(), phases_run.end(), phase) != phases_run.end();
}

void printTable(const Results& r, std::FILE* out) {
  const auto& m = r.machine;
  fmt::print(out, "\ncapstan API benchmark{}: {} CPUs ({}), {}, data dir on {}\n", r.label.empty() ? "" : " (" + r.label + ")",
             m.cpus, m.cpu_model, m.kernel, m.data_fs);
  fmt::print(out, "client and server share the machine; ratios use floors measured in this run\n");
  fmt::print(out, "machine {:.0f}% idle before the run; other processes used {:.1f} CPU-s over the {:.0f} s run{}\n\n",
             100 * r.idle_before, r.other_cpu_s, r.seconds,
             r.seconds > 0 && r.other_cpu_s / r.seconds > 0.1 ? " (NOISY: figures are pessimistic)" : "");

  const bool floors = r.has("floors");
  const double fsync50 = floors ? r.fsync.latency_ms.p50 : 0;
  const std::string fsync_floor = floors ? fmt::format("write+fdatasync p50 {}", ms(fsync50)) : "-";
  std::vector<Row> rows;
  auto addLoad = [&](const LoadFigures& f, const std::string& name, bool is_create, bool with_target) {
    if (!f.requests) return;
    std::string err = f.errors ? fmt::format(" ({} errors)", f.errors) : "";
    if (is_create) {
      rows.push_back({name + " creates/s", thousands(f.per_s) + "/s" + err,
                      floors ? fmt::format("SQLite batch {}: {}/s", r.sqlite_clients.batch, thousands(r.sqlite_clients.rows_per_s)) : "-",
                      floors ? rateRatio(f.per_s, r.sqlite_clients.rows_per_s) : "-",
                      with_target ? ">= 10,000/s " + verdict(f.per_s >= 10000) : ""});
      rows.push_back({name + " create p50", ms(f.ms.p50), fsync_floor, floors ? latencyRatio(f.ms.p50, fsync50) : "-", ""});
      rows.push_back({name + " create p99", ms(f.ms.p99),
                      floors ? fmt::format("SQLite commit of {} p99 {}", r.sqlite_clients.batch, ms(r.sqlite_clients.commit_ms.p99)) : "-",
                      floors ? latencyRatio(f.ms.p99, r.sqlite_clients.commit_ms.p99) : "-",
                      with_target ? "<= 5 ms " + verdict(f.ms.p99 <= 5) : ""});
    } else {
      const auto& h = r.healthz;
      std::string hf = h.requests ? fmt::format("GET /healthz p50 {}", ms(h.ms.p50)) : "-";
      rows.push_back({name + " gets/s", thousands(f.per_s) + "/s" + err,
                      h.requests ? fmt::format("GET /healthz {}/s", thousands(h.per_s)) : "-",
                      h.requests ? rateRatio(f.per_s, h.per_s) : "-", ""});
      rows.push_back({name + " get p50", ms(f.ms.p50), hf, h.requests ? latencyRatio(f.ms.p50, h.ms.p50) : "-", ""});
      rows.push_back({name + " get p99", ms(f.ms.p99), h.requests ? fmt::format("GET /healthz p99 {}", ms(h.ms.p99)) : "-",
                      h.requests ? latencyRatio(f.ms.p99, h.ms.p99) : "-", ""});
    }
  };
  addLoad(r.creates, "ConfigMap", true, true);
  addLoad(r.pod_creates, "Pod", true, false);
  addLoad(r.gets, "ConfigMap", false, false);
  if (r.list.items) {
    const auto& t = r.tls_transfer;
    rows.push_back({fmt::format("list {} pods (median of {})", thousands(static_cast<double>(r.list.items)), r.list.runs_ms.size()),
                    ms(r.list.median_ms),
                    t.bytes ? fmt::format("TLS loopback transfer of {:.1f} MB {}", static_cast<double>(t.bytes) / 1e6, ms(t.median_ms)) : "-",
                    t.bytes ? latencyRatio(r.list.median_ms, t.median_ms) : "-", "<= 50 ms " + verdict(r.list.median_ms <= 50)});
    if (r.sqlite_scan.rows)
      rows.push_back({"  (same rows read from SQLite)", ms(r.sqlite_scan.median_ms), "what the watch cache saves", "", ""});
  }
  if (r.fanout.delivery_ms.count) {
    const auto& f = r.fanout;
    const auto& ff = r.fanout_floor;
    std::string w = thousands(static_cast<double>(f.watchers));
    // The real path also makes the event durable first: its floor is the
    // ideal fan-out plus one fdatasync.
    auto floorOf = [&](double ideal) { return ideal + fsync50; };
    bool has_floor = floors && ff.delivery_ms.count;
    rows.push_back({fmt::format("event to {} watchers p50 (at socket)", w), ms(f.delivery_ms.p50),
                    has_floor ? fmt::format("ideal TLS fan-out p50 {} + fdatasync", ms(ff.delivery_ms.p50)) : "-",
                    has_floor ? latencyRatio(f.delivery_ms.p50, floorOf(ff.delivery_ms.p50)) : "-", ""});
    rows.push_back({fmt::format("event to {} watchers p99 (at socket)", w), ms(f.delivery_ms.p99),
                    has_floor ? fmt::format("ideal TLS fan-out p99 {} + fdatasync", ms(ff.delivery_ms.p99)) : "-",
                    has_floor ? latencyRatio(f.delivery_ms.p99, floorOf(ff.delivery_ms.p99)) : "-",
                    "<= 5 ms " + verdict(f.delivery_ms.p99 <= 5)});
    rows.push_back({"  POST -> first watcher p50", ms(f.first_ms.p50), floors ? fsync_floor : "", "", ""});
    rows.push_back({"  first to last watcher p99", ms(f.spread_ms.p99), "", "", ""});
    rows.push_back({"  read by the client p50 / p99", ms(f.read_ms.p50) + " / " + ms(f.read_ms.p99),
                    has_floor ? fmt::format("ideal: {} / {}", ms(ff.read_ms.p50), ms(ff.read_ms.p99)) : "", "", ""});
  }

  Row header{"figure", "measured", "floor (same run)", "ratio", "target"};
  size_t w[4] = {header.figure.size(), header.measured.size(), header.floor.size(), header.ratio.size()};
  for (const auto& row : rows) {
    w[0] = std::max(w[0], row.figure.size());
    w[1] = std::max(w[1], row.measured.size());
    w[2] = std::max(w[2], row.floor.size());
    w[3] = std::max(w[3], row.ratio.size());
  }
  auto line = [&](const Row& row) {
    fmt::print(out, "{:<{}}  {:>{}}  {:<{}}  {:<{}}  {}\n", row.figure, w[0], row.measured, w[1], row.floor, w[2], row.ratio,
               w[3], row.target);
  };
  line(header);
  line({std::string(w[0], '-'), std::string(w[1], '-'), std::string(w[2], '-'), std::string(w[3], '-'), "------"});
  for (const auto& row : rows) line(row);

  if (floors) {
    fmt::print(out, "\nfloors: write 4 KiB+fdatasync p50 {} p99 {}; SQLite durable inserts of {} B rows:", ms(r.fsync.latency_ms.p50),
               ms(r.fsync.latency_ms.p99), r.sqlite_clients.row_bytes);
    for (const auto* f : {&r.sqlite_single, &r.sqlite_clients, &r.sqlite_large})
      fmt::print(out, " batch {} {}/s (commit p50 {});", f->batch, thousands(f->rows_per_s), ms(f->commit_ms.p50));
    fmt::print(out, "\n");
  }
  fmt::print(out, "CPU per request (server / client):");
  for (const auto* f : {&r.healthz, &r.creates, &r.pod_creates, &r.gets}) {
    if (!f->requests) continue;
    fmt::print(out, " {} {:.0f} / {:.0f} us;", f->what, f->server_cpu_s * 1e6 / static_cast<double>(f->requests),
               f->client_cpu_s * 1e6 / static_cast<double>(f->requests));
  }
  fmt::print(out, "\n");
  if (r.list.items) {
    fmt::print(out, "list: {:.1f} MB; headers after {} (median); CPU per list: server {}, client {}; read by the Asio client: {}\n",
               static_cast<double>(r.list.bytes) / 1e6, ms(r.list.first_byte_ms), ms(r.list.server_cpu_ms), ms(r.list.client_cpu_ms),
               ms(r.list.asio_client_median_ms));
  }
  if (r.fanout.watchers) {
    fmt::print(out, "fan-out: {} watchers opened in {:.2f} s; each event's create took p50 {}; CPU over the phase: server {:.2f} s, client {:.2f} s\n",
               r.fanout.watchers, r.fanout.connect_s, ms(r.fanout.create_ms.p50), r.fanout.server_cpu_s, r.fanout.client_cpu_s);
  }
  fmt::print(out, "\n");
}

Json toJson(const Results& r) {
  Json j;
  j["machine"] = {{"cpus", r.machine.cpus}, {"kernel", r.machine.kernel}, {"cpu_model", r.machine.cpu_model}, {"data_fs", r.machine.data_fs}};
  j["server_url"] = r.server_url;
  j["label"] = r.label;
  j["seconds"] = r.seconds;
  j["idle_before"] = r.idle_before;
  j["other_cpu_s"] = r.other_cpu_s;
  j["phases"] = r.phases_run;
  j["row_bytes"] = {{"configmap", r.configmap_row_bytes}, {"pod", r.pod_row_bytes}};
  if (r.has("floors")) {
    j["floors"] = {{"fdatasync_4k", summaryJson(r.fsync.latency_ms)},
                   {"sqlite_insert", {insertJson(r.sqlite_single), insertJson(r.sqlite_clients), insertJson(r.sqlite_large)}}};
    if (r.sqlite_scan.rows) j["floors"]["sqlite_range_read"] = {{"rows", r.sqlite_scan.rows}, {"median_ms", r.sqlite_scan.median_ms}};
    if (r.fanout_floor.watchers)
      j["floors"]["ideal_tls_fanout"] = {{"watchers", r.fanout_floor.watchers},
                                         {"events", r.fanout_floor.events},
                                         {"delivery", summaryJson(r.fanout_floor.delivery_ms)},
                                         {"read_by_client", summaryJson(r.fanout_floor.read_ms)},
                                         {"write_all_ms", r.fanout_floor.write_all_ms}};
    if (r.tls_transfer.bytes)
      j["floors"]["tls_loopback_transfer"] = {{"bytes", r.tls_transfer.bytes}, {"median_ms", r.tls_transfer.median_ms}};
  }
  if (r.healthz.requests) j["healthz"] = loadJson(r.healthz);
  if (r.creates.requests) j["configmap_creates"] = loadJson(r.creates);
  if (r.gets.requests) j["configmap_gets"] = loadJson(r.gets);
  if (r.pod_creates.requests) j["pod_creates"] = loadJson(r.pod_creates);
  if (r.list.items)
    j["list_pods"] = {{"items", r.list.items},           {"bytes", r.list.bytes},
                      {"runs_ms", r.list.runs_ms},       {"median_ms", r.list.median_ms},
                      {"first_byte_ms", r.list.first_byte_ms}, {"server_cpu_ms", r.list.server_cpu_ms},
                      {"client_cpu_ms", r.list.client_cpu_ms}, {"asio_client_median_ms", r.list.asio_client_median_ms}};
  if (r.fanout.watchers) {
    Json per = Json::array();
    for (const auto& s : r.fanout.per_event) per.push_back(summaryJson(s));
    j["watch_fanout"] = {{"watchers", r.fanout.watchers},   {"events", r.fanout.events},
                         {"missed", r.fanout.missed},       {"connect_s", r.fanout.connect_s},
                         {"kernel_timestamps", r.fanout.kernel_timestamps},
                         {"delivery", summaryJson(r.fanout.delivery_ms)},
                         {"read_by_client", summaryJson(r.fanout.read_ms)},
                         {"spread", summaryJson(r.fanout.spread_ms)},
                         {"first_arrival", summaryJson(r.fanout.first_ms)},
                         {"create", summaryJson(r.fanout.create_ms)},
                         {"per_event", per},                {"server_cpu_s", r.fanout.server_cpu_s},
                         {"client_cpu_s", r.fanout.client_cpu_s}};
  }
  j["targets"] = {{"creates_per_s", 10000}, {"create_p99_ms", 5}, {"list_10k_pods_ms", 50}, {"fanout_1000_p99_ms", 5}};
  return j;
}

}  // namespace capstan::bench
