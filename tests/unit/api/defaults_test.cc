// applyDefaults: manifests in, the defaulted object (or the part of it that
// matters) out, as kube-apiserver returns them.
#include "api/defaults.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/registry.h"
#include "unit/api/kind_fixtures.h"

namespace capstan::api {
namespace {

using testing::infoFor;
using testing::yaml;

// Every key of `expected` is in `actual` with a matching value: objects
// recursively, arrays element by element (same length), scalars exactly.
::testing::AssertionResult containsSubset(const Json& actual, const Json& expected,
                                          const std::string& at = "") {
  if (expected.is_object() && actual.is_object()) {
    for (auto it = expected.begin(); it != expected.end(); ++it) {
      std::string p = at + "." + it.key();
      if (!actual.contains(it.key())) {
        if (it->is_null()) continue;  // expecting absence
        return ::testing::AssertionFailure() << "missing " << p;
      }
      if (it->is_null())
        return ::testing::AssertionFailure() << p << " should be absent, is " << actual[it.key()].dump();
      auto r = containsSubset(actual[it.key()], *it, p);
      if (!r) return r;
    }
    return ::testing::AssertionSuccess();
  }
  if (expected.is_array() && actual.is_array() && expected.size() == actual.size()) {
    for (size_t i = 0; i < expected.size(); ++i) {
      auto r = containsSubset(actual[i], expected[i], at + "[" + std::to_string(i) + "]");
      if (!r) return r;
    }
    return ::testing::AssertionSuccess();
  }
  if (actual != expected)
    return ::testing::AssertionFailure() << at << ": got " << actual.dump() << ", want " << expected.dump();
  return ::testing::AssertionSuccess();
}

struct DefaultCase {
  std::string name;
  std::string group;
  std::string kind;
  std::string input;
  std::string expected;  // subset; a null value means "must be absent"
};

class DefaultsTable : public ::testing::TestWithParam<DefaultCase> {};

TEST_P(DefaultsTable, FillsUpstreamDefaults) {
  const auto& c = GetParam();
  Json obj = yaml(c.input);
  applyDefaults(infoFor(c.group, c.kind), obj);
  EXPECT_TRUE(containsSubset(obj, yaml(c.expected))) << obj.dump(2);
}

TEST_P(DefaultsTable, IsIdempotent) {
  const auto& c = GetParam();
  Json once = yaml(c.input);
  applyDefaults(infoFor(c.group, c.kind), once);
  Json twice = once;
  applyDefaults(infoFor(c.group, c.kind), twice);
  EXPECT_EQ(once, twice);
}

const std::vector<DefaultCase> kCases = {
    {"PodMinimal", "", "Pod", R"(
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default}
spec:
  containers:
  - name: c
    image: nginx
)",
     R"(
spec:
  containers:
  - name: c
    image: nginx
    imagePullPolicy: Always
    resources: {}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  terminationGracePeriodSeconds: 30
)"},
    {"PodKeepsClientValues", "", "Pod", R"(
metadata: {name: p}
spec:
  restartPolicy: Never
  dnsPolicy: Default
  terminationGracePeriodSeconds: 5
  schedulerName: mine
  enableServiceLinks: false
  priority: 7
  containers:
  - {name: c, image: "nginx:1.25", imagePullPolicy: Never, terminationMessagePolicy: FallbackToLogsOnError}
)",
     R"(
spec:
  restartPolicy: Never
  dnsPolicy: Default
  terminationGracePeriodSeconds: 5
  schedulerName: mine
  enableServiceLinks: false
  priority: 7
  preemptionPolicy: null
  containers:
  - {name: c, image: "nginx:1.25", imagePullPolicy: Never, terminationMessagePolicy: FallbackToLogsOnError,
     terminationMessagePath: /dev/termination-log, resources: {}}
)"},
    {"PodPortsProbesEnvVolumes", "", "Pod", R"(
metadata: {name: p}
spec:
  hostNetwork: true
  initContainers:
  - name: init
    image: busybox:1.36
  containers:
  - name: c
    image: nginx:1.25
    ports: [{containerPort: 80}]
    env:
    - name: NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    livenessProbe: {httpGet: {port: 80}}
    readinessProbe: {grpc: {port: 9000}, periodSeconds: 3}
    resources:
      limits: {cpu: 500m, memory: 128Mi}
      requests: {cpu: 100m}
  volumes:
  - name: scratch
  - name: conf
    configMap: {name: cm}
  - name: sec
    secret: {secretName: s}
  - name: host
    hostPath: {path: /var/log}
  - name: proj
    projected:
      sources:
      - serviceAccountToken: {path: token}
)",
     R"(
spec:
  initContainers:
  - {name: init, imagePullPolicy: IfNotPresent, terminationMessagePath: /dev/termination-log}
  containers:
  - ports: [{containerPort: 80, hostPort: 80, protocol: TCP}]
    env:
    - name: NODE
      valueFrom: {fieldRef: {apiVersion: v1, fieldPath: spec.nodeName}}
    livenessProbe:
      httpGet: {path: /, port: 80, scheme: HTTP}
      timeoutSeconds: 1
      periodSeconds: 10
      successThreshold: 1
      failureThreshold: 3
    readinessProbe:
      grpc: {port: 9000, service: ""}
      periodSeconds: 3
    resources:
      limits: {cpu: 500m, memory: 128Mi}
      requests: {cpu: 100m, memory: 128Mi}
  volumes:
  - {name: scratch, emptyDir: {}}
  - {name: conf, configMap: {name: cm, defaultMode: 420}}
  - {name: sec, secret: {secretName: s, defaultMode: 420}}
  - {name: host, hostPath: {path: /var/log, type: ""}}
  - name: proj
    projected:
      defaultMode: 420
      sources:
      - serviceAccountToken: {path: token, expirationSeconds: 3600}
)"},
    {"Deployment", "apps", "Deployment", R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.25"}]
)",
     R"(
spec:
  replicas: 1
  revisionHistoryLimit: 10
  progressDeadlineSeconds: 600
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}
  template:
    spec:
      containers:
      - {name: web, image: "nginx:1.25", imagePullPolicy: IfNotPresent, resources: {},
         terminationMessagePath: /dev/termination-log, terminationMessagePolicy: File}
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
      enableServiceLinks: null
      priority: null
      tolerations: null
)"},
    {"DeploymentRecreateGetsNoRollingUpdate", "apps", "Deployment", R"(
metadata: {name: web}
spec:
  strategy: {type: Recreate}
)",
     R"(
spec:
  strategy: {type: Recreate, rollingUpdate: null}
)"},
    {"ReplicaSet", "apps", "ReplicaSet", R"(
metadata: {name: rs}
spec:
  template: {spec: {containers: [{name: c, image: x}]}}
)",
     R"(
spec:
  replicas: 1
  template: {spec: {restartPolicy: Always}}
)"},
    {"DaemonSet", "apps", "DaemonSet", R"(
metadata: {name: ds}
spec:
  template: {spec: {containers: [{name: c, image: x}]}}
)",
     R"(
spec:
  revisionHistoryLimit: 10
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 1, maxSurge: 0}
  template: {spec: {dnsPolicy: ClusterFirst}}
)"},
    {"StatefulSet", "apps", "StatefulSet", R"(
metadata: {name: db}
spec:
  serviceName: db
  template: {spec: {containers: [{name: c, image: x}]}}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
)",
     R"(
spec:
  replicas: 1
  podManagementPolicy: OrderedReady
  revisionHistoryLimit: 10
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {partition: 0}
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Retain, whenScaled: Retain}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {volumeMode: Filesystem}
    status: {phase: Pending}
)"},
    {"StatefulSetOnDelete", "apps", "StatefulSet", R"(
metadata: {name: db}
spec:
  updateStrategy: {type: OnDelete}
)",
     R"(
spec:
  updateStrategy: {type: OnDelete, rollingUpdate: null}
)"},
    {"Job", "batch", "Job", R"(
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  template:
    metadata: {labels: {app: pi}}
    spec:
      restartPolicy: Never
      containers: [{name: pi, image: perl}]
)",
     R"(
metadata: {labels: {app: pi}}
spec:
  completions: 1
  parallelism: 1
  backoffLimit: 6
  completionMode: NonIndexed
  suspend: false
  podReplacementPolicy: TerminatingOrFailed
  template:
    spec:
      restartPolicy: Never
      dnsPolicy: ClusterFirst
      terminationGracePeriodSeconds: 30
)"},
    {"JobParallelOnlyKeepsCompletionsUnset", "batch", "Job", R"(
metadata: {name: work, labels: {team: a}}
spec:
  parallelism: 3
  backoffLimitPerIndex: 1
  podFailurePolicy:
    rules:
    - action: Ignore
      onPodConditions: [{type: DisruptionTarget}]
  template:
    metadata: {labels: {app: w}}
    spec: {containers: [{name: c, image: x}]}
)",
     R"(
metadata: {labels: {team: a}}
spec:
  completions: null
  parallelism: 3
  backoffLimit: 2147483647
  podReplacementPolicy: Failed
  podFailurePolicy:
    rules:
    - action: Ignore
      onPodConditions: [{type: DisruptionTarget, status: "True"}]
  template:
    spec: {restartPolicy: Always}
)"},
    {"CronJob", "batch", "CronJob", R"(
metadata: {name: hello}
spec:
  schedule: "*/1 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: hello, image: busybox}]
)",
     R"(
spec:
  concurrencyPolicy: Allow
  suspend: false
  successfulJobsHistoryLimit: 3
  failedJobsHistoryLimit: 1
  jobTemplate:
    spec:
      backoffLimit: null
      completions: null
      template:
        spec:
          dnsPolicy: ClusterFirst
          containers: [{name: hello, image: busybox, imagePullPolicy: Always, resources: {},
                        terminationMessagePath: /dev/termination-log, terminationMessagePolicy: File}]
)"},
    {"ServiceClusterIP", "", "Service", R"(
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - {port: 80}
  - {name: metrics, port: 9090, targetPort: metrics, protocol: UDP}
)",
     R"(
spec:
  type: ClusterIP
  sessionAffinity: None
  internalTrafficPolicy: Cluster
  ipFamilyPolicy: SingleStack
  ipFamilies: [IPv4]
  externalTrafficPolicy: null
  ports:
  - {port: 80, protocol: TCP, targetPort: 80}
  - {name: metrics, port: 9090, targetPort: metrics, protocol: UDP}
)"},
    {"ServiceNodePortClientIP", "", "Service", R"(
metadata: {name: web}
spec:
  type: NodePort
  sessionAffinity: ClientIP
  clusterIP: 10.96.0.10
  ports: [{port: 80, targetPort: 0}]
)",
     R"(
spec:
  externalTrafficPolicy: Cluster
  internalTrafficPolicy: Cluster
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 10800}}
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ports: [{port: 80, targetPort: 80, protocol: TCP}]
)"},
    {"ServiceLoadBalancer", "", "Service", R"(
metadata: {name: lb}
spec:
  type: LoadBalancer
  clusterIPs: ["fd00::10"]
  ports: [{port: 443}]
)",
     R"(
spec:
  allocateLoadBalancerNodePorts: true
  externalTrafficPolicy: Cluster
  clusterIP: "fd00::10"
  ipFamilies: [IPv6]
)"},
    {"ServiceHeadlessWithoutSelector", "", "Service", R"(
metadata: {name: h}
spec:
  clusterIP: None
)",
     R"(
spec:
  clusterIPs: [None]
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv4]
)"},
    {"ServiceExternalName", "", "Service", R"(
metadata: {name: ext}
spec:
  type: ExternalName
  externalName: example.com
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 5}}
)",
     R"(
spec:
  sessionAffinity: None
  sessionAffinityConfig: null
  internalTrafficPolicy: null
  ipFamilyPolicy: null
  ipFamilies: null
)"},
    {"NamespaceCreate", "", "Namespace", R"(
apiVersion: v1
kind: Namespace
metadata: {name: team-a, uid: "set-by-the-server-before-defaulting"}
)",
     R"(
metadata: {labels: {kubernetes.io/metadata.name: team-a}}
spec: {finalizers: [kubernetes]}
status: {phase: Active}
)"},
    {"NamespaceStoredKeepsFinalizers", "", "Namespace", R"(
metadata: {name: team-a, uid: "1234", resourceVersion: "5"}
spec: {finalizers: []}
status: {phase: Terminating}
)",
     R"(
spec: {finalizers: []}
status: {phase: Terminating}
)"},
    {"SecretStringData", "", "Secret", R"(
metadata: {name: s}
data: {a: b2xk}
stringData: {a: new, b: hello}
)",
     R"(
type: Opaque
data: {a: bmV3, b: aGVsbG8=}
stringData: null
)"},
    {"EndpointSlice", "discovery.k8s.io", "EndpointSlice", R"(
metadata: {name: s}
addressType: IPv4
ports: [{port: 80}]
)",
     R"(
ports: [{port: 80, name: "", protocol: TCP}]
)"},
    {"Endpoints", "", "Endpoints", R"(
metadata: {name: e}
subsets: [{addresses: [{ip: 10.0.0.1}], ports: [{port: 80}]}]
)",
     R"(
subsets: [{addresses: [{ip: 10.0.0.1}], ports: [{port: 80, protocol: TCP}]}]
)"},
    {"LimitRange", "", "LimitRange", R"(
metadata: {name: l}
spec:
  limits:
  - type: Container
    max: {cpu: "2"}
    min: {memory: 64Mi}
  - type: Pod
    max: {cpu: "4"}
)",
     R"(
spec:
  limits:
  - type: Container
    default: {cpu: "2"}
    defaultRequest: {cpu: "2", memory: 64Mi}
  - {type: Pod, max: {cpu: "4"}, default: null}
)"},
    {"Node", "", "Node", R"(
metadata: {name: n1}
status: {capacity: {cpu: "4", pods: "110"}}
)",
     R"(
status: {allocatable: {cpu: "4", pods: "110"}}
)"},
};

INSTANTIATE_TEST_SUITE_P(Kinds, DefaultsTable, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return info.param.name; });

// parsers.ParseImageName decides between Always and IfNotPresent.
TEST(DefaultsImagePullPolicy, FollowsTheImageTag) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"nginx", "Always"},
      {"nginx:latest", "Always"},
      {"docker.io/library/nginx", "Always"},
      {"nginx:1.25", "IfNotPresent"},
      {"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "IfNotPresent"},
      {"nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "Always"},
      {"localhost:5000/team/app", "Always"},
      {"registry.example.com:5000/team/app:v2", "IfNotPresent"},
      {"Registry.Example.com/app", "Always"},
      {"library/Nginx", "IfNotPresent"},  // does not parse: no tag known
      {"", "IfNotPresent"},
  };
  for (const auto& [image, policy] : cases) {
    Json pod = {{"metadata", {{"name", "p"}}},
                {"spec", {{"containers", {{{"name", "c"}, {"image", image}}}}}}};
    applyDefaults(infoFor("", "Pod"), pod);
    EXPECT_EQ(pod["spec"]["containers"][0]["imagePullPolicy"], policy) << image;
  }
}

TEST(DefaultsUnknownKinds, AreLeftAlone) {
  Json lease = yaml("metadata: {name: l}\nspec: {holderIdentity: a}\n");
  Json before = lease;
  applyDefaults(infoFor("coordination.k8s.io", "Lease"), lease);
  EXPECT_EQ(lease, before);

  ResourceInfo custom;
  custom.group = "example.com";
  custom.kind = "Widget";
  Json widget = yaml("spec: {containers: []}\n");
  Json widget_before = widget;
  applyDefaults(custom, widget);
  EXPECT_EQ(widget, widget_before);
}

TEST(DefaultsShapes, WrongTypesAreNotTouched) {
  Json pod = yaml("metadata: {name: p}\nspec: {containers: oops, tolerations: 3, volumes: [7, {name: v}]}\n");
  applyDefaults(infoFor("", "Pod"), pod);
  EXPECT_EQ(pod["spec"]["containers"], "oops");
  EXPECT_EQ(pod["spec"]["tolerations"], 3);
  EXPECT_EQ(pod["spec"]["volumes"][0], 7);
  EXPECT_EQ(pod["spec"]["volumes"][1]["emptyDir"], Json::object());

  Json not_an_object = Json::array();
  applyDefaults(infoFor("", "Pod"), not_an_object);
  EXPECT_EQ(not_an_object, Json::array());

  Json deploy = yaml("metadata: {name: d}\nspec: 5\n");
  applyDefaults(infoFor("apps", "Deployment"), deploy);
  EXPECT_EQ(deploy["spec"], 5);
}

}  // namespace
}  // namespace capstan::api
