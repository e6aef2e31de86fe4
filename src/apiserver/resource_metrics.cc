#include "apiserver/resource_metrics.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace capstan::apiserver {
namespace {

bool isNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

Result<double> parseValue(std::string_view s) {
  if (s == "+Inf" || s == "Inf") return HUGE_VAL;
  if (s == "-Inf") return -HUGE_VAL;
  if (s == "NaN") return std::nan("");
  std::string copy(s);
  char* end = nullptr;
  double v = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size())
    return Status(Code::kBadRequest, "bad value " + copy);
  return v;
}

// One line: name{k="v",...} value [timestamp]
Result<PromSample> parseLine(std::string_view line) {
  PromSample s;
  size_t i = 0;
  while (i < line.size() && isNameChar(line[i], i == 0)) ++i;
  if (i == 0) return Status(Code::kBadRequest, "expected a metric name");
  s.name = std::string(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (true) {
      while (i < line.size() && (line[i] == ' ' || line[i] == ',')) ++i;
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      size_t k = i;
      while (i < line.size() && isNameChar(line[i], i == k)) ++i;
      if (i == k || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"')
        return Status(Code::kBadRequest, "bad label in " + s.name);
      std::string key(line.substr(k, i - k));
      i += 2;
      std::string value;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\' && i + 1 < line.size()) {
          char e = line[++i];
          value += e == 'n' ? '\n' : e;
        } else {
          value += line[i];
        }
        ++i;
      }
      if (i >= line.size()) return Status(Code::kBadRequest, "unterminated label value in " + s.name);
      ++i;
      s.labels.emplace_back(std::move(key), std::move(value));
    }
  }
  auto rest = line.substr(std::min(i, line.size()));
  auto skip = [&rest] {
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  };
  skip();
  size_t end = rest.find_first_of(" \t");
  auto v = parseValue(rest.substr(0, end));
  if (!v) return v.status();
  s.value = *v;
  if (end != std::string_view::npos) {
    rest.remove_prefix(end);
    skip();
    if (!rest.empty()) {
      int64_t ts = 0;
      auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), ts);
      if (ec != std::errc() || p != rest.data() + rest.size())
        return Status(Code::kBadRequest, "bad timestamp");
      s.timestamp_ms = ts;
    }
  }
  return s;
}

WallTime fromMillis(int64_t ms) { return WallTime(std::chrono::milliseconds(ms)); }

}  // namespace

std::string PromSample::label(std::string_view key) const {
  for (const auto& [k, v] : labels)
    if (k == key) return v;
  return "";
}

Result<std::vector<PromSample>> parsePrometheusText(std::string_view text) {
  std::vector<PromSample> out;
  int n = 0;
  while (!text.empty()) {
    ++n;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    auto s = parseLine(line);
    if (!s) return Status(Code::kBadRequest, fmt::format("line {}: {}", n, s.status().message()));
    out.push_back(std::move(*s));
  }
  return out;
}

Result<ResourceSample> parseResourceMetrics(std::string_view text, WallTime fetched_at) {
  auto samples = parsePrometheusText(text);
  if (!samples) return samples.status();
  ResourceSample r;
  auto when = [&](const PromSample& s) { return s.timestamp_ms ? fromMillis(*s.timestamp_ms) : fetched_at; };
  for (const auto& s : *samples) {
    if (s.name == "node_cpu_usage_seconds_total" || s.name == "node_memory_working_set_bytes") {
      if (!r.node) r.node.emplace();
      if (s.name == "node_cpu_usage_seconds_total") {
        r.node->cpu_seconds = s.value;
        r.node->cpu_time = when(s);
        r.node->has_cpu = true;
      } else {
        r.node->memory_bytes = s.value;
        r.node->memory_time = when(s);
        r.node->has_memory = true;
      }
      continue;
    }
    if (s.name != "container_cpu_usage_seconds_total" && s.name != "container_memory_working_set_bytes" &&
        s.name != "container_start_time_seconds")
      continue;
    std::string ns = s.label("namespace"), pod = s.label("pod"), container = s.label("container");
    if (ns.empty() || pod.empty() || container.empty()) continue;
    UsagePoint& p = r.containers[{ns, pod}][container];
    if (s.name == "container_cpu_usage_seconds_total") {
      p.cpu_seconds = s.value;
      p.cpu_time = when(s);
      p.has_cpu = true;
    } else if (s.name == "container_memory_working_set_bytes") {
      p.memory_bytes = s.value;
      p.memory_time = when(s);
      p.has_memory = true;
    } else if (std::isfinite(s.value) && s.value > 0) {
      p.start_time =
          WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::duration<double>(s.value)));
    }
  }
  return r;
}

std::optional<Usage> usageBetween(const UsagePoint* prev, const UsagePoint& last,
                                  std::chrono::milliseconds min_window) {
  if (!last.has_cpu || !last.has_memory) return std::nullopt;
  double base_cpu = 0;
  WallTime base_time{};
  bool restarted = last.start_time && prev && prev->has_cpu && *last.start_time > prev->cpu_time;
  if (prev && prev->has_cpu && !restarted && prev->cpu_time < last.cpu_time &&
      prev->cpu_seconds <= last.cpu_seconds &&
      (!last.start_time || !prev->start_time || *prev->start_time == *last.start_time)) {
    base_cpu = prev->cpu_seconds;
    base_time = prev->cpu_time;
  } else if (last.start_time && *last.start_time < last.cpu_time) {
    base_time = *last.start_time;
  } else {
    return std::nullopt;
  }
  auto window = std::chrono::duration_cast<std::chrono::milliseconds>(last.cpu_time - base_time);
  if (window < min_window || window.count() <= 0) return std::nullopt;
  Usage u;
  double seconds = std::chrono::duration<double>(last.cpu_time - base_time).count();
  u.nano_cores = static_cast<int64_t>(std::llround((last.cpu_seconds - base_cpu) / seconds * 1e9));
  if (u.nano_cores < 0) return std::nullopt;
  u.memory_bytes = static_cast<int64_t>(std::llround(std::max(0.0, last.memory_bytes)));
  u.timestamp = last.cpu_time;
  u.window = window;
  return u;
}

std::string cpuQuantity(int64_t nano_cores) {
  if (nano_cores == 0) return "0";
  if (nano_cores % 1000000000 == 0) return std::to_string(nano_cores / 1000000000);
  if (nano_cores % 1000000 == 0) return std::to_string(nano_cores / 1000000) + "m";
  if (nano_cores % 1000 == 0) return std::to_string(nano_cores / 1000) + "u";
  return std::to_string(nano_cores) + "n";
}

std::string memoryQuantity(int64_t bytes) {
  if (bytes == 0) return "0";
  static const char* kSuffix[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi"};
  int i = 0;
  while (i < 5 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++i;
  }
  return std::to_string(bytes) + kSuffix[i];
}

std::string goDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string sign = ms < 0 ? "-" : "";
  ms = std::abs(ms);
  if (ms < 1000) return sign + std::to_string(ms) + "ms";
  int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
  std::string secs = std::to_string(s);
  if (frac) {
    std::string f = fmt::format("{:03d}", frac);
    while (!f.empty() && f.back() == '0') f.pop_back();
    secs += "." + f;
  }
  std::string out = sign;
  if (h) out += std::to_string(h) + "h";
  if (h || m) out += std::to_string(m) + "m";
  return out + secs + "s";
}

namespace {

Json metricsMeta(const Json& object, WallTime now) {
  const Json& meta = object.is_object() && object.contains("metadata") ? object["metadata"] : Json::object();
  Json out = {{"name", meta.value("name", "")}};
  if (meta.contains("namespace")) out["namespace"] = meta["namespace"];
  out["creationTimestamp"] = formatRfc3339(now);
  if (meta.contains("labels") && meta["labels"].is_object() && !meta["labels"].empty())
    out["labels"] = meta["labels"];
  return out;
}

}  // namespace

Json nodeMetricsJson(const Json& node, const Usage& usage, WallTime now) {
  return {
      {"kind", "NodeMetrics"},
      {"apiVersion", "metrics.k8s.io/v1beta1"},
      {"metadata", metricsMeta(node, now)},
      {"timestamp", formatRfc3339(usage.timestamp)},
      {"window", goDuration(usage.window)},
      {"usage", {{"cpu", cpuQuantity(usage.nano_cores)}, {"memory", memoryQuantity(usage.memory_bytes)}}}};
}

Json podMetricsJson(const Json& pod, const std::vector<std::pair<std::string, Usage>>& containers,
                    WallTime now) {
  Json list = Json::array();
  WallTime ts{};
  std::chrono::milliseconds window{0};
  for (const auto& [name, u] : containers) {
    list.push_back(
        {{"name", name},
         {"usage", {{"cpu", cpuQuantity(u.nano_cores)}, {"memory", memoryQuantity(u.memory_bytes)}}}});
    // The earliest container reading stands for the pod, as in metrics-server.
    if (ts == WallTime{} || u.timestamp < ts) {
      ts = u.timestamp;
      window = u.window;
    }
  }
  return {{"kind", "PodMetrics"},
          {"apiVersion", "metrics.k8s.io/v1beta1"},
          {"metadata", metricsMeta(pod, now)},
          {"timestamp", formatRfc3339(ts)},
          {"window", goDuration(window)},
          {"containers", list}};
}

}  // namespace capstan::apiserver
