"""kubectl 1.32+ sends its typed commands' bodies (create configmap, create
deployment, ...) in Kubernetes' protobuf encoding. Each such command, run
with kubectl 1.33 (protobuf) and 1.31 (JSON) in two namespaces, must store
the same object."""
import json
import os
import unittest

from harness import create_namespace, ServerTestCase, request_json

BIN = "/usr/lib/google-cloud-sdk/bin"
PROTOBUF_CLIENT = os.path.join(BIN, "kubectl.1.33")
JSON_CLIENT = os.path.join(BIN, "kubectl.1.31")

# (command after "create", resource path under the namespace, name)
CREATES = [
    (["configmap", "settings", "--from-literal=color=blue", "--from-literal=empty="], "api/v1/namespaces/{ns}/configmaps", "settings"),
    (["secret", "generic", "creds", "--from-literal=password=s3cr3t"], "api/v1/namespaces/{ns}/secrets", "creds"),
    (["deployment", "web", "--image=nginx:1.27", "--replicas=0", "--port=80"], "apis/apps/v1/namespaces/{ns}/deployments", "web"),
    (["service", "clusterip", "web", "--tcp=80:8080"], "api/v1/namespaces/{ns}/services", "web"),
    (["job", "once", "--image=busybox", "--", "echo", "hi"], "apis/batch/v1/namespaces/{ns}/jobs", "once"),
    (["cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *"], "apis/batch/v1/namespaces/{ns}/cronjobs", "tick"),
    (["serviceaccount", "robot"], "api/v1/namespaces/{ns}/serviceaccounts", "robot"),
    (["poddisruptionbudget", "web", "--selector=app=web", "--min-available=1"], "apis/policy/v1/namespaces/{ns}/poddisruptionbudgets", "web"),
    (["ingress", "web", "--rule=web.example/=web:80"], "apis/networking.k8s.io/v1/namespaces/{ns}/ingresses", "web"),
]

# Fields that differ between any two objects: identity, times, and what the
# server assigns (a Service's cluster IP, a Job's generated selector).
VOLATILE_META = ("uid", "resourceVersion", "creationTimestamp", "namespace", "managedFields")


def comparable(obj):
    obj = json.loads(json.dumps(obj))
    for k in VOLATILE_META:
        obj["metadata"].pop(k, None)
    obj.pop("status", None)
    spec = obj.get("spec", {})
    for k in ("clusterIP", "clusterIPs"):
        spec.pop(k, None)
    if obj["kind"] == "Job":
        spec.pop("selector", None)
        for labels in (obj["metadata"].get("labels", {}), spec["template"]["metadata"].get("labels", {})):
            for k in ("controller-uid", "batch.kubernetes.io/controller-uid"):
                labels.pop(k, None)
    return obj


@unittest.skipUnless(os.path.exists(PROTOBUF_CLIENT) and os.path.exists(JSON_CLIENT), "needs kubectl 1.33 and 1.31")
class KubectlProtobufBodies(ServerTestCase):
    def test_typed_creates_store_what_json_stores(self):
        json_ns, pb_ns = create_namespace(self, "via-json"), create_namespace(self, "via-protobuf")
        for args, path, name in CREATES:
            with self.subTest(create=args[0]):
                for kubectl, ns in ((JSON_CLIENT, json_ns), (PROTOBUF_CLIENT, pb_ns)):
                    p = self.kubectl("-n", ns, "create", *args, kubectl=kubectl, check=False)
                    self.assertEqual(p.returncode, 0, f"{os.path.basename(kubectl)}: {p.stderr}")
                objs = []
                for ns in (json_ns, pb_ns):
                    status, obj, _ = request_json(self.server, "GET", "/" + path.format(ns=ns) + "/" + name)
                    self.assertEqual(status, 200, obj)
                    objs.append(comparable(obj))
                self.assertEqual(objs[1], objs[0])

    def test_cluster_scoped_and_bad_bodies(self):
        p = self.kubectl("create", "priorityclass", "important", "--value=1000", "--description=urgent work",
                         kubectl=PROTOBUF_CLIENT)
        self.assertEqual(p.stdout.strip(), "priorityclass.scheduling.k8s.io/important created")
        status, pc, _ = request_json(self.server, "GET", "/apis/scheduling.k8s.io/v1/priorityclasses/important")
        self.assertEqual((status, pc["value"], pc["description"]), (200, 1000, "urgent work"))
        # Bytes that are not a protobuf object are refused, and nothing is stored.
        status, body, _ = request_json(self.server, "POST", "/api/v1/namespaces/default/configmaps",
                                       b"k8s\x00\x0a\xff\xff", {"Content-Type": "application/vnd.kubernetes.protobuf"})
        self.assertEqual(status, 400, body)
        self.assertEqual(body["reason"], "BadRequest")


if __name__ == "__main__":
    unittest.main()
