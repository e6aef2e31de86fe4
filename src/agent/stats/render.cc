// The Prometheus text exposition (format 0.0.4) of a NodeSample, written
// by hand: the series come and go with containers on every scrape, which
// is what a collector computed at scrape time is for, and the samples
// carry their read times as the kubelet's do.
#include <fmt/format.h>

#include <functional>

#include "agent/stats/stats.h"

namespace capstan::agent::stats {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

std::string escape(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

int64_t millis(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

double seconds(WallTime t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(std::string_view name, const Labels& labels, double value,
              std::optional<WallTime> ts = std::nullopt) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += fmt::format("{}=\"{}\"", k, escape(v));
      }
      out_ += '}';
    }
    out_ += fmt::format(" {}", value);
    if (ts) out_ += fmt::format(" {}", millis(*ts));
    out_ += '\n';
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// One cAdvisor row: a cgroup with its identity labels, sorted by name as
// the Go client writes them (extra labels are merged in order).
struct Row {
  std::string container, id, image, name, ns, pod;
  const runtime::ContainerStats* usage = nullptr;
  const ContainerSample* sample = nullptr;  // null for the machine and pod rows
  const PodSample* pod_sample = nullptr;    // the pod row: carries the network

  Labels labels(const std::vector<std::pair<std::string, std::string>>& extra = {}) const {
    Labels l = {{"container", container}, {"id", id},        {"image", image},
                {"name", name},           {"namespace", ns}, {"pod", pod}};
    l.insert(l.end(), extra.begin(), extra.end());
    std::stable_sort(l.begin(), l.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return l;
  }
};

}  // namespace

std::string renderCadvisor(const NodeSample& sample) {
  std::vector<Row> rows;
  if (sample.usage) rows.push_back({"", "/", "", "", "", "", &*sample.usage, nullptr, nullptr});
  for (const auto& p : sample.pods) {
    rows.push_back({"", p.cgroup, "", "", p.ns, p.name, p.usage ? &*p.usage : nullptr, nullptr, &p});
    for (const auto& c : p.containers)
      rows.push_back({c.name, c.cgroup, c.image, c.id, p.ns, p.name, &c.usage, &c, nullptr});
  }
  Writer w;
  auto each = [&](std::string_view name, std::string_view type, std::string_view help,
                  const std::function<void(const Row&)>& emit) {
    w.family(name, type, help);
    for (const auto& r : rows) emit(r);
  };
  each("container_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed in seconds.",
       [&](const Row& r) {
         if (r.usage)
           w.sample("container_cpu_usage_seconds_total", r.labels({{"cpu", "total"}}),
                    static_cast<double>(r.usage->cpu_usage_ns) / 1e9, r.usage->timestamp);
       });
  each("container_fs_usage_bytes", "gauge",
       "Number of bytes that are consumed by the container on this filesystem.", [&](const Row& r) {
         if (r.sample && r.sample->fs)
           w.sample("container_fs_usage_bytes", r.labels({{"device", sample.fs_device}}),
                    static_cast<double>(r.sample->fs->bytes), r.usage->timestamp);
       });
  each("container_fs_inodes_total", "gauge", "Number of Inodes", [&](const Row& r) {
    if (r.sample && r.sample->fs)
      w.sample("container_fs_inodes_total", r.labels({{"device", sample.fs_device}}),
               static_cast<double>(r.sample->fs->inodes), r.usage->timestamp);
  });
  each("container_memory_rss", "gauge", "Size of RSS in bytes.", [&](const Row& r) {
    if (r.usage)
      w.sample("container_memory_rss", r.labels(), static_cast<double>(r.usage->memory_rss_bytes),
               r.usage->timestamp);
  });
  each("container_memory_usage_bytes", "gauge",
       "Current memory usage in bytes, including all memory regardless of when it was accessed",
       [&](const Row& r) {
         if (r.usage)
           w.sample("container_memory_usage_bytes", r.labels(),
                    static_cast<double>(r.usage->memory_usage_bytes), r.usage->timestamp);
       });
  each("container_memory_working_set_bytes", "gauge", "Current working set in bytes.", [&](const Row& r) {
    if (r.usage)
      w.sample("container_memory_working_set_bytes", r.labels(),
               static_cast<double>(r.usage->memory_working_set_bytes), r.usage->timestamp);
  });
  struct NetField {
    const char* name;
    const char* help;
    uint64_t InterfaceStats::*field;
  };
  const NetField net[] = {
      {"container_network_receive_bytes_total", "Cumulative count of bytes received",
       &InterfaceStats::rx_bytes},
      {"container_network_receive_errors_total", "Cumulative count of errors encountered while receiving",
       &InterfaceStats::rx_errors},
      {"container_network_receive_packets_dropped_total",
       "Cumulative count of packets dropped while receiving", &InterfaceStats::rx_dropped},
      {"container_network_receive_packets_total", "Cumulative count of packets received",
       &InterfaceStats::rx_packets},
      {"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted",
       &InterfaceStats::tx_bytes},
      {"container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting",
       &InterfaceStats::tx_errors},
      {"container_network_transmit_packets_dropped_total",
       "Cumulative count of packets dropped while transmitting", &InterfaceStats::tx_dropped},
      {"container_network_transmit_packets_total", "Cumulative count of packets transmitted",
       &InterfaceStats::tx_packets},
  };
  for (const auto& f : net) {
    each(f.name, "counter", f.help, [&](const Row& r) {
      if (!r.pod_sample) return;
      for (const auto& i : r.pod_sample->network)
        w.sample(f.name, r.labels({{"interface", i.name}}), static_cast<double>(i.*(f.field)),
                 r.pod_sample->network_timestamp);
    });
  }
  each(
      "container_processes", "gauge", "Number of processes running inside the container.", [&](const Row& r) {
        if (r.usage && r.sample)
          w.sample("container_processes", r.labels(), static_cast<double>(r.usage->pids), r.usage->timestamp);
      });
  each("container_start_time_seconds", "gauge", "Start time of the container since unix epoch in seconds.",
       [&](const Row& r) {
         if (r.sample && r.sample->start_time != WallTime{})
           w.sample("container_start_time_seconds", r.labels(), seconds(r.sample->start_time),
                    r.usage->timestamp);
       });
  return w.take();
}

std::string renderResourceMetrics(const NodeSample& sample) {
  Writer w;
  // Families in name order, as the kubelet's registry writes them.
  w.family("container_cpu_usage_seconds_total", "counter",
           "[STABLE] Cumulative cpu time consumed by the container in core-seconds");
  for (const auto& p : sample.pods)
    for (const auto& c : p.containers)
      w.sample("container_cpu_usage_seconds_total",
               {{"container", c.name}, {"namespace", p.ns}, {"pod", p.name}},
               static_cast<double>(c.usage.cpu_usage_ns) / 1e9, c.usage.timestamp);
  w.family("container_memory_working_set_bytes", "gauge",
           "[STABLE] Current working set of the container in bytes");
  for (const auto& p : sample.pods)
    for (const auto& c : p.containers)
      w.sample("container_memory_working_set_bytes",
               {{"container", c.name}, {"namespace", p.ns}, {"pod", p.name}},
               static_cast<double>(c.usage.memory_working_set_bytes), c.usage.timestamp);
  w.family("container_start_time_seconds", "gauge",
           "[STABLE] Start time of the container since unix epoch in seconds");
  for (const auto& p : sample.pods)
    for (const auto& c : p.containers)
      if (c.start_time != WallTime{})
        w.sample("container_start_time_seconds",
                 {{"container", c.name}, {"namespace", p.ns}, {"pod", p.name}}, seconds(c.start_time));
  if (sample.usage) {
    w.family("node_cpu_usage_seconds_total", "counter",
             "[STABLE] Cumulative cpu time consumed by the node in core-seconds");
    w.sample("node_cpu_usage_seconds_total", {}, static_cast<double>(sample.usage->cpu_usage_ns) / 1e9,
             sample.usage->timestamp);
    w.family("node_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the node in bytes");
    w.sample("node_memory_working_set_bytes", {}, static_cast<double>(sample.usage->memory_working_set_bytes),
             sample.usage->timestamp);
  }
  w.family("pod_cpu_usage_seconds_total", "counter",
           "[STABLE] Cumulative cpu time consumed by the pod in core-seconds");
  for (const auto& p : sample.pods)
    if (p.usage)
      w.sample("pod_cpu_usage_seconds_total", {{"namespace", p.ns}, {"pod", p.name}},
               static_cast<double>(p.usage->cpu_usage_ns) / 1e9, p.usage->timestamp);
  w.family("pod_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the pod in bytes");
  for (const auto& p : sample.pods)
    if (p.usage)
      w.sample("pod_memory_working_set_bytes", {{"namespace", p.ns}, {"pod", p.name}},
               static_cast<double>(p.usage->memory_working_set_bytes), p.usage->timestamp);
  w.family("resource_scrape_error", "gauge",
           "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise");
  w.sample("resource_scrape_error", {}, sample.usage ? 0 : 1);
  return w.take();
}

std::string renderKubeletMetrics(const NodeSample& sample) {
  Writer w;
  size_t containers = 0;
  for (const auto& p : sample.pods) containers += p.containers.size();
  w.family("kubelet_running_containers", "gauge", "[ALPHA] Number of containers currently running");
  w.sample("kubelet_running_containers", {{"container_state", "running"}}, static_cast<double>(containers));
  w.family("kubelet_running_pods", "gauge", "[ALPHA] Number of pods that have a running pod sandbox");
  w.sample("kubelet_running_pods", {}, static_cast<double>(sample.pods.size()));
  return w.take();
}

}  // namespace capstan::agent::stats
