#include "agent/stats/stats.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/runtime/cgroups.h"

namespace capstan::agent::stats {
namespace {
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/capstan-stats-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string path(const std::string& rel = "") const { return rel.empty() ? path_ : path_ + "/" + rel; }
  void write(const std::string& rel, const std::string& text) const {
    fs::create_directories(fs::path(path(rel)).parent_path());
    std::ofstream(path(rel)) << text;
  }

 private:
  std::string path_;
};

TEST(CgroupStatsTest, V1FilesGiveCadvisorsWorkingSet) {
  TempDir d;
  d.write("memory/memory.usage_in_bytes", "10485760\n");
  d.write("memory/memory.stat",
          "cache 4096\nrss 8192\ninactive_file 1\n"
          "total_cache 3145728\ntotal_rss 6291456\ntotal_inactive_file 2097152\ntotal_active_file 1048576\n");
  d.write("cpuacct/cpuacct.usage", "123456789012\n");
  d.write("pids/pids.current", "3\n");
  auto s = runtime::readCgroupStatsFrom(d.path("memory"), d.path("cpuacct"), d.path("pids"));
  EXPECT_EQ(s.memory_usage_bytes, 10485760u);
  EXPECT_EQ(s.memory_working_set_bytes, 10485760u - 2097152u);  // usage - total_inactive_file
  EXPECT_EQ(s.memory_rss_bytes, 6291456u);                      // total_rss, not the cgroup's own rss
  EXPECT_EQ(s.cpu_usage_ns, 123456789012u);
  EXPECT_EQ(s.pids, 3u);
}

TEST(CgroupStatsTest, V2Files) {
  TempDir d;
  d.write("pod/memory.current", "4096000\n");
  d.write("pod/memory.stat", "anon 1024000\nfile 2048000\ninactive_file 96000\nactive_file 100\n");
  d.write("pod/cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n");
  d.write("pod/pids.current", "7\n");
  auto s = runtime::readCgroupStatsFrom(d.path("pod"), d.path("pod"), d.path("pod"));
  EXPECT_EQ(s.memory_usage_bytes, 4096000u);
  EXPECT_EQ(s.memory_working_set_bytes, 4000000u);
  EXPECT_EQ(s.memory_rss_bytes, 1024000u);
  EXPECT_EQ(s.cpu_usage_ns, 2500000000u);
  EXPECT_EQ(s.pids, 7u);
}

TEST(CgroupStatsTest, InactiveFileAboveUsageIsZeroAndMissingFilesAreZero) {
  TempDir d;
  d.write("m/memory.usage_in_bytes", "100\n");
  d.write("m/memory.stat", "total_inactive_file 4096\n");
  auto s = runtime::readCgroupStatsFrom(d.path("m"), d.path("nothing"), "");
  EXPECT_EQ(s.memory_working_set_bytes, 0u);
  EXPECT_EQ(s.cpu_usage_ns, 0u);
  EXPECT_EQ(s.pids, 0u);
}

TEST(NetDevTest, ParsesInterfacesWithoutLoopback) {
  const char* text =
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo "
      "colls carrier compressed\n"
      "    lo:     560       8    0    0    0     0          0         0      560       8    0    0    0     "
      "0       0          0\n"
      "  eth0:   13140     105    1    2    0     0          0         0     2618      31    3    4    0     "
      "0       0          0\n";
  auto ifs = parseNetDev(text);
  ASSERT_EQ(ifs.size(), 1u);
  EXPECT_EQ(ifs[0].name, "eth0");
  EXPECT_EQ(ifs[0].rx_bytes, 13140u);
  EXPECT_EQ(ifs[0].rx_packets, 105u);
  EXPECT_EQ(ifs[0].rx_errors, 1u);
  EXPECT_EQ(ifs[0].rx_dropped, 2u);
  EXPECT_EQ(ifs[0].tx_bytes, 2618u);
  EXPECT_EQ(ifs[0].tx_packets, 31u);
  EXPECT_EQ(ifs[0].tx_errors, 3u);
  EXPECT_EQ(ifs[0].tx_dropped, 4u);
  EXPECT_TRUE(parseNetDev("garbage\n  eth1: 1 2 3\n").empty());
}

TEST(DirUsageTest, CountsBlocksAndInodes) {
  TempDir d;
  d.write("upper/a", std::string(10000, 'x'));
  d.write("upper/sub/b", std::string(5000, 'y'));
  fs::create_hard_link(d.path("upper/a"), d.path("upper/sub/a-link"));
  auto u = directoryUsage(d.path("upper"));
  EXPECT_EQ(u.inodes, 4u);  // upper, a, sub, b (the hard link counted once)
  EXPECT_GE(u.bytes, 15000u);
  EXPECT_EQ(directoryUsage(d.path("missing")).inodes, 0u);
}

NodeSample sampleNode() {
  NodeSample n;
  WallTime t{std::chrono::milliseconds(1700000000123)};
  n.timestamp = t;
  n.fs_device = "/dev/vda1";
  runtime::ContainerStats root;
  root.cpu_usage_ns = 5000000000;
  root.memory_working_set_bytes = 1 << 30;
  root.timestamp = t;
  n.usage = root;
  PodSample p;
  p.ns = "default";
  p.name = "busy";
  p.uid = "u1";
  p.cgroup = "/capstan/n1/u1";
  runtime::ContainerStats pod_usage;
  pod_usage.cpu_usage_ns = 1500000000;
  pod_usage.memory_working_set_bytes = 4096;
  pod_usage.timestamp = t;
  p.usage = pod_usage;
  p.network = {{"eth0", 100, 2, 0, 0, 200, 3, 0, 0}};
  p.network_timestamp = t;
  ContainerSample c;
  c.id = "u1_spin_0";
  c.name = "spin";
  c.image = "capstan.test/busybox:1";
  c.cgroup = "/capstan/n1/u1/u1_spin_0";
  c.start_time = WallTime{std::chrono::seconds(1699999990)};
  c.usage.cpu_usage_ns = 1250000000;
  c.usage.memory_working_set_bytes = 2048;
  c.usage.memory_rss_bytes = 1024;
  c.usage.timestamp = t;
  c.fs = DirUsage{8192, 3};
  p.containers.push_back(c);
  n.pods.push_back(p);
  return n;
}

TEST(RenderTest, ResourceMetricsAsKubeletWritesThem) {
  std::string text = renderResourceMetrics(sampleNode());
  EXPECT_NE(
      text.find(
          "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the "
          "container in core-seconds\n# TYPE container_cpu_usage_seconds_total counter\n"
          "container_cpu_usage_seconds_total{container=\"spin\",namespace=\"default\",pod=\"busy\"} 1.25 "
          "1700000000123\n"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          "container_memory_working_set_bytes{container=\"spin\",namespace=\"default\",pod=\"busy\"} 2048 "
          "1700000000123\n"),
      std::string::npos);
  EXPECT_NE(
      text.find(
          "container_start_time_seconds{container=\"spin\",namespace=\"default\",pod=\"busy\"} 1699999990\n"),
      std::string::npos);
  EXPECT_NE(text.find("node_cpu_usage_seconds_total 5 1700000000123\n"), std::string::npos);
  EXPECT_NE(text.find("node_memory_working_set_bytes 1073741824 1700000000123\n"), std::string::npos);
  EXPECT_NE(text.find("pod_cpu_usage_seconds_total{namespace=\"default\",pod=\"busy\"} 1.5 1700000000123\n"),
            std::string::npos);
  EXPECT_NE(
      text.find("pod_memory_working_set_bytes{namespace=\"default\",pod=\"busy\"} 4096 1700000000123\n"),
      std::string::npos);
  EXPECT_NE(text.find("resource_scrape_error 0\n"), std::string::npos);
}

TEST(RenderTest, CadvisorLabels) {
  std::string text = renderCadvisor(sampleNode());
  const std::string c = "container=\"spin\"";
  const std::string rest =
      "id=\"/capstan/n1/u1/u1_spin_0\",image=\"capstan.test/"
      "busybox:1\",name=\"u1_spin_0\",namespace=\"default\","
      "pod=\"busy\"";
  EXPECT_NE(text.find("container_cpu_usage_seconds_total{" + c + ",cpu=\"total\"," + rest +
                      "} 1.25 1700000000123\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("container_memory_working_set_bytes{" + c + "," + rest + "} 2048 1700000000123\n"),
            std::string::npos);
  EXPECT_NE(text.find("container_memory_rss{" + c + "," + rest + "} 1024 1700000000123\n"),
            std::string::npos);
  EXPECT_NE(
      text.find("container_fs_usage_bytes{" + c + ",device=\"/dev/vda1\"," + rest + "} 8192 1700000000123\n"),
      std::string::npos);
  // The machine and the pod cgroup have rows of their own; the network is the pod's.
  EXPECT_NE(
      text.find(
          "container_cpu_usage_seconds_total{container=\"\",cpu=\"total\",id=\"/\",image=\"\",name=\"\","
          "namespace=\"\",pod=\"\"} 5 1700000000123\n"),
      std::string::npos);
  EXPECT_NE(text.find("container_network_receive_bytes_total{container=\"\",id=\"/capstan/n1/u1\",image=\"\","
                      "interface=\"eth0\",name=\"\",namespace=\"default\",pod=\"busy\"} 100 1700000000123\n"),
            std::string::npos);
  EXPECT_NE(
      text.find("container_network_transmit_bytes_total{container=\"\",id=\"/capstan/n1/u1\",image=\"\","
                "interface=\"eth0\",name=\"\",namespace=\"default\",pod=\"busy\"} 200 1700000000123\n"),
      std::string::npos);
  EXPECT_NE(text.find("# TYPE container_network_receive_bytes_total counter\n"), std::string::npos);
}

TEST(RenderTest, KubeletGauges) {
  EXPECT_EQ(renderKubeletMetrics(sampleNode()),
            "# HELP kubelet_running_containers [ALPHA] Number of containers currently running\n"
            "# TYPE kubelet_running_containers gauge\n"
            "kubelet_running_containers{container_state=\"running\"} 1\n"
            "# HELP kubelet_running_pods [ALPHA] Number of pods that have a running pod sandbox\n"
            "# TYPE kubelet_running_pods gauge\n"
            "kubelet_running_pods 1\n");
}

TEST(RenderTest, LabelValuesAreEscaped) {
  NodeSample n = sampleNode();
  n.pods[0].containers[0].image = "a\"b\\c\nd";
  EXPECT_NE(renderCadvisor(n).find("image=\"a\\\"b\\\\c\\nd\""), std::string::npos);
}

}  // namespace
}  // namespace capstan::agent::stats
