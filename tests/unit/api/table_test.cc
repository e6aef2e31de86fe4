// Server-side printing (meta.k8s.io/v1 Table) against kube-apiserver's
// printers (pkg/printers/internalversion/printers.go), which the server runs
// with Wide: true so every column has a cell.
#include "unit/api/kind_fixtures.h"
#include "api/table.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "api/registry.h"

namespace capstan::api {
namespace {

const ResourceInfo& resourceInfoFor(const std::string& group, const std::string& resource) {
  static const Registry reg = Registry::builtin();
  const ResourceInfo* info = reg.find(group, group == "autoscaling" ? "v2" : "v1", resource);
  if (!info) throw std::runtime_error("no resource " + group + "/" + resource);  // test setup error only
  return *info;
}

using testing::yaml;

// Every object below was created ten minutes before "now".
WallTime now() { return *parseRfc3339("2024-05-01T12:00:00Z"); }

// ---------------------------------------------------------------------------
// Column definitions

struct ColumnsCase {
  std::string group;
  std::string resource;
  std::vector<std::string> names;
  std::vector<int> priorities;  // 1: shown only by -o wide
};

void PrintTo(const ColumnsCase& c, std::ostream* os) { *os << c.group << "/" << c.resource; }

class TableColumns : public ::testing::TestWithParam<ColumnsCase> {};

TEST_P(TableColumns, MatchUpstreamPrinter) {
  const auto& c = GetParam();
  const auto& cols = columnsFor(resourceInfoFor(c.group, c.resource));
  std::vector<std::string> names;
  std::vector<int> priorities;
  for (const auto& col : cols) {
    names.push_back(col.name);
    priorities.push_back(col.priority);
  }
  EXPECT_EQ(names, c.names);
  EXPECT_EQ(priorities, c.priorities);
}

const ColumnsCase kColumns[] = {
    {"",
     "pods",
     {"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"},
     {0, 0, 0, 0, 0, 1, 1, 1, 1}},
    {"apps",
     "deployments",
     {"Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"},
     {0, 0, 0, 0, 0, 1, 1, 1}},
    {"",
     "services",
     {"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"},
     {0, 0, 0, 0, 0, 0, 1}},
    {"",
     "nodes",
     {"Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image", "Kernel-Version",
      "Container-Runtime"},
     {0, 0, 0, 0, 0, 1, 1, 1, 1, 1}},
    {"", "configmaps", {"Name", "Data", "Age"}, {0, 0, 0}},
    {"",
     "events",
     {"Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen", "Count",
      "Name"},
     {0, 0, 0, 0, 1, 1, 0, 1, 1, 1}},
    {"batch",
     "jobs",
     {"Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"},
     {0, 0, 0, 0, 0, 1, 1, 1}},
    {"", "namespaces", {"Name", "Status", "Age"}, {0, 0, 0}},
    {"networking.k8s.io", "ingresses", {"Name", "Class", "Hosts", "Address", "Ports", "Age"}, {0, 0, 0, 0, 0, 0}},
    {"networking.k8s.io", "ingressclasses", {"Name", "Controller", "Parameters", "Age"}, {0, 0, 0, 0}},
    {"scheduling.k8s.io", "priorityclasses", {"Name", "Value", "Global-Default", "Age"}, {0, 0, 0, 0}},
    {"policy",
     "poddisruptionbudgets",
     {"Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"},
     {0, 0, 0, 0, 0}},
    {"autoscaling",
     "horizontalpodautoscalers",
     {"Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"},
     {0, 0, 0, 0, 0, 0, 0}},
    {"", "limitranges", {"Name", "Created At"}, {0, 0}},
    {"", "resourcequotas", {"Name", "Age", "Request", "Limit"}, {0, 0, 0, 0}},
    {"events.k8s.io", "events", {"Last Seen", "Type", "Reason", "Object", "Message"}, {0, 0, 0, 0, 0}},
};
INSTANTIATE_TEST_SUITE_P(Kinds, TableColumns, ::testing::ValuesIn(kColumns), [](const auto& info) {
  std::string group = info.param.group.substr(0, info.param.group.find('.'));
  return group.empty() ? info.param.resource : group + "_" + info.param.resource;
});

TEST(TableColumnDefinitions, OnlyNameHasFormatName) {
  for (const char* resource : {"pods", "services", "events", "configmaps"}) {
    const auto& info = resourceInfoFor("", resource);
    Json t = toTable(info, {}, IncludeObject::kNone, now());
    ASSERT_TRUE(t["columnDefinitions"].is_array()) << resource;
    for (const auto& def : t["columnDefinitions"]) {
      EXPECT_EQ(def["format"], def["name"] == "Name" ? "name" : "") << resource << " " << def.dump();
      EXPECT_TRUE(def["description"].is_string() && !def["description"].get<std::string>().empty())
          << def.dump();
      EXPECT_TRUE(def["type"] == "string" || def["type"] == "integer" || def["type"] == "boolean" ||
                  def["type"] == "date" || def["type"] == "number")
          << def.dump();
    }
  }
}

// ---------------------------------------------------------------------------
// Cells

struct CellCase {
  std::string name;
  std::string group;
  std::string resource;
  std::string column;
  std::string object;  // YAML
  Json expected;
};

void PrintTo(const CellCase& c, std::ostream* os) { *os << c.name; }

class TableCells : public ::testing::TestWithParam<CellCase> {};

TEST_P(TableCells, MatchUpstreamPrinter) {
  const auto& c = GetParam();
  const auto& info = resourceInfoFor(c.group, c.resource);
  Json obj = yaml(c.object);
  Json t = toTable(info, {&obj}, IncludeObject::kNone, now());
  const Json& defs = t["columnDefinitions"];
  size_t at = defs.size();
  for (size_t i = 0; i < defs.size(); ++i)
    if (defs[i]["name"] == c.column) at = i;
  ASSERT_LT(at, defs.size()) << "no column " << c.column;
  ASSERT_EQ(t["rows"].size(), 1u);
  const Json& cells = t["rows"][0]["cells"];
  ASSERT_EQ(cells.size(), defs.size());
  EXPECT_EQ(cells[at], c.expected) << c.column << " of\n" << c.object;
}

std::string cellName(const ::testing::TestParamInfo<CellCase>& info) { return info.param.name; }

// STATUS: printPod's reason.
const CellCase kPodStatus[] = {
    {"Pending", "", "pods", "Status", "status: {phase: Pending}", "Pending"},
    {"ContainerCreating", "", "pods", "Status", R"(
spec: {containers: [{name: app}]}
status:
  phase: Pending
  containerStatuses: [{name: app, ready: false, state: {waiting: {reason: ContainerCreating}}}]
)",
     "ContainerCreating"},
    {"Running", "", "pods", "Status", R"(
spec: {containers: [{name: app}]}
status:
  phase: Running
  containerStatuses: [{name: app, ready: true, state: {running: {startedAt: "2024-05-01T11:51:00Z"}}}]
)",
     "Running"},
    {"CrashLoopBackOff", "", "pods", "Status", R"(
spec: {containers: [{name: app}]}
status:
  phase: Running
  containerStatuses:
  - name: app
    ready: false
    restartCount: 4
    state: {waiting: {reason: CrashLoopBackOff, message: "back-off 1m20s restarting failed container"}}
)",
     "CrashLoopBackOff"},
    {"FirstContainersReasonWins", "", "pods", "Status", R"(
spec: {containers: [{name: a}, {name: b}]}
status:
  phase: Running
  containerStatuses:
  - {name: a, ready: false, state: {waiting: {reason: ImagePullBackOff}}}
  - {name: b, ready: false, state: {waiting: {reason: CrashLoopBackOff}}}
)",
     "ImagePullBackOff"},
    {"Completed", "", "pods", "Status", R"(
spec: {containers: [{name: app}]}
status:
  phase: Succeeded
  containerStatuses: [{name: app, ready: false, state: {terminated: {exitCode: 0, reason: Completed}}}]
)",
     "Completed"},
    {"Error", "", "pods", "Status", R"(
spec: {containers: [{name: app}]}
status:
  phase: Failed
  containerStatuses: [{name: app, ready: false, state: {terminated: {exitCode: 1, reason: Error}}}]
)",
     "Error"},
    {"ExitCodeWithoutReason", "", "pods", "Status", R"(
status:
  phase: Failed
  containerStatuses: [{name: app, state: {terminated: {exitCode: 3}}}]
)",
     "ExitCode:3"},
    {"SignalWithoutReason", "", "pods", "Status", R"(
status:
  phase: Failed
  containerStatuses: [{name: app, state: {terminated: {exitCode: 137, signal: 9}}}]
)",
     "Signal:9"},
    {"PodReasonEvicted", "", "pods", "Status", "status: {phase: Failed, reason: Evicted}", "Evicted"},
    {"InitRunning", "", "pods", "Status", R"(
spec: {initContainers: [{name: init}], containers: [{name: app}]}
status:
  phase: Pending
  initContainerStatuses: [{name: init, ready: false, state: {running: {}}}]
  containerStatuses: [{name: app, ready: false, state: {waiting: {reason: PodInitializing}}}]
)",
     "Init:0/1"},
    {"InitSecondOfTwo", "", "pods", "Status", R"(
spec: {initContainers: [{name: a}, {name: b}], containers: [{name: app}]}
status:
  phase: Pending
  initContainerStatuses:
  - {name: a, state: {terminated: {exitCode: 0, reason: Completed}}}
  - {name: b, state: {running: {}}}
)",
     "Init:1/2"},
    {"InitWaitingPodInitializing", "", "pods", "Status", R"(
spec: {initContainers: [{name: init}], containers: [{name: app}]}
status:
  phase: Pending
  initContainerStatuses: [{name: init, state: {waiting: {reason: PodInitializing}}}]
)",
     "Init:0/1"},
    {"InitCrashLoopBackOff", "", "pods", "Status", R"(
spec: {initContainers: [{name: init}], containers: [{name: app}]}
status:
  phase: Pending
  initContainerStatuses: [{name: init, restartCount: 3, state: {waiting: {reason: CrashLoopBackOff}}}]
)",
     "Init:CrashLoopBackOff"},
    {"InitError", "", "pods", "Status", R"(
spec: {initContainers: [{name: init}], containers: [{name: app}]}
status:
  phase: Failed
  initContainerStatuses: [{name: init, state: {terminated: {exitCode: 1, reason: Error}}}]
)",
     "Init:Error"},
    {"InitExitCodeWithoutReason", "", "pods", "Status", R"(
spec: {initContainers: [{name: init}], containers: [{name: app}]}
status:
  phase: Pending
  initContainerStatuses: [{name: init, state: {terminated: {exitCode: 2}}}]
)",
     "Init:ExitCode:2"},
    {"Terminating", "", "pods", "Status", R"(
metadata: {deletionTimestamp: "2024-05-01T11:59:00Z"}
spec: {containers: [{name: app}]}
status:
  phase: Running
  containerStatuses: [{name: app, ready: true, state: {running: {}}}]
)",
     "Terminating"},
    {"NodeLostIsUnknown", "", "pods", "Status", R"(
metadata: {deletionTimestamp: "2024-05-01T11:59:00Z"}
status: {phase: Running, reason: NodeLost}
)",
     "Unknown"},
    // printPod: "Terminating" only while the phase is not terminal.
    {"TerminalPodBeingDeletedKeepsReason", "", "pods", "Status", R"(
metadata: {deletionTimestamp: "2024-05-01T11:59:00Z"}
spec: {containers: [{name: app}]}
status:
  phase: Succeeded
  containerStatuses: [{name: app, state: {terminated: {exitCode: 0, reason: Completed}}}]
)",
     "Completed"},
    // A PodScheduled condition with reason SchedulingGated shows as such.
    {"SchedulingGated", "", "pods", "Status", R"(
spec: {schedulingGates: [{name: example.com/gate}], containers: [{name: app}]}
status:
  phase: Pending
  conditions: [{type: PodScheduled, status: "False", reason: SchedulingGated}]
)",
     "SchedulingGated"},
    // One container completed, another still running: Running if the pod is
    // Ready, NotReady if not.
    {"CompletedWithRunningReady", "", "pods", "Status", R"(
spec: {containers: [{name: a}, {name: b}]}
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]
  containerStatuses:
  - {name: a, ready: false, state: {terminated: {exitCode: 0, reason: Completed}}}
  - {name: b, ready: true, state: {running: {}}}
)",
     "Running"},
    {"CompletedWithRunningNotReady", "", "pods", "Status", R"(
spec: {containers: [{name: a}, {name: b}]}
status:
  phase: Running
  conditions: [{type: Ready, status: "False"}]
  containerStatuses:
  - {name: a, ready: false, state: {terminated: {exitCode: 0, reason: Completed}}}
  - {name: b, ready: true, state: {running: {}}}
)",
     "NotReady"},
    // A started sidecar (restartable init container) does not hold the pod
    // in Init.
    {"StartedSidecarIsNotInit", "", "pods", "Status", R"(
spec:
  initContainers: [{name: proxy, restartPolicy: Always}]
  containers: [{name: app}]
status:
  phase: Running
  initContainerStatuses: [{name: proxy, started: true, ready: true, state: {running: {}}}]
  containerStatuses: [{name: app, started: true, ready: true, state: {running: {}}}]
)",
     "Running"},
};
INSTANTIATE_TEST_SUITE_P(PodStatus, TableCells, ::testing::ValuesIn(kPodStatus), cellName);

const CellCase kPodColumns[] = {
    {"Name", "", "pods", "Name", "metadata: {name: web-1}", "web-1"},
    {"Age", "", "pods", "Age", "metadata: {creationTimestamp: \"2024-05-01T11:50:00Z\"}", "10m"},
    {"AgeUnknown", "", "pods", "Age", "metadata: {name: x}", "<unknown>"},
    {"ReadyCount", "", "pods", "Ready", R"(
spec: {containers: [{name: a}, {name: b}]}
status:
  phase: Running
  containerStatuses:
  - {name: a, ready: true, state: {running: {}}}
  - {name: b, ready: false, state: {running: {}}}
)",
     "1/2"},
    {"ReadyCountsStartedSidecars", "", "pods", "Ready", R"(
spec:
  initContainers: [{name: proxy, restartPolicy: Always}]
  containers: [{name: app}]
status:
  phase: Running
  initContainerStatuses: [{name: proxy, started: true, ready: true, state: {running: {}}}]
  containerStatuses: [{name: app, started: true, ready: true, state: {running: {}}}]
)",
     "2/2"},
    {"RestartsNone", "", "pods", "Restarts", R"(
status:
  phase: Running
  containerStatuses: [{name: a, restartCount: 0, state: {running: {}}}]
)",
     "0"},
    {"RestartsSummed", "", "pods", "Restarts", R"(
status:
  phase: Running
  containerStatuses:
  - {name: a, restartCount: 2, state: {running: {}}}
  - {name: b, restartCount: 3, state: {running: {}}}
)",
     "5"},
    // "N (AGE ago)" from the latest lastState.terminated.finishedAt.
    {"RestartsWithLastRestartAge", "", "pods", "Restarts", R"(
status:
  phase: Running
  containerStatuses:
  - name: a
    restartCount: 3
    state: {running: {}}
    lastState: {terminated: {exitCode: 1, reason: Error, finishedAt: "2024-05-01T11:55:00Z"}}
)",
     "3 (5m ago)"},
    {"IP", "", "pods", "IP", "status: {podIP: 10.244.0.7, podIPs: [{ip: 10.244.0.7}]}", "10.244.0.7"},
    {"IPNone", "", "pods", "IP", "status: {phase: Pending}", "<none>"},
    {"Node", "", "pods", "Node", "spec: {nodeName: node-a}", "node-a"},
    {"NodeNone", "", "pods", "Node", "spec: {}", "<none>"},
    {"NominatedNodeNone", "", "pods", "Nominated Node", "status: {}", "<none>"},
    {"NominatedNode", "", "pods", "Nominated Node", "status: {nominatedNodeName: node-b}", "node-b"},
    {"ReadinessGatesNone", "", "pods", "Readiness Gates", "spec: {}", "<none>"},
    {"ReadinessGatesUnmet", "", "pods", "Readiness Gates", R"(
spec: {readinessGates: [{conditionType: example.com/lb}]}
status: {conditions: [{type: Ready, status: "True"}]}
)",
     "0/1"},
    {"ReadinessGatesMet", "", "pods", "Readiness Gates", R"(
spec: {readinessGates: [{conditionType: example.com/lb}, {conditionType: example.com/dns}]}
status: {conditions: [{type: example.com/lb, status: "True"}, {type: example.com/dns, status: "False"}]}
)",
     "1/2"},
};
INSTANTIATE_TEST_SUITE_P(PodColumns, TableCells, ::testing::ValuesIn(kPodColumns), cellName);

const CellCase kServices[] = {
    {"Type", "", "services", "Type", "spec: {type: ClusterIP}", "ClusterIP"},
    {"ClusterIP", "", "services", "Cluster-IP", "spec: {type: ClusterIP, clusterIP: 10.96.0.10}",
     "10.96.0.10"},
    {"Headless", "", "services", "Cluster-IP", "spec: {type: ClusterIP, clusterIP: None}", "None"},
    {"PortTCP", "", "services", "Port(s)", "spec: {type: ClusterIP, ports: [{port: 80, protocol: TCP}]}",
     "80/TCP"},
    {"PortsJoined", "", "services", "Port(s)",
     "spec: {type: ClusterIP, ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, "
     "protocol: TCP}]}",
     "53/UDP,53/TCP"},
    {"NodePort", "", "services", "Port(s)",
     "spec: {type: NodePort, ports: [{port: 80, nodePort: 30080, protocol: TCP}]}", "80:30080/TCP"},
    {"NoPorts", "", "services", "Port(s)", "spec: {type: ClusterIP}", "<none>"},
    {"ExternalIPNone", "", "services", "External-IP", "spec: {type: ClusterIP}", "<none>"},
    {"ExternalIPsOfClusterIP", "", "services", "External-IP",
     "spec: {type: ClusterIP, externalIPs: [192.0.2.1, 192.0.2.2]}", "192.0.2.1,192.0.2.2"},
    {"LoadBalancerPending", "", "services", "External-IP",
     "spec: {type: LoadBalancer, ports: [{port: 80, nodePort: 31000, protocol: TCP}]}\nstatus: "
     "{loadBalancer: {}}",
     "<pending>"},
    {"LoadBalancerIngressIP", "", "services", "External-IP",
     "spec: {type: LoadBalancer}\nstatus: {loadBalancer: {ingress: [{ip: 203.0.113.9}]}}", "203.0.113.9"},
    {"LoadBalancerIngressHostname", "", "services", "External-IP",
     "spec: {type: LoadBalancer}\nstatus: {loadBalancer: {ingress: [{hostname: lb.example}]}}", "lb.example"},
    {"ExternalName", "", "services", "External-IP",
     "spec: {type: ExternalName, externalName: db.example.com}", "db.example.com"},
    {"Selector", "", "services", "Selector", "spec: {type: ClusterIP, selector: {app: web, tier: fe}}",
     "app=web,tier=fe"},
    {"SelectorNone", "", "services", "Selector", "spec: {type: ClusterIP}", "<none>"},
};
INSTANTIATE_TEST_SUITE_P(Services, TableCells, ::testing::ValuesIn(kServices), cellName);

const CellCase kNodes[] = {
    {"Ready", "", "nodes", "Status",
     "status: {conditions: [{type: MemoryPressure, status: \"False\"}, {type: Ready, status: \"True\"}]}",
     "Ready"},
    {"NotReady", "", "nodes", "Status", "status: {conditions: [{type: Ready, status: \"False\"}]}",
     "NotReady"},
    {"ReadyUnknownIsNotReady", "", "nodes", "Status",
     "status: {conditions: [{type: Ready, status: Unknown}]}", "NotReady"},
    {"NoConditionsUnknown", "", "nodes", "Status", "status: {}", "Unknown"},
    {"Cordoned", "", "nodes", "Status",
     "spec: {unschedulable: true}\nstatus: {conditions: [{type: Ready, status: \"True\"}]}",
     "Ready,SchedulingDisabled"},
    {"CordonedNotReady", "", "nodes", "Status",
     "spec: {unschedulable: true}\nstatus: {conditions: [{type: Ready, status: \"False\"}]}",
     "NotReady,SchedulingDisabled"},
    {"Roles", "", "nodes", "Roles", "metadata: {labels: {node-role.kubernetes.io/control-plane: \"\"}}",
     "control-plane"},
    {"RolesNone", "", "nodes", "Roles", "metadata: {labels: {kubernetes.io/hostname: n1}}", "<none>"},
    {"Version", "", "nodes", "Version", "status: {nodeInfo: {kubeletVersion: v1.30.0}}", "v1.30.0"},
    {"InternalIP", "", "nodes", "Internal-IP",
     "status: {addresses: [{type: Hostname, address: n1}, {type: InternalIP, address: 10.0.0.4}]}",
     "10.0.0.4"},
    {"ExternalIPNone", "", "nodes", "External-IP",
     "status: {addresses: [{type: InternalIP, address: 10.0.0.4}]}", "<none>"},
};
INSTANTIATE_TEST_SUITE_P(Nodes, TableCells, ::testing::ValuesIn(kNodes), cellName);

const CellCase kOtherKinds[] = {
    {"ConfigMapDataCountsBinaryData", "", "configmaps", "Data", "data: {a: x, b: y}\nbinaryData: {c: eA==}",
     3},
    {"ConfigMapNoData", "", "configmaps", "Data", "metadata: {name: empty}", 0},
    {"DeploymentReady", "apps", "deployments", "Ready", "spec: {replicas: 3}\nstatus: {readyReplicas: 2}",
     "2/3"},
    {"DeploymentNoStatus", "apps", "deployments", "Ready", "spec: {replicas: 1}", "0/1"},
    {"DeploymentUpToDate", "apps", "deployments", "Up-to-date",
     "spec: {replicas: 3}\nstatus: {updatedReplicas: 3}", 3},
    {"DeploymentAvailable", "apps", "deployments", "Available",
     "spec: {replicas: 3}\nstatus: {availableReplicas: 1}", 1},
    {"DeploymentContainers", "apps", "deployments", "Containers",
     "spec: {template: {spec: {containers: [{name: app, image: 'app:1'}, {name: log, image: 'fluent:2'}]}}}",
     "app,log"},
    {"DeploymentImages", "apps", "deployments", "Images",
     "spec: {template: {spec: {containers: [{name: app, image: 'app:1'}, {name: log, image: 'fluent:2'}]}}}",
     "app:1,fluent:2"},
    {"DeploymentSelector", "apps", "deployments", "Selector", "spec: {selector: {matchLabels: {app: web}}}",
     "app=web"},
    {"EventObject", "", "events", "Object", "involvedObject: {kind: Pod, name: web-1}", "pod/web-1"},
    {"EventType", "", "events", "Type", "type: Warning", "Warning"},
    {"EventReason", "", "events", "Reason", "reason: BackOff", "BackOff"},
    {"EventMessage", "", "events", "Message", "message: Back-off restarting failed container",
     "Back-off restarting failed container"},
    {"EventLastSeen", "", "events", "Last Seen",
     "firstTimestamp: \"2024-05-01T11:00:00Z\"\nlastTimestamp: \"2024-05-01T11:58:00Z\"", "2m"},
    {"EventFirstSeen", "", "events", "First Seen",
     "firstTimestamp: \"2024-05-01T11:00:00Z\"\nlastTimestamp: \"2024-05-01T11:58:00Z\"", "60m"},
    {"EventLastSeenFromEventTime", "", "events", "Last Seen", "eventTime: \"2024-05-01T11:59:30.000000Z\"",
     "30s"},
    {"EventSubobject", "", "events", "Subobject",
     "involvedObject: {kind: Pod, name: p, fieldPath: 'spec.containers{app}'}", "spec.containers{app}"},
    {"EventName", "", "events", "Name", "metadata: {name: web-1.17c1}", "web-1.17c1"},
    {"JobCompletions", "batch", "jobs", "Completions",
     "spec: {completions: 3, parallelism: 1}\nstatus: {succeeded: 1}", "1/3"},
    {"JobWorkQueueCompletions", "batch", "jobs", "Completions",
     "spec: {parallelism: 3}\nstatus: {succeeded: 0}", "0/1 of 3"},
    {"JobSingleWorkerCompletions", "batch", "jobs", "Completions",
     "spec: {parallelism: 1}\nstatus: {succeeded: 0}", "0/1"},
    {"JobRunning", "batch", "jobs", "Status", "status: {active: 1}", "Running"},
    {"JobComplete", "batch", "jobs", "Status", "status: {conditions: [{type: Complete, status: \"True\"}]}",
     "Complete"},
    {"JobFailed", "batch", "jobs", "Status", "status: {conditions: [{type: Failed, status: \"True\"}]}",
     "Failed"},
    {"JobSuspended", "batch", "jobs", "Status", "status: {conditions: [{type: Suspended, status: \"True\"}]}",
     "Suspended"},
    {"JobConditionFalseIgnored", "batch", "jobs", "Status",
     "status: {conditions: [{type: Suspended, status: \"False\"}]}", "Running"},
    // Complete and Failed outrank everything; then deletion.
    {"JobCompleteOutranksSuccessCriteriaMet", "batch", "jobs", "Status",
     "status: {conditions: [{type: Complete, status: \"True\"}, {type: SuccessCriteriaMet, status: "
     "\"True\"}]}",
     "Complete"},
    {"JobTerminating", "batch", "jobs", "Status",
     "metadata: {deletionTimestamp: \"2024-05-01T11:59:00Z\"}\nstatus: {active: 1}", "Terminating"},
    {"JobDurationFinished", "batch", "jobs", "Duration",
     "status: {startTime: \"2024-05-01T11:50:00Z\", completionTime: \"2024-05-01T11:51:30Z\"}", "90s"},
    {"JobDurationRunning", "batch", "jobs", "Duration", "status: {startTime: \"2024-05-01T11:57:00Z\"}",
     "3m"},
    {"JobDurationNotStarted", "batch", "jobs", "Duration", "status: {}", ""},
    {"NamespaceStatus", "", "namespaces", "Status", "status: {phase: Active}", "Active"},
    {"IngressClassNone", "networking.k8s.io", "ingresses", "Class", "spec: {}", "<none>"},
    {"IngressHostsAnyWhenNoneNamed", "networking.k8s.io", "ingresses", "Hosts", "spec: {rules: [{http: {}}]}", "*"},
    {"IngressHostsMore", "networking.k8s.io", "ingresses", "Hosts",
     "spec: {rules: [{host: a}, {host: b}, {}, {host: c}, {host: d}]}", "a,b,c + 1 more..."},
    {"IngressAddress", "networking.k8s.io", "ingresses", "Address",
     "status: {loadBalancer: {ingress: [{ip: 10.0.0.1}, {hostname: lb.example}]}}", "10.0.0.1,lb.e..."},
    {"IngressPortsTls", "networking.k8s.io", "ingresses", "Ports", "spec: {tls: [{secretName: s}]}", "80, 443"},
    {"IngressPortsPlain", "networking.k8s.io", "ingresses", "Ports", "spec: {}", "80"},
    {"IngressClassParameters", "networking.k8s.io", "ingressclasses", "Parameters",
     "spec: {controller: x, parameters: {apiGroup: k8s.example.com, kind: Params, name: p}}",
     "Params.k8s.example.com/p"},
    {"PriorityClassDefault", "scheduling.k8s.io", "priorityclasses", "Global-Default",
     "value: 1000\nglobalDefault: true", true},
    {"PdbMinAvailablePercent", "policy", "poddisruptionbudgets", "Min Available", "spec: {minAvailable: 50%}", "50%"},
    {"PdbMaxUnavailableUnset", "policy", "poddisruptionbudgets", "Max Unavailable", "spec: {minAvailable: 1}", "N/A"},
    {"PdbAllowedDisruptions", "policy", "poddisruptionbudgets", "Allowed Disruptions",
     "status: {disruptionsAllowed: 2}", 2},
    {"HpaReference", "autoscaling", "horizontalpodautoscalers", "Reference",
     "spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}}", "Deployment/web"},
    {"HpaTargetsUnknownWithoutStatus", "autoscaling", "horizontalpodautoscalers", "Targets",
     "spec: {metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}}]}",
     "cpu: <unknown>/50%"},
    {"HpaTargetsUtilization", "autoscaling", "horizontalpodautoscalers", "Targets",
     "spec: {metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}},"
     " {type: Resource, resource: {name: memory, target: {type: AverageValue, averageValue: 100Mi}}}]}\n"
     "status: {currentMetrics: [{type: Resource, resource: {name: cpu, current: {averageUtilization: 97, averageValue: 97m}}},"
     " {type: Resource, resource: {name: memory, current: {averageValue: 20Mi}}}]}",
     "cpu: 97%/50%, memory: 20Mi/100Mi"},
    {"HpaTargetsMore", "autoscaling", "horizontalpodautoscalers", "Targets",
     "spec: {metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}},"
     " {type: Resource, resource: {name: memory, target: {type: Utilization, averageUtilization: 60}}},"
     " {type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}}]}",
     "cpu: <unknown>/50%, memory: <unknown>/60% + 1 more..."},
    {"HpaTargetsNone", "autoscaling", "horizontalpodautoscalers", "Targets", "spec: {maxReplicas: 3}", "<none>"},
    {"HpaMinPods", "autoscaling", "horizontalpodautoscalers", "MinPods", "spec: {minReplicas: 2}", "2"},
    {"HpaMinPodsUnset", "autoscaling", "horizontalpodautoscalers", "MinPods", "spec: {maxReplicas: 3}", "<unset>"},
    {"HpaMaxPods", "autoscaling", "horizontalpodautoscalers", "MaxPods", "spec: {maxReplicas: 3}", 3},
    {"HpaReplicas", "autoscaling", "horizontalpodautoscalers", "Replicas", "status: {currentReplicas: 2}", "2"},
    {"QuotaRequest", "", "resourcequotas", "Request",
     "status: {hard: {pods: '10', requests.cpu: '1', limits.memory: 1Gi}, used: {pods: '2'}}", "pods: 2/10, requests.cpu: 0/1"},
    {"QuotaLimit", "", "resourcequotas", "Limit",
     "status: {hard: {pods: '10', requests.cpu: '1', limits.memory: 1Gi}, used: {limits.memory: 512Mi}}",
     "limits.memory: 512Mi/1Gi"},
    {"EventsV1Object", "events.k8s.io", "events", "Object", "regarding: {kind: Pod, name: web-1}", "pod/web-1"},
    {"EventsV1Message", "events.k8s.io", "events", "Message", "note: pulled the image", "pulled the image"},
};
INSTANTIATE_TEST_SUITE_P(Kinds, TableCells, ::testing::ValuesIn(kOtherKinds), cellName);

// ---------------------------------------------------------------------------
// Table shape and includeObject

const char* const kTablePod = R"(
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: default
  uid: 5d2c1b7e-0000-4000-8000-000000000001
  resourceVersion: "42"
  creationTimestamp: "2024-05-01T11:50:00Z"
  labels: {app: web}
spec: {containers: [{name: app, image: nginx}]}
status: {phase: Pending}
)";

TEST(TableShape, KindAndRows) {
  Json a = yaml(kTablePod), b = yaml(kTablePod);
  b["metadata"]["name"] = "web-2";
  Json t = toTable(resourceInfoFor("", "pods"), {&a, &b}, IncludeObject::kNone, now());
  EXPECT_EQ(t["kind"], "Table");
  EXPECT_EQ(t["apiVersion"], "meta.k8s.io/v1");
  ASSERT_EQ(t["rows"].size(), 2u);
  EXPECT_EQ(t["rows"][0]["cells"][0], "web-1");
  EXPECT_EQ(t["rows"][1]["cells"][0], "web-2");
  EXPECT_EQ(t["columnDefinitions"].size(), t["rows"][0]["cells"].size());
}

TEST(TableShape, EmptyListHasColumnsAndNoRows) {
  Json t = toTable(resourceInfoFor("", "pods"), {}, IncludeObject::kMetadata, now());
  EXPECT_TRUE(t["rows"].is_array());
  EXPECT_TRUE(t["rows"].empty());
  EXPECT_EQ(t["columnDefinitions"].size(), 9u);
}

TEST(TableShape, WatchEventsAfterTheFirstOmitColumns) {
  Json a = yaml(kTablePod);
  Json t = toTable(resourceInfoFor("", "pods"), {&a}, IncludeObject::kNone, now(), /*with_columns=*/false);
  EXPECT_TRUE(!t.contains("columnDefinitions") || t["columnDefinitions"].is_null()) << t.dump();
  ASSERT_EQ(t["rows"].size(), 1u);
  EXPECT_EQ(t["rows"][0]["cells"].size(), 9u);
}

TEST(TableIncludeObject, NoneHasNoObject) {
  Json a = yaml(kTablePod);
  Json t = toTable(resourceInfoFor("", "pods"), {&a}, IncludeObject::kNone, now());
  const Json& row = t["rows"][0];
  EXPECT_TRUE(!row.contains("object") || row["object"].is_null()) << row.dump();
}

TEST(TableIncludeObject, MetadataIsPartialObjectMetadata) {
  Json a = yaml(kTablePod);
  a["metadata"]["managedFields"] = Json::array({{{"manager", "kubectl"}, {"operation", "Apply"}}});
  Json t = toTable(resourceInfoFor("", "pods"), {&a}, IncludeObject::kMetadata, now());
  const Json& o = t["rows"][0]["object"];
  EXPECT_EQ(o["kind"], "PartialObjectMetadata");
  EXPECT_EQ(o["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(o["metadata"]["name"], "web-1");
  EXPECT_EQ(o["metadata"]["namespace"], "default");
  EXPECT_EQ(o["metadata"]["resourceVersion"], "42");
  EXPECT_EQ(o["metadata"]["uid"], a["metadata"]["uid"]);
  EXPECT_EQ(o["metadata"]["labels"], a["metadata"]["labels"]);
  EXPECT_FALSE(o.contains("spec"));
  EXPECT_FALSE(o.contains("status"));
}

TEST(TableIncludeObject, ObjectIsTheWholeObject) {
  Json a = yaml(kTablePod);
  Json t = toTable(resourceInfoFor("", "pods"), {&a}, IncludeObject::kObject, now());
  EXPECT_EQ(t["rows"][0]["object"], a);
}

TEST(TableDefaultColumns, UnknownKindHasNameAndAge) {
  ResourceInfo info;
  info.group = "example.com";
  info.version = "v1";
  info.resource = "widgets";
  info.kind = "Widget";
  const auto& cols = columnsFor(info);
  ASSERT_EQ(cols.size(), 2u);
  EXPECT_EQ(cols[0].name, "Name");
  EXPECT_EQ(cols[1].name, "Age");
  Json w = yaml("metadata: {name: w, creationTimestamp: \"2024-05-01T09:00:00Z\"}");
  Json t = toTable(info, {&w}, IncludeObject::kNone, now());
  EXPECT_EQ(t["rows"][0]["cells"], Json::array({"w", "3h"}));
}

}  // namespace
}  // namespace capstan::api
