"""Shared helpers of the API semantics end-to-end tests."""


from harness import create_namespace, ServerTestCase, WatchStream, request_json

CM = "/api/v1/namespaces/{ns}/configmaps"
DEPLOY = "/apis/apps/v1/namespaces/{ns}/deployments"


def configmap(name, data=None, labels=None, **meta):
    m = {"name": name, **meta}
    if labels:
        m["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": m, "data": data or {"k": "v"}}


def deployment(name, replicas=2, image="nginx:1.27", labels=None):
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


def service(name, cluster_ip=None, **spec):
    s = {"ports": [{"port": 80}], "selector": {"app": name}, **spec}
    if cluster_ip:
        s["clusterIP"] = cluster_ip
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": s}


def pod(name, containers):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": containers}}


class ApiTestCase(ServerTestCase):
    """Adds per-test namespaces and short raw-request helpers."""

    _counter = 0

    def setUp(self):
        type(self)._counter += 1
        self.ns = f"api-{type(self)._counter}"
        self.create_ns(self.ns)

    def create_ns(self, name):
        create_namespace(self, name)

    def call(self, method, path, body=None, headers=None, expect=None, **kw):
        status, doc, hdrs = request_json(self.server, method, path.format(ns=self.ns), body, headers, **kw)
        if expect is not None:
            self.assertEqual(status, expect, f"{method} {path}: {doc}")
        return status, doc, hdrs

    def ok(self, method, path, body=None, headers=None, expect=200):
        return self.call(method, path, body, headers, expect=expect)[1]

    def assertStatus(self, doc, code, reason):
        self.assertIsInstance(doc, dict, doc)
        self.assertEqual(doc.get("kind"), "Status", doc)
        self.assertEqual(doc.get("apiVersion"), "v1", doc)
        self.assertEqual(doc.get("status"), "Failure", doc)
        self.assertEqual(doc.get("code"), code, doc)
        self.assertEqual(doc.get("reason"), reason, doc)

    def watch(self, path):
        w = WatchStream(self.server, path.format(ns=self.ns))
        self.addCleanup(w.close)
        self.assertEqual(w.status, 200, w.body)
        return w

    def k(self, *args, **kw):
        return self.kubectl("-n", self.ns, *args, **kw)


def rv(obj):
    return int(obj["metadata"]["resourceVersion"])


def ev_summary(events):
    return [(e["type"], e["object"]["metadata"]["name"]) for e in events]


