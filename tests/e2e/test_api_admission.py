"""Kubernetes API semantics, continued: Service IP allocation, defaulting,
validation, authentication and the operational endpoints (/version,
health, /metrics).

Expected values are what an upstream kube-apiserver 1.31 answers.
"""
import ipaddress
import os
import re
import shutil
import tempfile
import unittest

from api_helpers import CM, DEPLOY, ApiTestCase, configmap, deployment, pod, service
from harness import request_json


class ServiceIPs(ApiTestCase):
    def test_cluster_ip_allocation(self):
        net = ipaddress.ip_network("10.43.0.0/16")
        ips = []
        for i in range(20):
            s = self.ok("POST", "/api/v1/namespaces/{ns}/services", service(f"svc-{i}"), expect=201)
            ip = s["spec"]["clusterIP"]
            self.assertIn(ipaddress.ip_address(ip), net)
            self.assertEqual(s["spec"]["clusterIPs"], [ip])
            ips.append(ip)
        self.assertEqual(len(set(ips)), len(ips), "two services share a ClusterIP")
        # Not the network address, and not 10.43.0.1 (reserved for the kubernetes service).
        self.assertNotIn("10.43.0.0", ips)

        # Requesting a taken IP: 422.
        status, doc, _ = self.call("POST", "/api/v1/namespaces/{ns}/services", service("dup", ips[0]))
        self.assertEqual(status, 422, doc)
        self.assertStatus(doc, 422, "Invalid")
        self.assertIn("provided IP is already allocated", doc["message"])
        self.assertTrue(any(c.get("field", "").startswith("spec.clusterIP") for c in doc["details"]["causes"]), doc)
        # Outside the service CIDR: 422.
        status, doc, _ = self.call("POST", "/api/v1/namespaces/{ns}/services", service("outside", "192.168.7.7"))
        self.assertStatus(doc, 422, "Invalid")
        self.assertIn("not in the valid range", doc["message"])
        # A free, explicitly requested one works.
        free = next(str(ipaddress.ip_address("10.43.200.0") + k) for k in range(1, 255)
                    if str(ipaddress.ip_address("10.43.200.0") + k) not in ips)
        s = self.ok("POST", "/api/v1/namespaces/{ns}/services", service("wanted", free), expect=201)
        self.assertEqual(s["spec"]["clusterIP"], free)
        # Deleting a service frees its IP.
        self.ok("DELETE", "/api/v1/namespaces/{ns}/services/svc-0")
        s = self.ok("POST", "/api/v1/namespaces/{ns}/services", service("reuse", ips[0]), expect=201)
        self.assertEqual(s["spec"]["clusterIP"], ips[0])
        # A failed create allocated nothing: its IP is still free.
        status, doc, _ = self.call("POST", "/api/v1/namespaces/{ns}/services",
                                   dict(service("bad_name", "10.43.201.1")))
        self.assertEqual(status, 422, doc)
        self.ok("POST", "/api/v1/namespaces/{ns}/services", service("after-bad", "10.43.201.1"), expect=201)
        # Headless services get no IP.
        s = self.ok("POST", "/api/v1/namespaces/{ns}/services", service("headless", "None"), expect=201)
        self.assertEqual(s["spec"]["clusterIP"], "None")
        # The clusterIP is immutable.
        cur = self.ok("GET", "/api/v1/namespaces/{ns}/services/wanted")
        cur["spec"]["clusterIP"] = cur["spec"]["clusterIPs"][0] = "10.43.202.2"
        status, doc, _ = self.call("PUT", "/api/v1/namespaces/{ns}/services/wanted", cur)
        self.assertStatus(doc, 422, "Invalid")
        # Across namespaces too.
        other = self.ns + "-o"
        self.create_ns(other)
        status, doc, _ = self.call("POST", f"/api/v1/namespaces/{other}/services", service("x", free))
        self.assertStatus(doc, 422, "Invalid")


class Defaulting(ApiTestCase):
    def test_pod_defaults(self):
        p = self.ok("POST", "/api/v1/namespaces/{ns}/pods", pod("defaults", [
            {"name": "untagged", "image": "nginx"},
            {"name": "latest", "image": "nginx:latest"},
            {"name": "tagged", "image": "nginx:1.27"},
            {"name": "digest", "image": "nginx@sha256:" + "a" * 64},
            {"name": "explicit", "image": "nginx:1.27", "imagePullPolicy": "Never"},
        ]), expect=201)
        spec = p["spec"]
        self.assertEqual(spec["restartPolicy"], "Always")
        self.assertEqual(spec["dnsPolicy"], "ClusterFirst")
        self.assertEqual(spec["terminationGracePeriodSeconds"], 30)
        self.assertEqual(spec["schedulerName"], "default-scheduler")
        self.assertEqual(spec["securityContext"], {})
        policies = {c["name"]: c["imagePullPolicy"] for c in spec["containers"]}
        self.assertEqual(policies, {"untagged": "Always", "latest": "Always", "tagged": "IfNotPresent",
                                    "digest": "IfNotPresent", "explicit": "Never"})
        for c in spec["containers"]:
            self.assertEqual(c["terminationMessagePath"], "/dev/termination-log")
            self.assertEqual(c["terminationMessagePolicy"], "File")
        self.assertEqual(p["status"]["phase"], "Pending")
        # The stored object carries the same defaults.
        self.assertEqual(self.ok("GET", "/api/v1/namespaces/{ns}/pods/defaults")["spec"], spec)

    def test_container_port_protocol_default(self):
        p = self.ok("POST", "/api/v1/namespaces/{ns}/pods",
                    pod("ports", [{"name": "c", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]),
                    expect=201)
        self.assertEqual(p["spec"]["containers"][0]["ports"], [{"containerPort": 80, "protocol": "TCP"}])

    def test_deployment_defaults(self):
        d = deployment("dd")
        del d["spec"]["replicas"]
        d = self.ok("POST", DEPLOY, d, expect=201)
        spec = d["spec"]
        self.assertEqual(spec["replicas"], 1)
        self.assertEqual(spec["strategy"], {"type": "RollingUpdate",
                                            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
        self.assertEqual(spec["revisionHistoryLimit"], 10)
        self.assertEqual(spec["progressDeadlineSeconds"], 600)
        t = spec["template"]["spec"]
        self.assertEqual(t["restartPolicy"], "Always")
        self.assertEqual(t["dnsPolicy"], "ClusterFirst")
        self.assertEqual(t["containers"][0]["imagePullPolicy"], "IfNotPresent")
        self.assertEqual(t["containers"][0]["terminationMessagePath"], "/dev/termination-log")

    def test_service_defaults(self):
        s = self.ok("POST", "/api/v1/namespaces/{ns}/services",
                    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "sd"},
                     "spec": {"selector": {"app": "x"}, "ports": [{"name": "a", "port": 8080}, {"name": "b", "port": 9090,
                                                                                    "targetPort": "web"}]}},
                    expect=201)
        spec = s["spec"]
        self.assertEqual(spec["type"], "ClusterIP")
        self.assertEqual(spec["sessionAffinity"], "None")
        self.assertEqual(spec["ports"][0], {"name": "a", "port": 8080, "protocol": "TCP", "targetPort": 8080})
        self.assertEqual(spec["ports"][1]["targetPort"], "web")
        self.assertEqual(spec["ipFamilies"], ["IPv4"])
        self.assertEqual(spec["ipFamilyPolicy"], "SingleStack")
        self.assertEqual(spec["internalTrafficPolicy"], "Cluster")

    def test_job_and_cronjob_defaults(self):
        j = self.ok("POST", "/apis/batch/v1/namespaces/{ns}/jobs",
                    {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "jd"},
                     "spec": {"template": {"spec": {"restartPolicy": "Never",
                                                    "containers": [{"name": "c", "image": "busybox:1.36"}]}}}},
                    expect=201)
        spec = j["spec"]
        self.assertEqual(spec["completions"], 1)
        self.assertEqual(spec["parallelism"], 1)
        self.assertEqual(spec["backoffLimit"], 6)
        self.assertEqual(spec["completionMode"], "NonIndexed")
        self.assertEqual(spec["suspend"], False)
        cj = self.ok("POST", "/apis/batch/v1/namespaces/{ns}/cronjobs",
                     {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cjd"},
                      "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                          "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox:1.36"}]}}}}}},
                     expect=201)
        spec = cj["spec"]
        self.assertEqual(spec["concurrencyPolicy"], "Allow")
        self.assertEqual(spec["suspend"], False)
        self.assertEqual(spec["successfulJobsHistoryLimit"], 3)
        self.assertEqual(spec["failedJobsHistoryLimit"], 1)

    def test_job_gets_generated_selector_and_labels(self):
        # Upstream's Job strategy generates spec.selector from the Job's UID
        # (batch.kubernetes.io/controller-uid) and adds matching labels
        # (controller-uid, job-name and their batch.kubernetes.io/ forms) to
        # the pod template, unless manualSelector is true.
        j = self.ok("POST", "/apis/batch/v1/namespaces/{ns}/jobs",
                    {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
                     "spec": {"template": {"spec": {"restartPolicy": "Never",
                                                    "containers": [{"name": "c", "image": "perl:5.34.0"}]}}}},
                    expect=201)
        uid = j["metadata"]["uid"]
        self.assertEqual(j["spec"].get("selector"),
                         {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}, j["spec"])
        labels = j["spec"]["template"]["metadata"].get("labels", {})
        self.assertEqual(labels.get("batch.kubernetes.io/controller-uid"), uid)
        self.assertEqual(labels.get("batch.kubernetes.io/job-name"), "pi")
        self.assertEqual(labels.get("controller-uid"), uid)
        self.assertEqual(labels.get("job-name"), "pi")


class Validation(ApiTestCase):
    def causes(self, doc):
        return {c.get("field"): c for c in doc.get("details", {}).get("causes", [])}

    def test_invalid_name(self):
        status, doc, _ = self.call("POST", CM, configmap("Bad_Name"))
        self.assertEqual(status, 422, doc)
        self.assertStatus(doc, 422, "Invalid")
        self.assertEqual(doc["details"]["name"], "Bad_Name")
        self.assertEqual(doc["details"]["kind"], "ConfigMap")
        c = self.causes(doc)
        self.assertIn("metadata.name", c)
        self.assertEqual(c["metadata.name"]["reason"], "FieldValueInvalid")
        self.assertTrue(doc["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"'),
                        doc["message"])
        # Too long (DNS-1123 subdomain: 253).
        status, doc, _ = self.call("POST", CM, configmap("a" * 254))
        self.assertStatus(doc, 422, "Invalid")
        # Deployments need a DNS-1123 subdomain too; pods as well; services a DNS-1035 label.
        status, doc, _ = self.call("POST", "/api/v1/namespaces/{ns}/services", service("1svc"))
        self.assertStatus(doc, 422, "Invalid")
        self.assertIn("metadata.name", self.causes(doc))
        # kubectl shows the message.
        p = self.k("create", "configmap", "Bad_Name", check=False)
        self.assertIn('ConfigMap "Bad_Name" is invalid: metadata.name', p.stderr)

    def test_missing_container_image(self):
        status, doc, _ = self.call("POST", "/api/v1/namespaces/{ns}/pods", pod("noimg", [{"name": "c"}]))
        self.assertStatus(doc, 422, "Invalid")
        c = self.causes(doc)
        self.assertIn("spec.containers[0].image", c, doc)
        self.assertEqual(c["spec.containers[0].image"]["reason"], "FieldValueRequired")
        d = deployment("noimg")
        del d["spec"]["template"]["spec"]["containers"][0]["image"]
        status, doc, _ = self.call("POST", DEPLOY, d)
        self.assertStatus(doc, 422, "Invalid")
        self.assertIn("spec.template.spec.containers[0].image", self.causes(doc), doc)
        # No containers at all.
        status, doc, _ = self.call("POST", "/api/v1/namespaces/{ns}/pods", pod("noc", []))
        self.assertStatus(doc, 422, "Invalid")
        self.assertIn("spec.containers", self.causes(doc), doc)
        # Several errors are all reported.
        status, doc, _ = self.call("POST", "/api/v1/namespaces/{ns}/pods",
                                   pod("multi", [{"name": "c"}, {"name": "c", "image": "x"}]))
        self.assertStatus(doc, 422, "Invalid")
        c = self.causes(doc)
        self.assertIn("spec.containers[0].image", c)
        self.assertIn("spec.containers[1].name", c)
        self.assertEqual(c["spec.containers[1].name"]["reason"], "FieldValueDuplicate")

    def test_deployment_selector_rules(self):
        self.ok("POST", DEPLOY, deployment("imm"), expect=201)
        d = self.ok("GET", DEPLOY + "/imm")
        d["spec"]["selector"] = {"matchLabels": {"app": "imm", "v": "2"}}
        d["spec"]["template"]["metadata"]["labels"] = {"app": "imm", "v": "2"}
        status, doc, _ = self.call("PUT", DEPLOY + "/imm", d)
        self.assertStatus(doc, 422, "Invalid")
        c = self.causes(doc)
        self.assertIn("spec.selector", c, doc)
        self.assertIn("field is immutable", c["spec.selector"]["message"])
        # Selector not matching the template's labels.
        bad = deployment("mismatch")
        bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
        status, doc, _ = self.call("POST", DEPLOY, bad)
        self.assertStatus(doc, 422, "Invalid")
        self.assertIn("spec.template.metadata.labels", self.causes(doc), doc)
        # Negative replicas.
        bad = deployment("neg", replicas=-1)
        status, doc, _ = self.call("POST", DEPLOY, bad)
        self.assertStatus(doc, 422, "Invalid")
        self.assertIn("spec.replicas", self.causes(doc), doc)
        # Nothing was stored.
        self.assertEqual(sorted(i["metadata"]["name"] for i in self.ok("GET", DEPLOY)["items"]), ["imm"])

    def test_invalid_label_value(self):
        status, doc, _ = self.call("POST", CM, configmap("lbl", labels={"ok": "no spaces allowed"}))
        self.assertStatus(doc, 422, "Invalid")
        self.assertIn("metadata.labels", self.causes(doc), doc)


class Auth(ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.token_dir = tempfile.mkdtemp(prefix="capstan-e2e-tokens-")
        path = os.path.join(cls.token_dir, "tokens.csv")
        with open(path, "w") as f:
            f.write('tok123,alice,u1,"g1"\n')
        cls.server_args = ("--token-auth-file", path)
        try:
            super().setUpClass()
        except Exception:
            shutil.rmtree(cls.token_dir, ignore_errors=True)
            raise
        # Authentication is what these tests are about: alice's group g1 is
        # bound to cluster-admin (test_rbac covers what an unbound user may do).
        status, doc, _ = request_json(cls.server, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "g1"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "g1"}]})
        if status != 201:
            cls.tearDownClass()
            raise RuntimeError(f"cannot bind g1: {doc}")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.token_dir, ignore_errors=True)

    def test_no_credentials_is_401(self):
        for path in ("/api/v1/namespaces", "/api/v1/namespaces/default/configmaps", "/apis", "/api"):
            status, doc, _ = request_json(self.server, "GET", path, client_cert=False)
            self.assertEqual(status, 401, (path, doc))
            self.assertStatus(doc, 401, "Unauthorized")
        status, doc, _ = request_json(self.server, "POST", "/api/v1/namespaces/default/configmaps",
                                      configmap("anon"), client_cert=False)
        self.assertEqual(status, 401)
        self.call("GET", "/api/v1/namespaces/default/configmaps/anon", expect=404)

    def test_bearer_token_from_token_auth_file(self):
        h = {"Authorization": "Bearer tok123"}
        status, doc, _ = request_json(self.server, "GET", "/api/v1/namespaces", headers=h, client_cert=False)
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["kind"], "NamespaceList")
        status, doc, _ = request_json(self.server, "POST", "/api/v1/namespaces/{}/configmaps".format(self.ns),
                                      configmap("by-alice"), headers=h, client_cert=False)
        self.assertEqual(status, 201, doc)
        for bad in ("Bearer nope", "Bearer ", "Basic YWxpY2U6dG9rMTIz", "tok123"):
            status, doc, _ = request_json(self.server, "GET", "/api/v1/namespaces",
                                          headers={"Authorization": bad}, client_cert=False)
            self.assertEqual(status, 401, (bad, doc))

    def test_tls_sessions_resume_as_browsers_do(self):
        """Browsers resume TLS sessions on new connections; the server must
        accept that (with client-certificate requests on, OpenSSL needs a
        session id context) and still authenticate each request."""
        import socket
        import ssl
        ctx = ssl.create_default_context(cafile=os.path.join(self.server.data_dir, "tls", "ca.crt"))
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # TLS 1.2 resumption: the session exists after the handshake

        def get(session=None):
            with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
                    tls.sendall(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: localhost\r\n"
                                b"Authorization: Bearer tok123\r\nConnection: close\r\n\r\n")
                    data = b""
                    while chunk := tls.recv(65536):
                        data += chunk
                    return data.split(b"\r\n", 1)[0], tls.session, tls.session_reused
        status, session, _ = get()
        self.assertIn(b" 200 ", status)
        status, _, reused = get(session)
        self.assertIn(b" 200 ", status)
        self.assertTrue(reused)

    def test_kubectl_with_token(self):
        kc = os.path.join(self.token_dir, "alice.kubeconfig")
        ca = os.path.join(self.server.data_dir, "tls", "ca.crt")
        with open(kc, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: {self.server.url}
    certificate-authority: {ca}
users:
- name: alice
  user:
    token: tok123
contexts:
- name: alice
  context: {{cluster: c, user: alice, namespace: {self.ns}}}
current-context: alice
""")
        p = self.kubectl("--kubeconfig", kc, "create", "configmap", "alice-cm", "--from-literal=a=b")
        self.assertIn("configmap/alice-cm created", p.stdout)
        self.assertEqual(self.ok("GET", CM + "/alice-cm")["data"], {"a": "b"})


class Operational(ApiTestCase):
    def test_version(self):
        v = self.ok("GET", "/version")
        self.assertEqual(v["major"], "1")
        self.assertEqual(v["minor"], "31")
        self.assertTrue(v["gitVersion"].startswith("v1.31."), v)
        self.assertIn("platform", v)

    def test_health_endpoints(self):
        for path in ("/healthz", "/livez", "/readyz"):
            status, text, _ = self.server.request("GET", path)
            self.assertEqual((status, text), (200, "ok"), path)

    def test_health_endpoints_verbose(self):
        for path in ("/healthz", "/livez", "/readyz"):
            status, text, _ = self.server.request("GET", path + "?verbose")
            self.assertEqual(status, 200)
            self.assertIn("[+]ping ok", text, path)
            self.assertIn(path[1:] + " check passed", text, path)
        status, text, _ = self.server.request("GET", "/readyz?verbose")
        self.assertEqual(status, 200)
        self.assertIn("readyz check passed", text)
        status, text, _ = self.server.request("GET", "/livez/ping")
        self.assertEqual((status, text), (200, "ok"))

    def test_metrics(self):
        self.ok("POST", CM, configmap("m"), expect=201)
        self.ok("GET", CM + "/m")
        status, text, hdrs = self.server.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(hdrs.get("Content-Type", "").startswith("text/plain"), hdrs)
        for name in ("apiserver_request_total", "apiserver_request_duration_seconds_bucket",
                     "etcd_request_duration_seconds"):
            self.assertRegex(text, r"(?m)^" + name + r"[{ _]", name)
        # Prometheus text format: every sample line parses.
        sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+]?([0-9.eE+-]+|NaN|\+Inf|-Inf)( \d+)?$')
        for line in text.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, sample)
        self.assertRegex(text, r'apiserver_request_total\{[^}]*code="201"[^}]*resource="configmaps"[^}]*verb="POST"')
        self.assertRegex(text, r'apiserver_request_duration_seconds_bucket\{[^}]*le="\+Inf"')


if __name__ == "__main__":
    unittest.main()
