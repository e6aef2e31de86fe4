"""kubectl's OpenAPI-driven commands against a real capstan server: explain,
diff, a second `apply` (which computes its patch from the schemas), and
strict field validation deep inside an object.

Every kubectl on the machine runs explain: 1.27 and 1.28 read OpenAPI v2 in
protobuf, 1.29+ read v3 JSON; the rest run with the oldest and the newest.
"""
import glob
import json
import os
import shutil
import tempfile
import unittest

from harness import create_namespace, KUBECTL_NEWEST, KUBECTL_OLDEST, MANIFESTS, ServerTestCase, request_json

VERSIONED = sorted(glob.glob("/usr/lib/google-cloud-sdk/bin/kubectl.1.*"))


class KubectlOpenApiTest(ServerTestCase):
    _ns = 0

    def setUp(self):
        type(self)._ns += 1
        self.ns = f"oa-{type(self)._ns}"
        create_namespace(self, self.ns)
        self.tmp = tempfile.mkdtemp(prefix="capstan-openapi-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    @staticmethod
    def manifest_text(name):
        with open(os.path.join(MANIFESTS, name)) as f:
            return f.read()

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_explain_with_every_kubectl(self):
        self.assertGreaterEqual(len(VERSIONED), 2)
        for kubectl in VERSIONED:
            with self.subTest(kubectl=os.path.basename(kubectl)):
                out = self.kubectl("explain", "deployment.spec.strategy", kubectl=kubectl).stdout
                self.assertRegex(out, r"KIND:\s+Deployment")
                self.assertRegex(out, r"FIELD:\s+strategy <DeploymentStrategy>")
                self.assertRegex(out, r"rollingUpdate\s+<RollingUpdateDeployment>")
                self.assertRegex(out, r"type\s+<string>")
                # A description we wrote, not an empty schema.
                self.assertRegex(out, r"DESCRIPTION:\n\s+\S")
                out = self.kubectl("explain", "pods.spec.containers.ports", kubectl=kubectl).stdout
                self.assertRegex(out, r"containerPort\s+<integer>( -required-)?")
                out = self.kubectl("explain", "svc.spec.ports.targetPort", kubectl=kubectl).stdout
                self.assertIn("targetPort", out)
                p = self.kubectl("explain", "deployment.spec.replica", kubectl=kubectl, check=False)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn('field "replica" does not exist', p.stderr)

    def test_explain_covers_every_served_kind(self):
        for resource in ["pods", "services", "configmaps", "secrets", "namespaces", "nodes", "events",
                         "serviceaccounts", "endpoints", "limitranges", "resourcequotas", "deployments",
                         "replicasets", "statefulsets", "daemonsets", "controllerrevisions", "jobs", "cronjobs",
                         "horizontalpodautoscalers", "leases", "endpointslices", "ingresses", "ingressclasses",
                         "poddisruptionbudgets", "priorityclasses"]:
            with self.subTest(resource=resource):
                out = self.kubectl("explain", resource).stdout
                self.assertIn("FIELDS:", out)
                self.assertRegex(out, r"(?m)^\s+apiVersion\s+<string>$")
                self.assertRegex(out, r"metadata\s+<ObjectMeta>")

    def test_apply_twice_computes_patch_from_schemas_and_diff_shows_the_change(self):
        original = self.manifest_text("nginx-deployment.yaml")
        changed = self.write("changed.yaml", original.replace("replicas: 3", "replicas: 4")
                             .replace("nginx:1.14.2", "nginx:1.16.1"))
        for kubectl in (KUBECTL_OLDEST, KUBECTL_NEWEST):
            with self.subTest(kubectl=os.path.basename(kubectl)):
                ns = ["-n", self.ns]
                p = self.kubectl(*ns, "apply", "-f", os.path.join(MANIFESTS, "nginx-deployment.yaml"), kubectl=kubectl)
                self.assertEqual(p.stderr, "")
                # Someone else sets a field the manifest does not mention.
                self.kubectl(*ns, "annotate", "deployment/nginx-deployment", "team=web", "--overwrite", kubectl=kubectl)
                p = self.kubectl(*ns, "diff", "-f", changed, kubectl=kubectl, check=False)
                self.assertEqual(p.returncode, 1, p.stderr)  # 1: differences found
                self.assertRegex(p.stdout, r"(?m)^-  replicas: 3$")
                self.assertRegex(p.stdout, r"(?m)^\+  replicas: 4$")
                self.assertRegex(p.stdout, r"(?m)^\+      - image: nginx:1.16.1$")
                p = self.kubectl(*ns, "apply", "-f", changed, kubectl=kubectl)
                self.assertEqual(p.stdout.strip(), "deployment.apps/nginx-deployment configured")
                # No "error calculating patch from openapi" fallback warning.
                self.assertEqual(p.stderr, "")
                dep = json.loads(self.kubectl(*ns, "get", "deployment", "nginx-deployment", "-o", "json",
                                              kubectl=kubectl).stdout)
                self.assertEqual(dep["spec"]["replicas"], 4)
                c = dep["spec"]["template"]["spec"]["containers"]
                self.assertEqual([(x["name"], x["image"]) for x in c], [("nginx", "nginx:1.16.1")])
                self.assertEqual(c[0]["ports"], [{"containerPort": 80, "protocol": "TCP"}])
                self.assertEqual(dep["metadata"]["annotations"]["team"], "web")
                p = self.kubectl(*ns, "diff", "-f", changed, kubectl=kubectl, check=False)
                self.assertEqual((p.returncode, p.stdout), (0, ""))
                self.kubectl(*ns, "delete", "deployment", "nginx-deployment", kubectl=kubectl)

    def test_strict_validation_names_nested_unknown_fields_and_types(self):
        bad = self.manifest_text("nginx-deployment.yaml") \
            .replace("  replicas: 3", "  replica: 3").replace("containerPort: 80", "containerPort: 80\n          hostPrt: 8080")
        path = self.write("bad.yaml", bad)
        for kubectl in (KUBECTL_OLDEST, KUBECTL_NEWEST):
            with self.subTest(kubectl=os.path.basename(kubectl)):
                p = self.kubectl("-n", self.ns, "apply", "-f", path, kubectl=kubectl, check=False)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn('unknown field "spec.replica"', p.stderr)
                self.assertIn('unknown field "spec.template.spec.containers[0].ports[0].hostPrt"', p.stderr)
                self.assertEqual(request_json(self.server, "GET",
                                              f"/apis/apps/v1/namespaces/{self.ns}/deployments/nginx-deployment")[0], 404)
                p = self.kubectl("-n", self.ns, "apply", "--validate=warn", "-f", path, kubectl=kubectl)
                self.assertIn('unknown field "spec.replica"', p.stderr)
                self.kubectl("-n", self.ns, "delete", "deployment", "nginx-deployment", kubectl=kubectl)
        mistyped = self.manifest_text("nginx-deployment.yaml").replace("replicas: 3", 'replicas: "three"')
        p = self.kubectl("-n", self.ns, "apply", "-f", self.write("typed.yaml", mistyped), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32", p.stderr)


if __name__ == "__main__":
    unittest.main()
