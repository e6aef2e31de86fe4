#include "apiserver/cluster_state_metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>

#include "apiserver/resource_metrics.h"

namespace capstan::apiserver {
namespace {

Json yaml(const char* text) {
  auto r = parseYaml(text);
  EXPECT_TRUE(r) << r.status().message();
  return r ? *r : Json::object();
}

// Every series rendered, keyed "name{k=v,...}" with labels in their order.
class Rendered {
 public:
  explicit Rendered(const std::string& text) : text_(text) {
    auto samples = parsePrometheusText(text);
    EXPECT_TRUE(samples) << samples.status().message();
    if (!samples) return;
    for (const auto& s : *samples) {
      std::string key = s.name + "{";
      for (size_t i = 0; i < s.labels.size(); ++i)
        key += (i ? "," : "") + s.labels[i].first + "=" + s.labels[i].second;
      key += "}";
      EXPECT_FALSE(series_.count(key)) << "duplicate series " << key;
      series_[key] = s.value;
    }
  }
  // NaN when absent, so EXPECT_EQ fails with the key in the message.
  double operator[](const std::string& key) const {
    auto it = series_.find(key);
    return it == series_.end() ? std::nan("") : it->second;
  }
  bool has(const std::string& key) const { return series_.count(key) > 0; }
  size_t count(const std::string& name) const {
    size_t n = 0;
    for (const auto& [k, v] : series_) n += k.rfind(name + "{", 0) == 0;
    return n;
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::map<std::string, double> series_;
};

const char* kPod = R"(
metadata:
  name: web-1
  namespace: default
  uid: u-1
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: web-abc, uid: rs-1, controller: true}
spec:
  nodeName: node-a
  priorityClassName: high
  containers: [{name: app, image: nginx}, {name: side, image: busybox}, {name: done, image: busybox}]
status:
  phase: Running
  hostIP: 10.0.0.1
  podIP: 10.42.0.7
  conditions:
  - {type: PodScheduled, status: "True"}
  - {type: Ready, status: "False"}
  containerStatuses:
  - name: app
    ready: true
    restartCount: 0
    state: {running: {startedAt: "2024-01-01T00:00:00Z"}}
  - name: side
    ready: false
    restartCount: 4
    state: {waiting: {reason: CrashLoopBackOff, message: back-off}}
    lastState: {terminated: {reason: Error, exitCode: 1}}
  - name: done
    ready: false
    restartCount: 1
    state: {terminated: {reason: OOMKilled, exitCode: 137}}
)";

TEST(ClusterStateMetricsTest, Pods) {
  Json pod = yaml(kPod);
  Json pending = yaml("metadata: {name: p \"q\", namespace: ns, uid: u-2}\nstatus: {phase: Pending}\n");
  Rendered r(renderClusterStateMetrics({.pods = {&pod, &pending}}));
  const std::string id = "namespace=default,pod=web-1,uid=u-1";
  EXPECT_EQ(
      r["kube_pod_info{" + id +
        ",host_ip=10.0.0.1,pod_ip=10.42.0.7,node=node-a,created_by_kind=ReplicaSet,created_by_name=web-abc,"
        "priority_class=high,host_network=false}"],
      1);
  // One series per phase, 1 for the pod's own.
  EXPECT_EQ(r["kube_pod_status_phase{" + id + ",phase=Running}"], 1);
  for (const char* p : {"Pending", "Succeeded", "Failed", "Unknown"})
    EXPECT_EQ(r["kube_pod_status_phase{" + id + ",phase=" + p + "}"], 0) << p;
  EXPECT_EQ(r["kube_pod_status_phase{namespace=ns,pod=p \"q\",uid=u-2,phase=Pending}"], 1);
  EXPECT_EQ(r.count("kube_pod_status_phase"), 10u);
  EXPECT_EQ(r["kube_pod_status_ready{" + id + ",condition=true}"], 0);
  EXPECT_EQ(r["kube_pod_status_ready{" + id + ",condition=false}"], 1);
  EXPECT_EQ(r["kube_pod_status_ready{" + id + ",condition=unknown}"], 0);
  EXPECT_EQ(r.count("kube_pod_status_ready"), 3u);  // the pending pod has no Ready condition
  EXPECT_EQ(r["kube_pod_container_status_restarts_total{" + id + ",container=side}"], 4);
  EXPECT_EQ(r["kube_pod_container_status_restarts_total{" + id + ",container=app}"], 0);
  // Reasons only for the state a container is in now.
  EXPECT_EQ(r["kube_pod_container_status_waiting_reason{" + id + ",container=side,reason=CrashLoopBackOff}"],
            1);
  EXPECT_EQ(r.count("kube_pod_container_status_waiting_reason"), 1u);
  EXPECT_EQ(r["kube_pod_container_status_terminated_reason{" + id + ",container=done,reason=OOMKilled}"], 1);
  EXPECT_EQ(r.count("kube_pod_container_status_terminated_reason"), 1u);
  EXPECT_EQ(r["kube_pod_container_status_last_terminated_reason{" + id + ",container=side,reason=Error}"], 1);
  EXPECT_EQ(r["kube_pod_container_status_running{" + id + ",container=app}"], 1);
  EXPECT_EQ(r["kube_pod_container_status_ready{" + id + ",container=app}"], 1);
  // Families keep their HELP and TYPE; restarts is a counter.
  EXPECT_NE(r.text().find("# TYPE kube_pod_container_status_restarts_total counter\n"), std::string::npos);
  EXPECT_NE(r.text().find("# TYPE kube_pod_info gauge\n"), std::string::npos);
  // Label values are escaped.
  EXPECT_NE(r.text().find("pod=\"p \\\"q\\\"\""), std::string::npos);
}

TEST(ClusterStateMetricsTest, WorkloadsNodesNamespacesAndJobs) {
  Json deploy = yaml(R"(
metadata: {name: web, namespace: default, generation: 3}
spec: {replicas: 3}
status: {replicas: 4, availableReplicas: 2, unavailableReplicas: 2, updatedReplicas: 3, readyReplicas: 2,
         observedGeneration: 3}
)");
  Json node = yaml(R"(
metadata: {name: node-a}
spec: {podCIDR: 10.42.0.0/24, unschedulable: true}
status:
  addresses: [{type: Hostname, address: node-a}, {type: InternalIP, address: 192.168.1.5}]
  nodeInfo: {kernelVersion: 6.1.0, osImage: Debian, containerRuntimeVersion: crun://1.8, kubeletVersion: v1.31.0,
             kubeProxyVersion: v1.31.0, systemUUID: abc}
  conditions:
  - {type: Ready, status: "True"}
  - {type: MemoryPressure, status: "False"}
  - {type: DiskPressure, status: Unknown}
)");
  Json active = yaml("metadata: {name: default}\nstatus: {phase: Active}\n");
  Json terminating = yaml("metadata: {name: old}\nstatus: {phase: Terminating}\n");
  Json job_ok = yaml("metadata: {name: ok, namespace: default}\nstatus: {succeeded: 2, active: 1}\n");
  Json job_failed = yaml(R"(
metadata: {name: bad, namespace: default}
status:
  failed: 6
  conditions: [{type: Failed, status: "True", reason: BackoffLimitExceeded}]
)");
  Json job_failing = yaml("metadata: {name: flaky, namespace: default}\nstatus: {failed: 2, active: 1}\n");
  Json ds = yaml(
      "metadata: {name: agent, namespace: kube-system}\nstatus: {numberReady: 2, desiredNumberScheduled: "
      "3}\n");
  Json sts =
      yaml("metadata: {name: db, namespace: default}\nspec: {replicas: 3}\nstatus: {readyReplicas: 1}\n");
  Rendered r(renderClusterStateMetrics({.namespaces = {&active, &terminating},
                                        .nodes = {&node},
                                        .deployments = {&deploy},
                                        .daemonsets = {&ds},
                                        .statefulsets = {&sts},
                                        .jobs = {&job_ok, &job_failed, &job_failing}}));
  EXPECT_EQ(r["kube_deployment_spec_replicas{namespace=default,deployment=web}"], 3);
  EXPECT_EQ(r["kube_deployment_status_replicas{namespace=default,deployment=web}"], 4);
  EXPECT_EQ(r["kube_deployment_status_replicas_available{namespace=default,deployment=web}"], 2);
  EXPECT_EQ(r["kube_deployment_status_replicas_unavailable{namespace=default,deployment=web}"], 2);

  EXPECT_EQ(r["kube_node_info{node=node-a,kernel_version=6.1.0,os_image=Debian,container_runtime_version="
              "crun://1.8,"
              "kubelet_version=v1.31.0,kubeproxy_version=v1.31.0,provider_id=,pod_cidr=10.42.0.0/24,"
              "system_uuid=abc,internal_ip=192.168.1.5}"],
            1);
  EXPECT_EQ(r["kube_node_status_condition{node=node-a,condition=Ready,status=true}"], 1);
  EXPECT_EQ(r["kube_node_status_condition{node=node-a,condition=Ready,status=false}"], 0);
  EXPECT_EQ(r["kube_node_status_condition{node=node-a,condition=Ready,status=unknown}"], 0);
  EXPECT_EQ(r["kube_node_status_condition{node=node-a,condition=MemoryPressure,status=false}"], 1);
  EXPECT_EQ(r["kube_node_status_condition{node=node-a,condition=DiskPressure,status=unknown}"], 1);
  EXPECT_EQ(r.count("kube_node_status_condition"), 9u);
  EXPECT_EQ(r["kube_node_spec_unschedulable{node=node-a}"], 1);

  EXPECT_EQ(r["kube_namespace_status_phase{namespace=default,phase=Active}"], 1);
  EXPECT_EQ(r["kube_namespace_status_phase{namespace=default,phase=Terminating}"], 0);
  EXPECT_EQ(r["kube_namespace_status_phase{namespace=old,phase=Terminating}"], 1);

  EXPECT_EQ(r["kube_job_status_succeeded{namespace=default,job_name=ok}"], 2);
  EXPECT_EQ(r["kube_job_status_failed{namespace=default,job_name=ok}"], 0);
  EXPECT_EQ(r["kube_job_status_failed{namespace=default,job_name=bad,reason=BackoffLimitExceeded}"], 1);
  EXPECT_EQ(r["kube_job_status_failed{namespace=default,job_name=bad,reason=DeadlineExceeded}"], 0);
  EXPECT_EQ(r["kube_job_status_failed{namespace=default,job_name=bad,reason=Evicted}"], 0);
  EXPECT_EQ(r["kube_job_status_failed{namespace=default,job_name=flaky,reason=}"], 2);

  EXPECT_EQ(r["kube_daemonset_status_number_ready{namespace=kube-system,daemonset=agent}"], 2);
  EXPECT_EQ(r["kube_statefulset_status_replicas_ready{namespace=default,statefulset=db}"], 1);
  EXPECT_EQ(r["kube_statefulset_replicas{namespace=default,statefulset=db}"], 3);
}

TEST(ClusterStateMetricsTest, EmptyClusterStillDescribesEveryFamily) {
  std::string text = renderClusterStateMetrics({});
  for (const char* name :
       {"kube_pod_info", "kube_pod_status_phase", "kube_deployment_status_replicas_available",
        "kube_node_status_condition", "kube_namespace_status_phase", "kube_job_status_failed",
        "kube_daemonset_status_number_ready", "kube_statefulset_status_replicas_ready"})
    EXPECT_NE(text.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
  Rendered r(text);
  EXPECT_EQ(r.count("kube_pod_info"), 0u);
}

TEST(ClusterStateMetricsTest, ObjectsOfUnexpectedShapeAreSkippedNotFatal) {
  Json odd = yaml("metadata: {name: 5}\nstatus: {phase: [1], containerStatuses: {a: 1}, conditions: 3}\n");
  Json not_object = Json::array();
  // (Both lack a name: rendered once each, so their series do not collide.)
  Rendered r(renderClusterStateMetrics({.nodes = {&not_object}, .pods = {&odd}}));
  EXPECT_EQ(r.count("kube_pod_status_phase"), 0u);
  EXPECT_EQ(r.count("kube_pod_info"), 1u);
  EXPECT_EQ(r.count("kube_node_info"), 1u);
}

TEST(ClusterStateMetricsTest, ThousandPodsRenderInOnePass) {
  Json base = yaml(kPod);
  std::vector<Json> pods(1000, base);
  std::vector<const Json*> ptrs;
  for (size_t i = 0; i < pods.size(); ++i) {
    pods[i]["metadata"]["name"] = "web-" + std::to_string(i);
    pods[i]["metadata"]["uid"] = "u-" + std::to_string(i);
    ptrs.push_back(&pods[i]);
  }
  auto started = std::chrono::steady_clock::now();
  std::string text = renderClusterStateMetrics({.pods = ptrs});
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  Rendered r(text);
  EXPECT_EQ(r.count("kube_pod_info"), 1000u);
  EXPECT_EQ(r.count("kube_pod_status_phase"), 5000u);
  // Reported, not asserted (machines differ): about 30 series per pod here.
  std::printf("1000 pods: %zu bytes in %.1f ms\n", text.size(), ms);
}

}  // namespace
}  // namespace capstan::apiserver
