// validateObject: manifests in (defaulted first, as the server does), the
// Kubernetes Status out — message, causes and details as upstream writes
// them.
#include "api/validation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/defaults.h"
#include "api/registry.h"
#include "unit/api/kind_fixtures.h"
#include "api/validation_internal.h"

namespace capstan::api {
namespace {

using testing::infoFor;
using testing::yaml;

Json defaulted(const ResourceInfo& info, const std::string& text) {
  Json obj = yaml(text);
  applyDefaults(info, obj);
  return obj;
}

struct ValidationCase {
  std::string name;
  std::string group;
  std::string kind;
  std::string object;
  std::string old;      // "" for a create
  std::string message;  // "" when the object is valid
};

class ValidationTable : public ::testing::TestWithParam<ValidationCase> {};

TEST_P(ValidationTable, MatchesUpstream) {
  const auto& c = GetParam();
  const ResourceInfo& info = infoFor(c.group, c.kind);
  Json obj = defaulted(info, c.object);
  Json old = c.old.empty() ? Json() : defaulted(info, c.old);
  Status st = validateObject(info, obj, c.old.empty() ? nullptr : &old);
  if (c.message.empty()) {
    EXPECT_TRUE(st.isOk()) << st.message();
    return;
  }
  ASSERT_FALSE(st.isOk());
  EXPECT_EQ(st.code(), Code::kInvalid);
  if (c.message[0] == '*') {  // "*text": the message contains text
    EXPECT_NE(st.message().find(c.message.substr(1)), std::string::npos) << st.message();
  } else {
    EXPECT_EQ(st.message(), c.message);
  }
}

const char* kPod = R"(
metadata: {name: p, namespace: default}
spec:
  containers: [{name: c, image: nginx}]
)";

const char* kDeployment = R"(
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
)";

const std::vector<ValidationCase> kCases =
    {
        // ---- metadata
        {"PodValid", "", "Pod", kPod, "", ""},
        {"NameUppercase", "", "Pod", R"(
metadata: {name: Foo, namespace: default}
spec: {containers: [{name: c, image: nginx}]}
)",
         "",
         R"(Pod "Foo" is invalid: metadata.name: Invalid value: "Foo": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'))"},
        {"NameMissing", "", "ConfigMap", "metadata: {namespace: default}\n", "",
         R"(ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required)"},
        {"NamespaceRequired", "", "ConfigMap", "metadata: {name: c}\n", "",
         R"(ConfigMap "c" is invalid: metadata.namespace: Required value)"},
        {"NamespaceForbiddenOnClusterScoped", "", "Node", "metadata: {name: n1, namespace: default}\n", "",
         R"(Node "n1" is invalid: metadata.namespace: Forbidden: not allowed on this type)"},
        {"NamespaceNameIsALabel", "", "Namespace", "metadata: {name: a.b}\n", "",
         R"(Namespace "a.b" is invalid: metadata.name: Invalid value: "a.b": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'))"},
        {"ConfigMapNameIsASubdomain", "", "ConfigMap", "metadata: {name: a.b, namespace: default}\n", "", ""},
        {"ServiceNameIsADns1035Label", "", "Service", R"(
metadata: {name: 1web, namespace: default}
spec: {ports: [{port: 80}]}
)",
         "",
         R"(Service "1web" is invalid: metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?'))"},
        {"LabelsAndAnnotations", "", "ConfigMap", R"(
metadata:
  name: c
  namespace: default
  labels: {"bad key!": ok, good: "-bad-value"}
  annotations: {"a/b/c": x}
)",
         "",
         R"(ConfigMap "c" is invalid: [metadata.labels: Invalid value: "bad key!": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), metadata.labels: Invalid value: "-bad-value": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?'), metadata.annotations: Invalid value: "a/b/c": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')])"},
        {"Finalizers", "", "ConfigMap", R"(
metadata: {name: c, namespace: default, finalizers: [my-finalizer, example.com/ok]}
)",
         "",
         R"(ConfigMap "c" is invalid: metadata.finalizers[0]: Invalid value: "my-finalizer": name is neither a standard finalizer name nor is it fully qualified)"},
        {"OwnerReferences", "", "ConfigMap", R"(
metadata:
  name: c
  namespace: default
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: rs}]
)",
         "",
         R"(ConfigMap "c" is invalid: metadata.ownerReferences.uid: Invalid value: "": uid must not be empty)"},

        // ---- pods
        {"PodNoContainers", "", "Pod", "metadata: {name: p, namespace: default}\nspec: {}\n", "",
         R"(Pod "p" is invalid: spec.containers: Required value)"},
        {"PodContainerProblems", "", "Pod", R"(
metadata: {name: p, namespace: default}
spec:
  restartPolicy: Sometimes
  containers:
  - {name: Web, image: nginx, imagePullPolicy: Sometimes}
  - {name: web, ports: [{containerPort: 70000}, {containerPort: 80, protocol: HTTP}]}
  - {name: web, image: nginx}
)",
         "",
         R"(Pod "p" is invalid: [spec.containers[0].name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'), spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never", spec.containers[1].image: Required value, spec.containers[1].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive, spec.containers[1].ports[1].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP", spec.containers[2].name: Duplicate value: "web", spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"])"},
        {"PodVolumes", "", "Pod", R"(
metadata: {name: p, namespace: default}
spec:
  dnsPolicy: Sideways
  volumes:
  - {name: data}
  - {name: data}
  - {name: conf, configMap: {}}
  containers:
  - name: c
    image: nginx
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: missing, mountPath: /data}
)",
         "",
         R"(Pod "p" is invalid: [spec.volumes[1].name: Duplicate value: "data", spec.volumes[2].configMap.name: Required value, spec.containers[0].volumeMounts[1].name: Not found: "missing", spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/data": must be unique, spec.dnsPolicy: Unsupported value: "Sideways": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"])"},
        {"PodTolerations", "", "Pod", R"(
metadata: {name: p, namespace: default}
spec:
  containers: [{name: c, image: nginx}]
  tolerations:
  - {operator: Equal, value: x}
  - {key: k, operator: Exists, value: v, effect: NoExecute}
  - {key: k, effect: Sometimes}
)",
         "", R"(Pod "p" is invalid: [spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys", spec.tolerations[1].operator: Invalid value: {"effect":"NoExecute","key":"k","operator":"Exists","value":"v"}: value must be empty when `operator` is 'Exists', spec.tolerations[2].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"])"},
        {"PodUpdateImageAllowed", "", "Pod", R"(
metadata: {name: p, namespace: default}
spec:
  containers: [{name: c, image: "nginx:1.26", imagePullPolicy: Always}]
  activeDeadlineSeconds: 30
  tolerations: [{key: extra, operator: Exists}]
)",
         R"(
metadata: {name: p, namespace: default}
spec:
  containers: [{name: c, image: nginx}]
)",
         ""},
        {"PodUpdateActiveDeadlineMayOnlyShrink", "", "Pod", R"(
metadata: {name: p, namespace: default}
spec: {activeDeadlineSeconds: 60, containers: [{name: c, image: nginx}]}
)",
         R"(
metadata: {name: p, namespace: default}
spec: {activeDeadlineSeconds: 30, containers: [{name: c, image: nginx}]}
)",
         R"(Pod "p" is invalid: spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value)"},
        {"PodUpdateContainerCount", "", "Pod", R"(
metadata: {name: p, namespace: default}
spec: {containers: [{name: c, image: nginx}, {name: d, image: nginx}]}
)",
         kPod,
         R"(Pod "p" is invalid: spec.containers: Forbidden: pod updates may not add or remove containers)"},
        {"PodUpdateRemovesToleration", "", "Pod", R"(
metadata: {name: p, namespace: default}
spec:
  containers: [{name: c, image: nginx}]
  tolerations: [{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 30}]
)",
         R"(
metadata: {name: p, namespace: default}
spec:
  containers: [{name: c, image: nginx}]
  tolerations: [{key: a, operator: Exists}]
)",
         R"(Pod "p" is invalid: spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds)"},

        // ---- apps
        {"DeploymentValid", "apps", "Deployment", kDeployment, "", ""},
        {"DeploymentSelectorMismatch", "apps", "Deployment", R"(
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: http}}
    spec: {containers: [{name: web, image: nginx}]}
)",
         "",
         R"(Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: {"app":"http"}: `selector` does not match template `labels`)"},
        {"DeploymentNoSelector", "apps", "Deployment", R"(
metadata: {name: helloworld, namespace: default}
spec:
  template:
    metadata: {labels: {app: helloworld}}
    spec: {containers: [{name: web, image: nginx}]}
)",
         "",
         R"(Deployment.apps "helloworld" is invalid: [spec.selector: Required value, spec.template.metadata.labels: Invalid value: {"app":"helloworld"}: `selector` does not match template `labels`])"},
        {"DeploymentNumbers", "apps", "Deployment", R"(
metadata: {name: web, namespace: default}
spec:
  replicas: -1
  minReadySeconds: 700
  strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {restartPolicy: Never, containers: [{name: web, image: nginx}]}
)",
         "",
         R"(Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always", spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0, spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds])"},
        {"DeploymentBadPercent", "apps", "Deployment", R"(
metadata: {name: web, namespace: default}
spec:
  strategy: {rollingUpdate: {maxUnavailable: 150%, maxSurge: "5"}}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
)",
         "",
         R"(Deployment.apps "web" is invalid: [spec.strategy.rollingUpdate.maxSurge: Invalid value: 5: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%'), spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 150%: must not be greater than 100%])"},
        {"DeploymentSelectorImmutable", "apps", "Deployment", R"(
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web2}}
  template:
    metadata: {labels: {app: web2}}
    spec: {containers: [{name: web, image: nginx}]}
)",
         kDeployment,
         R"(Deployment.apps "web" is invalid: spec.selector: Invalid value: {"matchLabels":{"app":"web2"}}: field is immutable)"},
        {"DeploymentScaleUpdateAllowed", "apps", "Deployment", R"(
metadata: {name: web, namespace: default}
spec:
  replicas: 5
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:2"}]}
)",
         kDeployment, ""},
        {"ReplicaSetEmptySelector", "apps", "ReplicaSet", R"(
metadata: {name: rs, namespace: default}
spec:
  selector: {}
  template: {spec: {containers: [{name: c, image: nginx}]}}
)",
         "",
         R"(ReplicaSet.apps "rs" is invalid: spec.selector: Invalid value: {}: empty selector is invalid for deployment)"},
        {"DaemonSetStrategy", "apps", "DaemonSet", R"(
metadata: {name: ds, namespace: default}
spec:
  selector: {matchLabels: {app: ds}}
  updateStrategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 0}}
  template:
    metadata: {labels: {app: ds}}
    spec: {containers: [{name: c, image: nginx}]}
)",
         "",
         R"(DaemonSet.apps "ds" is invalid: spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0)"},
        {"StatefulSetNameIsALabel", "apps", "StatefulSet", R"(
metadata: {name: db.primary, namespace: default}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: postgres}]}
)",
         "",
         R"(StatefulSet.apps "db.primary" is invalid: metadata.name: Invalid value: "db.primary": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'))"},
        {"StatefulSetForbiddenUpdate", "apps", "StatefulSet", R"(
metadata: {name: db, namespace: default}
spec:
  serviceName: other
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: postgres}]}
)",
         R"(
metadata: {name: db, namespace: default}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: postgres}]}
)",
         R"(StatefulSet.apps "db" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden)"},
        {"ControllerRevision", "apps", "ControllerRevision",
         "metadata: {name: r, namespace: default}\nrevision: -1\n", "",
         R"(ControllerRevision.apps "r" is invalid: [data: Required value: data is mandatory, revision: Invalid value: -1: must be greater than or equal to 0])"},

        // ---- batch
        {"JobValid", "batch", "Job", R"(
metadata: {name: pi, namespace: default}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: pi, image: perl}]
)",
         "", ""},
        {"JobRestartPolicyRequired", "batch", "Job", R"(
metadata: {name: migrate, namespace: default}
spec:
  template:
    spec:
      containers: [{name: m, image: migrate}]
)",
         "",
         R"(Job.batch "migrate" is invalid: spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never")"},
        {"JobIndexedNeedsCompletions", "batch", "Job", R"(
metadata: {name: idx, namespace: default}
spec:
  parallelism: 2
  completionMode: Indexed
  template: {spec: {restartPolicy: Never, containers: [{name: c, image: x}]}}
)",
         "",
         R"(Job.batch "idx" is invalid: spec.completions: Required value: when completion mode is Indexed)"},
        {"JobTemplateImmutable", "batch", "Job", R"(
metadata: {name: pi, namespace: default}
spec:
  template: {spec: {restartPolicy: Never, containers: [{name: pi, image: perl2}]}}
)",
         R"(
metadata: {name: pi, namespace: default}
spec:
  template: {spec: {restartPolicy: Never, containers: [{name: pi, image: perl}]}}
)",
         "*spec.template: Invalid value: "},
        {"CronJobValid", "batch", "CronJob", R"(
metadata: {name: hello, namespace: default}
spec:
  schedule: "*/5 * * * 1-5"
  jobTemplate: {spec: {template: {spec: {restartPolicy: OnFailure, containers: [{name: c, image: busybox}]}}}}
)",
         "", ""},
        {"CronJobProblems", "batch", "CronJob", R"(
metadata: {name: this-cronjob-name-is-far-too-long-to-leave-room-for-suffix, namespace: default}
spec:
  schedule: "61 * * * *"
  concurrencyPolicy: Sometimes
  jobTemplate: {spec: {template: {spec: {containers: [{name: c, image: busybox}]}}}}
)",
         "",
         R"(CronJob.batch "this-cronjob-name-is-far-too-long-to-leave-room-for-suffix" is invalid: [spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61, spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace", spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never", metadata.name: Invalid value: "this-cronjob-name-is-far-too-long-to-leave-room-for-suffix": must be no more than 52 characters])"},
        {"CronJobScheduleRequired", "batch", "CronJob", R"(
metadata: {name: c, namespace: default}
spec:
  jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}}}}
)",
         "", R"(CronJob.batch "c" is invalid: spec.schedule: Required value)"},

        // ---- services
        {"ServiceValid", "", "Service", R"(
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}, {name: https, port: 443}]
)",
         "", ""},
        {"ServiceHeadlessNeedsNoPorts", "", "Service", R"(
metadata: {name: db, namespace: default}
spec: {clusterIP: None, selector: {app: db}}
)",
         "", ""},
        {"ServicePorts", "", "Service", R"(
metadata: {name: web, namespace: default}
spec:
  type: Balanced
  ports: [{port: 80}, {name: http, port: 0}, {name: http, port: 80}]
)",
         "",
         R"(Service "web" is invalid: [spec.ports[0].name: Required value, spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive, spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive, spec.ports[2].name: Duplicate value: "http", spec.type: Unsupported value: "Balanced": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort", spec.ports[2]: Duplicate value: {"Name":"","Protocol":"TCP","AppProtocol":null,"Port":80,"TargetPort":0,"NodePort":0}])"},
        {"ServiceNoPorts", "", "Service", "metadata: {name: web, namespace: default}\nspec: {}\n", "",
         R"(Service "web" is invalid: spec.ports: Required value)"},
        {"ServiceClusterIPImmutable", "", "Service", R"(
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.99, clusterIPs: [10.96.0.10], ports: [{port: 80}]}
)",
         R"(
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}
)",
         R"(Service "web" is invalid: spec.clusterIPs[0]: Invalid value: ["10.96.0.99"]: may not change once set)"},
        {"ServiceClusterIPOmittedOnUpdate", "", "Service", R"(
metadata: {name: web, namespace: default}
spec: {ports: [{port: 8080}]}
)",
         R"(
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}
)",
         ""},
        {"ServiceExternalName", "", "Service", R"(
metadata: {name: ext, namespace: default}
spec: {type: ExternalName, externalName: "Bad_Name"}
)",
         "",
         R"(Service "ext" is invalid: spec.externalName: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'))"},

        // ---- config and secrets
        {"ConfigMapKeys", "", "ConfigMap", R"(
metadata: {name: c, namespace: default}
data: {"bad key": x, "..hidden": y, good.key: z}
binaryData: {good.key: eg==}
)",
         "",
         R"(ConfigMap "c" is invalid: [data[..hidden]: Invalid value: "..hidden": must not start with '..', data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+'), data[good.key]: Invalid value: "good.key": duplicate of key present in binaryData])"},
        {"ConfigMapImmutable", "", "ConfigMap", R"(
metadata: {name: c, namespace: default}
immutable: true
data: {a: "2"}
)",
         R"(
metadata: {name: c, namespace: default}
immutable: true
data: {a: "1"}
)",
         R"(ConfigMap "c" is invalid: data: Forbidden: field is immutable when `immutable` is set)"},
        {"SecretTls", "", "Secret", R"(
metadata: {name: s, namespace: default}
type: kubernetes.io/tls
data: {tls.crt: eA==}
)",
         "", R"(Secret "s" is invalid: data[tls.key]: Required value)"},
        {"SecretTypeImmutable", "", "Secret", R"(
metadata: {name: s, namespace: default}
type: kubernetes.io/basic-auth
stringData: {username: u}
)",
         "metadata: {name: s, namespace: default}\n",
         R"(Secret "s" is invalid: type: Invalid value: "kubernetes.io/basic-auth": field is immutable)"},
        {"NamespaceFinalizers", "", "Namespace",
         "metadata: {name: ns}\nspec: {finalizers: [kubernetes, custom]}\n", "",
         R"(Namespace "ns" is invalid: spec.finalizers: Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified)"},

        // ---- projected service-account tokens (validateProjectionSources)
        {"ProjectedTokenPathAndLifetime", "", "Pod", R"(
metadata: {name: p, namespace: default}
spec:
  containers: [{name: c, image: busybox}]
  volumes:
  - name: t
    projected:
      sources:
      - serviceAccountToken: {path: /etc/cron.d/x, expirationSeconds: 0}
      - serviceAccountToken: {path: a/../../b}
      - serviceAccountToken: {path: ..token}
      - serviceAccountToken: {path: token, expirationSeconds: 600}
)",
         "", R"(Pod "p" is invalid: [spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds: Invalid value: 0: may not specify a duration less than 10 minutes, spec.volumes[0].projected.sources[0].path: Invalid value: "/etc/cron.d/x": must be a relative path, spec.volumes[0].projected.sources[1].path: Invalid value: "a/../../b": must not contain '..', spec.volumes[0].projected.sources[2].path: Invalid value: "..token": must not start with '..'])"},

        // ---- minor kinds
        {"EndpointSliceAddressType", "discovery.k8s.io", "EndpointSlice", "metadata: {name: Bad}\n", "",
         R"(EndpointSlice.discovery.k8s.io "Bad" is invalid: addressType: Required value)"},
        {"EndpointSlice", "discovery.k8s.io", "EndpointSlice", R"(
metadata: {name: s, namespace: default}
addressType: IPv4
endpoints: [{addresses: []}, {addresses: ["fd00::1"]}]
ports: [{port: 80, protocol: HTTP}]
)",
         "",
         R"(EndpointSlice.discovery.k8s.io "s" is invalid: [endpoints[0].addresses: Required value: must contain at least 1 address, endpoints[1].addresses[0]: Invalid value: "fd00::1": must be a valid IPv4 address, ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"])"},
        {"Endpoints", "", "Endpoints", R"(
metadata: {name: e, namespace: default}
subsets: [{addresses: [{ip: 127.0.0.1}], ports: [{port: 80}]}]
)",
         "",
         R"(Endpoints "e" is invalid: subsets[0].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128))"},
        {"Lease", "coordination.k8s.io", "Lease",
         "metadata: {name: l, namespace: default}\nspec: {leaseDurationSeconds: 0}\n", "",
         R"(Lease.coordination.k8s.io "l" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0)"},
        {"CoreEventLegacy", "", "Event", R"(
metadata: {name: e.1, namespace: default}
involvedObject: {kind: Pod, name: p, namespace: other}
reason: Started
)",
         "",
         R"(Event "e.1" is invalid: involvedObject.namespace: Invalid value: "other": does not match event.namespace)"},
        {"EventsV1Event", "events.k8s.io", "Event", R"(
metadata: {name: e.1, namespace: default}
regarding: {kind: Pod, name: p, namespace: default}
type: Normal
)",
         "", R"(Event.events.k8s.io "e.1" is invalid: eventTime: Required value)"},
        {"LimitRangeType", "", "LimitRange",
         "metadata: {name: l, namespace: default}\nspec: {limits: [{type: Node}]}\n", "",
         R"(LimitRange "l" is invalid: spec.limits[0].type: Invalid value: "Node": must be a standard limit type or fully qualified)"},
        {"NodeTaints", "", "Node",
         "metadata: {name: n}\nspec: {taints: [{key: k, effect: Maybe}, {key: k}]}\n", "",
         R"(Node "n" is invalid: [spec.taints[0].effect: Unsupported value: "Maybe": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute", spec.taints[1].effect: Required value])"},
};

INSTANTIATE_TEST_SUITE_P(Kinds, ValidationTable, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return info.param.name; });

TEST(ValidationStatus, CarriesCausesAndDetails) {
  const ResourceInfo& info = infoFor("apps", "Deployment");
  Json obj = defaulted(info, R"(
metadata: {name: web, namespace: default}
spec:
  replicas: -2
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
)");
  Status st = validateObject(info, obj, nullptr);
  ASSERT_FALSE(st.isOk());
  EXPECT_EQ(st.code(), Code::kInvalid);
  EXPECT_EQ(st.details_kind, "Deployment");
  EXPECT_EQ(st.details_group, "apps");
  EXPECT_EQ(st.details_name, "web");
  ASSERT_EQ(st.causes.size(), 3u);
  EXPECT_EQ(st.causes[0].reason, "FieldValueInvalid");
  EXPECT_EQ(st.causes[0].field, "spec.replicas");
  EXPECT_EQ(st.causes[0].message, "Invalid value: -2: must be greater than or equal to 0");
  EXPECT_EQ(st.causes[1].reason, "FieldValueRequired");
  EXPECT_EQ(st.causes[1].field, "spec.selector");
  EXPECT_EQ(st.causes[1].message, "Required value");
  EXPECT_EQ(st.causes[2].field, "spec.template.metadata.labels");
}

TEST(ValidationStatus, PodSpecUpdateIsForbidden) {
  const ResourceInfo& info = infoFor("", "Pod");
  Json old = defaulted(info, kPod);
  Json obj = old;
  obj["spec"]["nodeName"] = "node-b";
  obj["spec"]["containers"][0]["ports"] = Json::parse(R"([{"containerPort": 80, "protocol": "TCP"}])");
  Status st = validateObject(info, obj, &old);
  ASSERT_FALSE(st.isOk());
  ASSERT_EQ(st.causes.size(), 1u);
  EXPECT_EQ(st.causes[0].reason, "FieldValueForbidden");
  EXPECT_EQ(st.causes[0].field, "spec");
  const std::string prefix =
      "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
      "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
      "existing "
      "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
      "negative)\n";
  EXPECT_EQ(st.causes[0].message.substr(0, prefix.size()), prefix);
  EXPECT_NE(st.causes[0].message.find("nodeName"), std::string::npos);
  EXPECT_EQ(st.message().rfind("Pod \"p\" is invalid: spec: Forbidden: pod updates may not change", 0), 0u);
}

TEST(ValidationStatus, DuplicateMessagesAppearOnceInTheMessage) {
  const ResourceInfo& info = infoFor("", "ConfigMap");
  Json obj = yaml("metadata: {name: c, namespace: default, labels: {a: \"-\", b: \"-\"}}\n");
  Status st = validateObject(info, obj, nullptr);
  ASSERT_FALSE(st.isOk());
  EXPECT_EQ(st.causes.size(), 2u);
  EXPECT_EQ(st.message().rfind("ConfigMap \"c\" is invalid: metadata.labels: Invalid value: \"-\": ", 0), 0u)
      << st.message();
}

TEST(ValidationStatus, NeverThrowsOnOddShapes) {
  const Registry reg = Registry::builtin();
  const std::vector<Json> shapes = {
      Json(),
      Json::array(),
      Json("text"),
      yaml("metadata: 5\nspec: [1, 2]\n"),
      yaml("metadata: {name: [x], labels: 3, annotations: {a: 1}}\nspec: {containers: [5, {ports: 7}], "
           "volumes: {}}\n"),
      yaml("spec: {selector: {matchLabels: 4, matchExpressions: [{operator: In}]}, template: 3, strategy: "
           "x}\n"),
  };
  for (const auto& info : reg.all()) {
    for (const auto& shape : shapes) {
      Json obj = shape;
      applyDefaults(info, obj);
      Status st = validateObject(info, obj, nullptr);
      Status up = validateObject(info, obj, &shape);
      st.ignore();
      up.ignore();
    }
  }
  SUCCEED();
}

// The name helpers other components use.
TEST(ValidationNames, Messages) {
  EXPECT_EQ(checkDns1123Subdomain("example.com"), "");
  EXPECT_EQ(checkDns1123Subdomain(std::string(254, 'a')), "must be no more than 253 characters");
  EXPECT_EQ(checkDns1123Subdomain("a..b"),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
            "and must "
            "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
  EXPECT_EQ(checkDns1123Label("my-name"), "");
  EXPECT_EQ(checkDns1123Label(std::string(64, 'a')), "must be no more than 63 characters");
  EXPECT_NE(checkDns1123Label("-a"), "");
  EXPECT_EQ(checkDns1035Label("abc-123"), "");
  EXPECT_NE(checkDns1035Label("123-abc"), "");
  EXPECT_EQ(checkQualifiedName("example.com/MyName"), "");
  EXPECT_EQ(checkQualifiedName("/a"), "prefix part must be non-empty");
  EXPECT_EQ(
      checkQualifiedName("Example.com/a"),
      "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
      "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
      "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
  EXPECT_EQ(checkQualifiedName(std::string(64, 'a')), "name part must be no more than 63 characters");
  EXPECT_EQ(
      checkQualifiedName("a/"),
      "name part must be non-empty; name part must consist of alphanumeric characters, '-', '_' or '.', and "
      "must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
      "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
  EXPECT_EQ(checkLabelValue(""), "");
  EXPECT_EQ(checkLabelValue("My_Value.1"), "");
  EXPECT_EQ(checkLabelValue(std::string(64, 'a')), "must be no more than 63 characters");
}

TEST(ValidationNames, GenerateNameMayEndWithADash) {
  const ResourceInfo& info = infoFor("", "Pod");
  Json obj = defaulted(info, R"(
metadata: {name: web-x7k2p, generateName: web-, namespace: default}
spec: {containers: [{name: c, image: nginx}]}
)");
  EXPECT_TRUE(validateObject(info, obj, nullptr).isOk());
}

TEST(ValidationAnnotations, TotalSizeIsLimited) {
  const ResourceInfo& info = infoFor("", "ConfigMap");
  Json obj = yaml("metadata: {name: c, namespace: default}\n");
  obj["metadata"]["annotations"]["big"] = std::string(256 * 1024, 'x');
  Status st = validateObject(info, obj, nullptr);
  ASSERT_FALSE(st.isOk());
  EXPECT_EQ(st.message(),
            "ConfigMap \"c\" is invalid: metadata.annotations: Too long: may not be more than 262144 bytes");
  EXPECT_EQ(st.causes[0].reason, "FieldValueTooLong");
}

// robfig/cron's standard parser, whose errors become API messages.
TEST(ValidationCron, Schedules) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"*/15 * * * *", ""},
      {"0 0 1 jan-mar MON-FRI", ""},
      {"@hourly", ""},
      {"@every 1h30m", ""},
      {"TZ=UTC 0 * * * *", ""},
      {"* * * *", "expected exactly 5 fields, found 4: [* * * *]"},
      {"@sometimes", "unrecognized descriptor: @sometimes"},
      {"@every x", "failed to parse duration @every x: time: invalid duration \"x\""},
      {"0 24 * * *", "end of range (24) above maximum (23): 24"},
      {"0 0 0 * *", "beginning of range (0) below minimum (1): 0"},
      {"5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"},
      {"*/0 * * * *", "step of range should be a positive number: */0"},
      {"a * * * *", "failed to parse int from a: strconv.Atoi: parsing \"a\": invalid syntax"},
      {"1-2-3 * * * *", "too many hyphens: 1-2-3"},
      {"1/2/3 * * * *", "too many slashes: 1/2/3"},
  };
  for (const auto& [schedule, error] : cases) {
    auto got = vdetail::cronScheduleError(schedule);
    EXPECT_EQ(got, error) << schedule;
  }
}

}  // namespace
}  // namespace capstan::api
