"""Server-side apply (issue 3) with the real kubectl: managedFields per
manager and operation, conflicts as kubectl prints them, --force-conflicts,
removal of fields no longer applied, and the round trip client-side apply
-> server-side apply -> client-side apply over the shared manifests, which
must leave the objects as the manifests say.

Every test method runs with the newest (the gcloud dispatcher) and the
oldest kubectl on the machine. kubectl 1.27 validates apply against OpenAPI
v2 protobuf, so for it the apply steps pass --validate=false, as in
test_kubectl_basics.
"""
import json
import os
import unittest

import yaml

from harness import create_namespace, KUBECTL_NEWEST, KUBECTL_OLDEST, MANIFESTS, ServerTestCase, request_json

# The manifests of the round trip: every document is applied.
ROUND_TRIP = ("nginx-deployment.yaml", "nginx-pod.yaml", "job-pi.yaml", "cronjob-hello.yaml", "guestbook.yaml")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def manifest(name):
    return os.path.join(MANIFESTS, name)


def documents(name):
    with open(manifest(name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def missing(want, got, path=""):
    """Where `got` differs from `want` for the fields `want` sets (lists
    element by element); [] when got carries everything want says."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{path or '.'}: {got!r} is not a map"]
        out = []
        for k, v in want.items():
            if k not in got:
                out.append(f"{path}.{k} missing")
            else:
                out += missing(v, got[k], f"{path}.{k}")
        return out
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: {got!r} != {want!r}"]
        out = []
        for i, (w, g) in enumerate(zip(want, got)):
            out += missing(w, g, f"{path}[{i}]")
        return out
    return [] if want == got else [f"{path}: {got!r} != {want!r}"]


class ServerSideApplyMixin:
    KUBECTL = None
    VALIDATE = ()
    _ns_counter = 0

    def setUp(self):
        cls = type(self)
        cls._ns_counter += 1
        self.ns = f"ssa-{cls._ns_counter}-{self._testMethodName.replace('_', '-')[5:28].strip('-')}"
        create_namespace(self, self.ns)

    def k(self, *args, check=True, input=None):
        return self.kubectl("-n", self.ns, *args, kubectl=self.KUBECTL, check=check, input=input)

    def get(self, kind, name):
        return json.loads(self.k("get", kind, name, "-o", "json", "--show-managed-fields").stdout)

    def apply(self, *args, server_side=False, check=True, input=None):
        extra = ("--server-side",) if server_side else ()
        return self.k("apply", *extra, *self.VALIDATE, *args, check=check, input=input)

    @staticmethod
    def entries(obj, manager=None):
        return [e for e in obj["metadata"].get("managedFields", []) if manager is None or e["manager"] == manager]

    # -------------------------------------------------------------------

    def test_apply_creates_then_updates_with_an_apply_entry(self):
        out = self.apply("-f", manifest("nginx-deployment.yaml"), server_side=True).stdout
        self.assertEqual(out.strip(), "deployment.apps/nginx-deployment serverside-applied")
        dep = self.get("deployment", "nginx-deployment")
        [entry] = self.entries(dep, "kubectl")
        self.assertEqual((entry["operation"], entry["apiVersion"], entry["fieldsType"]), ("Apply", "apps/v1", "FieldsV1"))
        self.assertTrue(entry["time"].endswith("Z"))
        f = entry["fieldsV1"]
        self.assertEqual(f["f:metadata"], {"f:labels": {"f:app": {}}})
        self.assertEqual(f["f:spec"]["f:replicas"], {})
        self.assertEqual(f["f:spec"]["f:selector"], {})
        self.assertEqual(f["f:spec"]["f:template"]["f:spec"]["f:containers"],
                         {'k:{"name":"nginx"}': {".": {}, "f:image": {}, "f:name": {},
                                                 "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}':
                                                             {".": {}, "f:containerPort": {}}}}})
        # Defaults are filled in but not owned.
        self.assertEqual(dep["spec"]["strategy"]["type"], "RollingUpdate")
        self.assertNotIn("f:strategy", f["f:spec"])

        with open(manifest("nginx-deployment.yaml")) as fh:
            changed = fh.read().replace("replicas: 3", "replicas: 4").replace("nginx:1.14.2", "nginx:1.16.1")
        out = self.apply("-f", "-", server_side=True, input=changed).stdout
        self.assertEqual(out.strip(), "deployment.apps/nginx-deployment serverside-applied")
        dep = self.get("deployment", "nginx-deployment")
        self.assertEqual(dep["spec"]["replicas"], 4)
        self.assertEqual(dep["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.16.1")
        self.assertEqual([e["manager"] for e in self.entries(dep)], ["kubectl"])

        # kubectl scale records an Update of spec.replicas through /scale,
        # taking it from the applier.
        self.k("scale", "deployment", "nginx-deployment", "--replicas=2")
        dep = self.get("deployment", "nginx-deployment")
        [scale] = [e for e in self.entries(dep) if e.get("subresource") == "scale"]
        self.assertEqual((scale["operation"], scale["fieldsV1"]), ("Update", {"f:spec": {"f:replicas": {}}}))
        self.assertNotIn("f:replicas", self.entries(dep, "kubectl")[0]["fieldsV1"]["f:spec"])

    def test_conflicts_are_reported_and_forced(self):
        self.apply("-f", manifest("nginx-deployment.yaml"))
        dep = self.get("deployment", "nginx-deployment")
        [csa] = self.entries(dep, "kubectl-client-side-apply")
        self.assertEqual((csa["operation"], csa["apiVersion"]), ("Update", "apps/v1"))
        self.assertIn("f:kubectl.kubernetes.io/last-applied-configuration", csa["fieldsV1"]["f:metadata"]["f:annotations"])

        with open(manifest("nginx-deployment.yaml")) as fh:
            changed = fh.read().replace("replicas: 3", "replicas: 5")
        p = self.apply("--field-manager=other", "-f", "-", server_side=True, check=False, input=changed)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('error: Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: '
                      '.spec.replicas\nPlease review the fields above--they currently have other managers.', p.stderr)
        self.assertEqual(self.get("deployment", "nginx-deployment")["spec"]["replicas"], 3)

        # The raw Status: 409 Conflict with one FieldManagerConflict cause.
        status, body, _ = request_json(
            self.server, "PATCH",
            f"/apis/apps/v1/namespaces/{self.ns}/deployments/nginx-deployment?fieldManager=other",
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx-deployment"},
             "spec": {"replicas": 5, "paused": True}},
            headers={"Content-Type": "application/apply-patch+yaml"})
        self.assertEqual(status, 409, body)
        self.assertEqual(body["reason"], "Conflict")
        self.assertEqual(body["message"], 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" '
                                          'using apps/v1: .spec.replicas')
        self.assertEqual(body["details"]["causes"],
                         [{"reason": "FieldManagerConflict", "field": ".spec.replicas",
                           "message": 'conflict with "kubectl-client-side-apply" using apps/v1'}])

        out = self.apply("--field-manager=other", "--force-conflicts", "-f", "-", server_side=True, input=changed).stdout
        self.assertEqual(out.strip(), "deployment.apps/nginx-deployment serverside-applied")
        dep = self.get("deployment", "nginx-deployment")
        self.assertEqual(dep["spec"]["replicas"], 5)
        [other] = self.entries(dep, "other")
        self.assertEqual(other["operation"], "Apply")
        self.assertIn("f:replicas", other["fieldsV1"]["f:spec"])
        # kubectl then moved client-side apply's remaining fields to the
        # applier (its migration for any --field-manager) and re-applied.
        self.assertEqual(self.entries(dep, "kubectl-client-side-apply"), [])

        # The same value as another manager: shared, no conflict.
        self.apply("--field-manager=third", "-f", "-", server_side=True, input=changed)
        dep = self.get("deployment", "nginx-deployment")
        self.assertIn("f:replicas", self.entries(dep, "other")[0]["fieldsV1"]["f:spec"])
        self.assertIn("f:replicas", self.entries(dep, "third")[0]["fieldsV1"]["f:spec"])

    def test_field_removed_from_the_manifest_is_removed(self):
        with open(manifest("nginx-deployment.yaml")) as fh:
            base = fh.read()
        extra = base.replace("  labels:\n    app: nginx\n", "  labels:\n    app: nginx\n    tier: web\n", 1)
        extra = extra.replace("        image: nginx:1.14.2\n", "        image: nginx:1.14.2\n        imagePullPolicy: Always\n")
        self.assertIn("tier: web", extra)
        self.assertIn("imagePullPolicy: Always", extra)
        self.apply("-f", "-", server_side=True, input=extra)
        dep = self.get("deployment", "nginx-deployment")
        self.assertEqual(dep["metadata"]["labels"], {"app": "nginx", "tier": "web"})
        self.assertEqual(dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "Always")

        self.apply("-f", "-", server_side=True, input=base)
        dep = self.get("deployment", "nginx-deployment")
        self.assertEqual(dep["metadata"]["labels"], {"app": "nginx"})
        # Removed, then defaulted again.
        self.assertEqual(dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent")
        f = self.entries(dep, "kubectl")[0]["fieldsV1"]
        self.assertEqual(f["f:metadata"]["f:labels"], {"f:app": {}})

    def test_client_side_then_server_side_then_client_side_keeps_the_manifests(self):
        files = [a for f in ROUND_TRIP for a in ("-f", manifest(f))]
        objects = [(d, self._name(d)) for f in ROUND_TRIP for d in documents(f)]

        self.apply(*files)
        self._assert_as_manifests(objects)

        out = self.apply(*files, server_side=True).stdout
        self.assertEqual(len(out.strip().splitlines()), len(objects), out)
        for doc, (kind, name) in objects:
            obj = self.get(kind, name)
            managers = {(e["manager"], e["operation"]) for e in self.entries(obj)}
            # kubectl migrated client-side apply's fields to its own Apply entry.
            self.assertIn(("kubectl", "Apply"), managers, f"{kind}/{name}: {managers}")
            self.assertNotIn(("kubectl-client-side-apply", "Update"), managers, f"{kind}/{name}: {managers}")
        self._assert_as_manifests(objects)

        # Back to client-side apply: it rewrites the last-applied annotation
        # in its own spelling (as against kube-apiserver), nothing else.
        out = self.apply(*files).stdout
        self.assertEqual(len(out.strip().splitlines()), len(objects), out)
        self._assert_as_manifests(objects)
        out = self.apply(*files).stdout
        self.assertEqual([line.rsplit(" ", 1)[1] for line in out.strip().splitlines()], ["unchanged"] * len(objects), out)

    # -------------------------------------------------------------------

    def _name(self, doc):
        group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
        kind = doc["kind"].lower() + ("." + group if group else "")
        return kind, doc["metadata"]["name"]

    def _assert_as_manifests(self, objects):
        for doc, (kind, name) in objects:
            obj = self.get(kind, name)
            want = dict(doc, metadata={k: v for k, v in doc["metadata"].items()})
            self.assertEqual(missing(want, obj), [], f"{kind}/{name}")
            # Annotations hold exactly what the manifest says plus the
            # last-applied annotation, which matches it.
            meta = obj["metadata"]
            ann = dict(meta.get("annotations", {}))
            last = json.loads(ann.pop(LAST_APPLIED))
            self.assertEqual(ann, doc["metadata"].get("annotations", {}), f"{kind}/{name}")
            self.assertEqual(missing(doc["spec"] if "spec" in doc else doc.get("data"),
                                     last.get("spec", last.get("data"))), [], f"{kind}/{name} last-applied")


class ServerSideApplyNewest(ServerSideApplyMixin, ServerTestCase):
    KUBECTL = KUBECTL_NEWEST


class ServerSideApply127(ServerSideApplyMixin, ServerTestCase):
    KUBECTL = KUBECTL_OLDEST
    VALIDATE = ("--validate=false",)


if __name__ == "__main__":
    unittest.main()
