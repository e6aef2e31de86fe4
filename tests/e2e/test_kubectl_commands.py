"""kubectl parity (issue 3): one test per kubectl command family, each run
with both the oldest kubectl on the machine (1.27) and the newest (1.33,
which sends its typed commands' bodies in protobuf; test_kubectl_basics
covers /usr/bin/kubectl, the gcloud dispatcher, which picks 1.31), in a
namespace of its own per client.

The expected output is what a real cluster (kube-apiserver 1.31 with
kube-controller-manager and kube-scheduler) prints for the same manifests:
describe's sections and values, the one-line results (`... scaled`,
`... labeled`, `... patched`, `... replaced`, `... edited`, `... condition
met`, `... deleted`), the error messages kubectl builds from the server's
Status, and the resulting objects. Where the two clients print differently
against a real cluster too (kubectl 1.27 says `annotate` for `annotated`,
reads Endpoints where 1.31 reads EndpointSlices), the test expects each
client's own output.

Most commands need no containers: KubectlCommandsTest runs a server with
its controllers and scheduler but no node agent, so pods stay Pending
(FailedScheduling: no nodes available). KubectlWithNodeTest starts a
server with its node agent (cluster.py) for what needs running pods:
`wait --for=condition=Available`, foreground deletion of a Deployment
whose pods take time to stop, and `describe node`.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import yaml

from cluster import IMAGE, NodeServer
from harness import KUBECTL_NEWEST_VERSIONED as KUBECTL_NEWEST, KUBECTL_OLDEST, MANIFESTS, BackgroundProcess, Server, request_json, wait_until

# (label, binary): every test runs its checks once per client.
KUBECTLS = (("newest", KUBECTL_NEWEST), ("1.27", KUBECTL_OLDEST))
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def manifest(name):
    return os.path.join(MANIFESTS, name)


def read_manifest(name):
    with open(manifest(name)) as f:
        return f.read()


# -- reading kubectl output ---------------------------------------------------

def header(out):
    """Column names of a table's first line (names may hold one space)."""
    return re.split(r"\s{2,}", out.splitlines()[0].strip())


def rows(out):
    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines()[1:] if line.strip()]


def sections(out):
    """The top-level headings of `kubectl describe` output, in order
    ("Name", "Namespace", ..., "Events"): lines starting in column 0."""
    heads = []
    for line in out.splitlines():
        m = re.match(r"^([A-Z][A-Za-z\- ]*[A-Za-z]):(\s|$)", line)
        if m:
            heads.append(m.group(1))
    return heads


def field(out, name):
    """A top-level field's value ("Status:   Pending" -> "Pending"); its
    continuation lines (more labels, annotations) are values too."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(name + ":"):
            rest = line[len(name) + 1:]
            col = len(line) - len(rest.lstrip()) if rest.strip() else None
            values = [rest.strip()]
            for cont in lines[i + 1:]:
                if col is None or len(cont) <= col or cont[:col].strip() or cont[col] == " ":
                    break
                values.append(cont.strip())
            return values[0] if len(values) == 1 else values
    return None


def events(out):
    """The rows of describe's final Events: table as dicts; [] for <none>."""
    lines = out.splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith("Events:")]
    assert at, "no Events: section in:\n" + out
    i = at[-1]
    if "<none>" in lines[i]:
        return []
    assert re.split(r"\s{2,}", lines[i + 1].strip()) == ["Type", "Reason", "Age", "From", "Message"], out
    got = []
    for line in lines[i + 3:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip(), maxsplit=4)
        got.append(dict(zip(("type", "reason", "age", "from", "message"), cells)))
    return got


def block(out, heading):
    """The indented lines under a top-level heading (e.g. "Conditions")."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(heading + ":"):
            body = []
            for cont in lines[i + 1:]:
                if cont and not cont[0].isspace():
                    break
                body.append(cont)
            return body
    return None


# -- running kubectl ------------------------------------------------------------

class Kubectl:
    """One kubectl binary bound to a server, a namespace and a cache dir."""

    def __init__(self, test, label, path, server, home, ns):
        self.test, self.label, self.path, self.server, self.home, self.ns = test, label, path, server, home, ns
        self.cache = os.path.join(home, "cache-" + os.path.basename(path))
        self.tmp = os.path.join(home, "tmp")
        os.makedirs(self.tmp, exist_ok=True)

    @property
    def newest(self):
        return self.path == KUBECTL_NEWEST

    def env(self, extra=None):
        # TMPDIR: kubectl edit keeps a copy of a failed edit there.
        return dict(os.environ, KUBECONFIG=self.server.kubeconfig, HOME=self.home, TMPDIR=self.tmp,
                    **(extra or {}))

    def command(self, *args, namespaced=True):
        return [self.path, "--cache-dir", self.cache] + (["-n", self.ns] if namespaced else []) + list(args)

    def run(self, *args, check=True, input=None, env=None, timeout=90, namespaced=True):
        p = subprocess.run(self.command(*args, namespaced=namespaced), env=self.env(env), capture_output=True,
                           text=True, input=input, timeout=timeout)
        if check and p.returncode != 0:
            self.test.fail(f"kubectl {self.label} {' '.join(args)} failed ({p.returncode}):\n"
                           f"stdout: {p.stdout}\nstderr: {p.stderr}\n--- server log tail:\n"
                           + self.server.read_log()[-3000:])
        return p

    __call__ = run

    def out(self, *args, **kw):
        return self.run(*args, **kw).stdout.strip()

    def lines(self, *args, **kw):
        return self.out(*args, **kw).splitlines()

    def json(self, *args, **kw):
        return json.loads(self.run(*args, "-o", "json", **kw).stdout)

    def fails(self, *args, **kw):
        """Runs a command that must fail; returns its stderr."""
        p = self.run(*args, check=False, **kw)
        self.test.assertNotEqual(p.returncode, 0, f"{' '.join(args)} succeeded: {p.stdout}")
        return p.stderr.strip()

    def background(self, *args, env=None):
        proc = BackgroundProcess(self.command(*args), env=self.env(env))
        self.test.addCleanup(proc.stop)
        return proc

    # Reads that check results go straight to the API with the admin
    # certificate: no kubectl process per poll.
    RESOURCES = {"deployment": ("/apis/apps/v1", "deployments"), "deployments": ("/apis/apps/v1", "deployments"),
                 "rs": ("/apis/apps/v1", "replicasets"), "pod": ("/api/v1", "pods"), "pods": ("/api/v1", "pods"),
                 "service": ("/api/v1", "services"), "services": ("/api/v1", "services"),
                 "events": ("/api/v1", "events")}

    def _read(self, kind, name="", selector=None):
        prefix, resource = self.RESOURCES[kind]
        path = f"{prefix}/namespaces/{self.ns}/{resource}" + (f"/{name}" if name else "")
        if selector:
            path += "?labelSelector=" + urllib.parse.quote(selector)
        return request_json(self.server, "GET", path)

    def get(self, kind, name):
        status, body, _ = self._read(kind, name)
        self.test.assertEqual(status, 200, body)
        return body

    def exists(self, kind, name):
        status, body, _ = self._read(kind, name)
        self.test.assertIn(status, (200, 404), body)
        return status == 200

    def items(self, kind, *selector):
        """items("pods") or items("pods", "-l", "app=x")."""
        status, body, _ = self._read(kind, selector=selector[1] if selector else None)
        self.test.assertEqual(status, 200, body)
        return body["items"]


class CommandsMixin:
    """Per-client namespaces and the loop over both kubectl versions."""

    @classmethod
    def make_home(cls):
        cls.home = tempfile.mkdtemp(prefix="capstan-kubectl-commands-")

    def namespace(self, label):
        name = re.sub(r"[^a-z0-9-]", "-", f"{self._testMethodName[5:28]}-{label}".lower()).strip("-")
        name = re.sub(r"-+", "-", name)
        status, body, _ = request_json(self.server, "POST", "/api/v1/namespaces",
                                       {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        self.assertEqual(status, 201, body)
        return name

    def each_kubectl(self, check):
        """Runs check(k) once per client, each in a namespace of its own."""
        for label, path in KUBECTLS:
            with self.subTest(kubectl=label):
                k = Kubectl(self, label, path, self.server, self.home, self.namespace(label.replace(".", "")))
                check(k)

    def wait(self, cond, timeout=30, message="condition"):
        try:
            return wait_until(cond, timeout=timeout, interval=0.2, message=message)
        except AssertionError as e:
            self.fail(f"{e}\n--- server log tail:\n{self.server.read_log()[-3000:]}")

    def assertInOrder(self, wanted, got):
        """wanted is a subsequence of got."""
        it = iter(got)
        missing = [w for w in wanted if not any(w == g for g in it)]
        self.assertFalse(missing, f"{wanted} not in order in {got}")

    def deployment_settled(self, k, name, replicas):
        """Waits until the Deployment's controllers caught up: its new
        ReplicaSet has all replicas created and the status says so.
        Returns (deployment, replicaset, pods)."""
        def settled():
            d = k.get("deployment", name)
            st = d.get("status", {})
            if st.get("observedGeneration") != d["metadata"]["generation"]:
                return None
            if st.get("replicas") != replicas or st.get("updatedReplicas") != replicas:
                return None
            if {c["type"] for c in st.get("conditions", [])} != {"Available", "Progressing"}:
                return None
            rs = [r for r in k.items("rs") if any(o["uid"] == d["metadata"]["uid"]
                                                   for o in r["metadata"].get("ownerReferences", []))
                  and r["spec"].get("replicas")]
            if len(rs) != 1 or rs[0].get("status", {}).get("replicas") != replicas:
                return None
            pods = [p for p in k.items("pods", "-l", "pod-template-hash=" + rs[0]["metadata"]["labels"]["pod-template-hash"])
                    if "deletionTimestamp" not in p["metadata"]]
            return (d, rs[0], pods) if len(pods) == replicas else None
        return self.wait(settled, message=f"deployment {name} with {replicas} replicas created")

    def event_reasons(self, k, **involved):
        return [e["reason"] for e in k.items("events")
                if all(e["involvedObject"].get(key) == v for key, v in involved.items())]


class ControlPlane(Server):
    """A server running its controllers and scheduler but no node agent:
    Deployments get ReplicaSets and pods, pods stay Pending."""
    with_agent = True  # Server.start leaves controllers and scheduler on

    def __init__(self):
        super().__init__(extra_args=["--disable-agent"])


class KubectlCommandsTest(CommandsMixin, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.make_home()
        cls.server = ControlPlane()
        try:
            cls.server.start()
        except Exception:
            cls.server.cleanup()
            shutil.rmtree(cls.home, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.home, ignore_errors=True)

    # -- describe -------------------------------------------------------------

    def test_describe_pod_deployment_replicaset(self):
        def check(k):
            self.assertEqual(k.out("apply", "-f", manifest("nginx-deployment.yaml")),
                             "deployment.apps/nginx-deployment created")
            self.assertEqual(k.out("apply", "-f", manifest("nginx-pod.yaml")), "pod/nginx created")
            dep, rs, pods = self.deployment_settled(k, "nginx-deployment", 3)
            rs_name, pod_hash = rs["metadata"]["name"], rs["metadata"]["labels"]["pod-template-hash"]
            self.wait(lambda: "FailedScheduling" in self.event_reasons(k, kind="Pod", name="nginx")
                      and "ScalingReplicaSet" in self.event_reasons(k, kind="Deployment")
                      and self.event_reasons(k, kind="ReplicaSet").count("SuccessfulCreate") == 3,
                      message="scheduler and controller events")

            # A pod nobody can schedule.
            out = k.out("describe", "pod", "nginx")
            self.assertInOrder(["Name", "Namespace", "Priority", "Service Account", "Node", "Labels",
                                "Annotations", "Status", "IP", "IPs", "Containers", "Conditions", "Volumes",
                                "QoS Class", "Node-Selectors", "Tolerations", "Events"], sections(out))
            self.assertEqual(sections(out)[-1], "Events")
            self.assertEqual(field(out, "Name"), "nginx")
            self.assertEqual(field(out, "Namespace"), k.ns)
            self.assertEqual(field(out, "Service Account"), "default")
            self.assertEqual(field(out, "Node"), "<none>")
            self.assertEqual(field(out, "Labels"), ["app=nginx-pod", "tier=web"])
            self.assertEqual(field(out, "Annotations"), "<none>")  # last-applied-configuration is not shown
            self.assertEqual(field(out, "Status"), "Pending")
            self.assertEqual(field(out, "QoS Class"), "BestEffort")
            self.assertRegex(out, r"(?m)^  nginx:\n    Image:\s+nginx:1\.14\.2\n    Port:\s+80/TCP$")
            self.assertEqual([r.split() for r in block(out, "Conditions")], [["Type", "Status"], ["PodScheduled", "False"]])
            evs = events(out)
            self.assertTrue(evs)
            for e in evs:  # only this pod's events, not its neighbours'
                self.assertEqual((e["type"], e["reason"], e["from"], e["message"]),
                                 ("Warning", "FailedScheduling", "default-scheduler",
                                  "no nodes available to schedule pods"))

            # Its Deployment.
            out = k.out("describe", "deployment", "nginx-deployment")
            self.assertInOrder(["Name", "Namespace", "CreationTimestamp", "Labels", "Annotations", "Selector",
                                "Replicas", "StrategyType", "MinReadySeconds", "RollingUpdateStrategy",
                                "Pod Template", "Conditions", "OldReplicaSets", "NewReplicaSet", "Events"],
                               sections(out))
            self.assertEqual(sections(out)[-1], "Events")
            self.assertEqual(field(out, "Name"), "nginx-deployment")
            self.assertEqual(field(out, "Namespace"), k.ns)
            self.assertEqual(field(out, "Labels"), "app=nginx")
            self.assertEqual(field(out, "Annotations"), "deployment.kubernetes.io/revision: 1")
            self.assertEqual(field(out, "Selector"), "app=nginx")
            self.assertEqual(field(out, "Replicas"), "3 desired | 3 updated | 3 total | 0 available | 3 unavailable")
            self.assertEqual(field(out, "StrategyType"), "RollingUpdate")
            self.assertEqual(field(out, "MinReadySeconds"), "0")
            self.assertEqual(field(out, "RollingUpdateStrategy"), "25% max unavailable, 25% max surge")
            self.assertEqual(field(out, "OldReplicaSets"), "<none>")
            self.assertEqual(field(out, "NewReplicaSet"), f"{rs_name} (3/3 replicas created)")
            self.assertEqual([r.split() for r in block(out, "Conditions")],
                             [["Type", "Status", "Reason"], ["----", "------", "------"],
                              ["Available", "False", "MinimumReplicasUnavailable"],
                              ["Progressing", "True", "ReplicaSetUpdated"]])
            self.assertEqual([(e["type"], e["reason"], e["from"], e["message"]) for e in events(out)],
                             [("Normal", "ScalingReplicaSet", "deployment-controller",
                               f"Scaled up replica set {rs_name} to 3")])

            # Its ReplicaSet.
            out = k.out("describe", "rs", rs_name)
            self.assertInOrder(["Name", "Namespace", "Selector", "Labels", "Annotations", "Controlled By",
                                "Replicas", "Pods Status", "Pod Template", "Events"], sections(out))
            self.assertEqual(sections(out)[-1], "Events")
            self.assertEqual(field(out, "Selector"), f"app=nginx,pod-template-hash={pod_hash}")
            self.assertEqual(field(out, "Labels"), ["app=nginx", f"pod-template-hash={pod_hash}"])
            self.assertEqual(field(out, "Annotations"), ["deployment.kubernetes.io/desired-replicas: 3",
                                                         "deployment.kubernetes.io/max-replicas: 4",
                                                         "deployment.kubernetes.io/revision: 1"])
            self.assertEqual(field(out, "Controlled By"), "Deployment/nginx-deployment")
            self.assertEqual(field(out, "Replicas"), "3 current / 3 desired")
            self.assertEqual(field(out, "Pods Status"), "0 Running / 3 Waiting / 0 Succeeded / 0 Failed")
            evs = events(out)
            self.assertEqual(sorted(e["message"] for e in evs),
                             sorted(f"Created pod: {p['metadata']['name']}" for p in pods))
            self.assertEqual({(e["type"], e["reason"], e["from"]) for e in evs},
                             {("Normal", "SuccessfulCreate", "replicaset-controller")})
        self.each_kubectl(check)

    def test_describe_service_and_namespace(self):
        def check(k):
            self.assertEqual(k.lines("apply", "-f", manifest("guestbook.yaml")),
                             ["configmap/guestbook-config created", "service/frontend created",
                              "deployment.apps/frontend created"])
            svc = k.get("service", "frontend")
            # Events about the Service as another component would post them:
            # one for this Service, one for an earlier Service of the same
            # name (another uid), which describe must leave out.
            for name, uid, message in (("frontend.current", svc["metadata"]["uid"], "current service"),
                                       ("frontend.previous", "6a1f07c5-0000-4000-8000-000000000000", "old service")):
                k("create", "-f", "-", input=json.dumps({
                    "apiVersion": "v1", "kind": "Event",
                    "metadata": {"name": name},
                    "involvedObject": {"apiVersion": "v1", "kind": "Service", "name": "frontend",
                                       "namespace": k.ns, "uid": uid},
                    "reason": "Checked", "message": message, "type": "Normal",
                    "source": {"component": "e2e-checker"}, "count": 1,
                    "firstTimestamp": svc["metadata"]["creationTimestamp"],
                    "lastTimestamp": svc["metadata"]["creationTimestamp"]}))

            out = k.out("describe", "service", "frontend")
            self.assertInOrder(["Name", "Namespace", "Labels", "Annotations", "Selector", "Type",
                                "IP Family Policy", "IP Families", "IP", "IPs", "Port", "TargetPort", "Endpoints",
                                "Session Affinity", "Events"], sections(out))
            self.assertEqual(sections(out)[-1], "Events")
            self.assertEqual(field(out, "Name"), "frontend")
            self.assertEqual(field(out, "Namespace"), k.ns)
            self.assertEqual(field(out, "Labels"), ["app=guestbook", "tier=frontend"])
            self.assertEqual(field(out, "Annotations"), "<none>")
            self.assertEqual(field(out, "Selector"), "app=guestbook,tier=frontend")
            self.assertEqual(field(out, "Type"), "ClusterIP")
            self.assertEqual(field(out, "IP Family Policy"), "SingleStack")
            self.assertEqual(field(out, "IP Families"), "IPv4")
            self.assertEqual(field(out, "IP"), svc["spec"]["clusterIP"])
            self.assertEqual(field(out, "IPs"), svc["spec"]["clusterIP"])
            self.assertEqual(re.split(r"\s{2,}", field(out, "Port")), ["<unset>", "80/TCP"])
            self.assertEqual(field(out, "TargetPort"), "80/TCP")
            # No pod is ready: 1.27 reads the Endpoints (no subsets: <none>),
            # 1.31 the EndpointSlices (a slice without endpoints: empty).
            self.assertEqual(field(out, "Endpoints"), "" if k.newest else "<none>")
            self.assertEqual(field(out, "Session Affinity"), "None")
            self.assertEqual([(e["type"], e["reason"], e["from"], e["message"]) for e in events(out)],
                             [("Normal", "Checked", "e2e-checker", "current service")])

            # The namespace, with a LimitRange (no ResourceQuota).
            self.assertEqual(k.out("apply", "-f", manifest("limitrange-memory-defaults.yaml")),
                             "limitrange/mem-limit-range created")
            out = k.out("describe", "namespace", k.ns, namespaced=False)
            self.assertEqual(sections(out)[:4], ["Name", "Labels", "Annotations", "Status"])
            self.assertEqual(field(out, "Name"), k.ns)
            self.assertEqual(field(out, "Labels"), f"kubernetes.io/metadata.name={k.ns}")
            self.assertEqual(field(out, "Annotations"), "<none>")
            self.assertEqual(field(out, "Status"), "Active")
            self.assertIn("\nNo resource quota.\n", out)
            limits = out.split("Resource Limits\n", 1)[1].splitlines()
            self.assertEqual(re.split(r"\s{2,}", limits[0].strip()),
                             ["Type", "Resource", "Min", "Max", "Default Request", "Default Limit",
                              "Max Limit/Request Ratio"])
            self.assertEqual(limits[2].split(), ["Container", "memory", "-", "-", "256Mi", "512Mi", "-"])
        self.each_kubectl(check)

    # -- edit / replace / patch -------------------------------------------------

    def editor(self, name, script):
        path = os.path.join(self.home, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + script + "\n")
        os.chmod(path, 0o755)
        return {"KUBE_EDITOR": path}

    def test_edit(self):
        # Editors that change the file as a user would: kubectl runs
        # $KUBE_EDITOR FILE and diffs what it gets back.
        scale_and_upgrade = self.editor("edit-scale.sh", "sed -i -e 's/^  replicas: 3$/  replicas: 4/' "
                                                         "-e 's/image: nginx:1.14.2/image: nginx:1.16.1/' \"$1\"")
        invalid = self.editor("edit-invalid.sh", "sed -i -e 's/^  replicas: 4$/  replicas: -1/' \"$1\"")
        unchanged = self.editor("edit-nothing.sh", "true")

        def check(k):
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            self.assertEqual(k.out("edit", "deployment/nginx-deployment", env=scale_and_upgrade),
                             "deployment.apps/nginx-deployment edited")
            dep = k.get("deployment", "nginx-deployment")
            self.assertEqual(dep["spec"]["replicas"], 4)
            self.assertEqual(dep["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.16.1")
            self.assertEqual(dep["metadata"]["generation"], 2)
            # Fields nobody edited are kept (a patch, not a replace).
            self.assertEqual(dep["spec"]["template"]["spec"]["containers"][0]["ports"],
                             [{"containerPort": 80, "protocol": "TCP"}])

            p = k("edit", "deployment/nginx-deployment", env=unchanged)
            self.assertEqual((p.stdout + p.stderr).strip(), "Edit cancelled, no changes made.")

            # The server refuses the edit: kubectl keeps a copy with the
            # server's reasons as comments and changes nothing.
            err = k.fails("edit", "deployment/nginx-deployment", env=invalid)
            self.assertIn('error: deployments.apps "nginx-deployment" is invalid', err)
            self.assertIn("error: Edit cancelled, no valid changes were saved.", err)
            copy = re.search(r'A copy of your changes has been stored to "([^"]+)"', err).group(1)
            with open(copy) as f:
                kept = f.read()
            os.unlink(copy)
            self.assertIn('# deployments.apps "nginx-deployment" was not valid:\n'
                          "# * spec.replicas: Invalid value: -1: must be greater than or equal to 0\n", kept)
            self.assertEqual(k.get("deployment", "nginx-deployment")["spec"]["replicas"], 4)
        self.each_kubectl(check)

    def test_replace(self):
        def check(k):
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            before = k.get("deployment", "nginx-deployment")
            changed = read_manifest("nginx-deployment.yaml").replace("replicas: 3", "replicas: 2") \
                                                            .replace("nginx:1.14.2", "nginx:1.16.1")
            self.assertEqual(k.out("replace", "-f", "-", input=changed), "deployment.apps/nginx-deployment replaced")
            dep = k.get("deployment", "nginx-deployment")
            self.assertEqual(dep["metadata"]["uid"], before["metadata"]["uid"])
            self.assertEqual(dep["spec"]["replicas"], 2)
            self.assertEqual(dep["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.16.1")
            self.assertEqual(dep["metadata"]["generation"], 2)
            # replace is a full update: the last-applied annotation of
            # `apply` is gone, since the file does not carry it.
            self.assertNotIn("kubectl.kubernetes.io/last-applied-configuration",
                             dep["metadata"].get("annotations", {}))

            # A replace with an old resourceVersion loses the race.
            stale = dict(dep)
            stale["metadata"] = dict(dep["metadata"], resourceVersion=before["metadata"]["resourceVersion"])
            err = k.fails("replace", "-f", "-", input=json.dumps(stale))
            self.assertEqual(err, 'Error from server (Conflict): error when replacing "STDIN": Operation cannot be '
                                  'fulfilled on deployments.apps "nginx-deployment": the object has been modified; '
                                  'please apply your changes to the latest version and try again')

            err = k.fails("replace", "-f", "-", input=changed.replace("name: nginx-deployment", "name: nope"))
            self.assertEqual(err, 'Error from server (NotFound): error when replacing "STDIN": '
                                  'deployments.apps "nope" not found')

            # --force: delete, then create anew.
            self.assertEqual(k.lines("replace", "--force", "-f", manifest("nginx-deployment.yaml")),
                             ['deployment.apps "nginx-deployment" deleted', "deployment.apps/nginx-deployment replaced"])
            dep = k.get("deployment", "nginx-deployment")
            self.assertNotEqual(dep["metadata"]["uid"], before["metadata"]["uid"])
            self.assertEqual(dep["spec"]["replicas"], 3)
            self.assertEqual(dep["metadata"]["generation"], 1)
        self.each_kubectl(check)

    def test_patch(self):
        # The walk-through of the docs' "Update API Objects in Place Using
        # kubectl patch", with its results, plus JSON patches.
        patch_file = os.path.join(self.home, "patch-file.yaml")
        with open(patch_file, "w") as f:
            f.write("spec:\n  template:\n    spec:\n      containers:\n      - name: patch-demo-ctr-2\n"
                    "        image: redis\n")

        def containers(k, name="patch-demo"):
            return [(c["name"], c["image"])
                    for c in k.get("deployment", name)["spec"]["template"]["spec"]["containers"]]

        def check(k):
            k("apply", "-f", manifest("deployment-patch.yaml"))
            # Strategic merge patch (the default): containers merge by name,
            # the new one first.
            self.assertEqual(k.out("patch", "deployment", "patch-demo", "--patch-file", patch_file),
                             "deployment.apps/patch-demo patched")
            self.assertEqual(containers(k), [("patch-demo-ctr-2", "redis"), ("patch-demo-ctr", "nginx")])
            # tolerations have no merge key: the list is replaced.
            self.assertEqual(k.out("patch", "deployment", "patch-demo", "--patch",
                                   '{"spec":{"template":{"spec":{"tolerations":[{"effect":"NoSchedule",'
                                   '"key":"disktype","value":"ssd"}]}}}}'), "deployment.apps/patch-demo patched")
            self.assertEqual(k.get("deployment", "patch-demo")["spec"]["template"]["spec"]["tolerations"],
                             [{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}])
            # JSON merge patch: lists are replaced whole.
            self.assertEqual(k.out("patch", "deployment", "patch-demo", "--type", "merge", "--patch",
                                   '{"spec":{"template":{"spec":{"containers":[{"name":"patch-demo-ctr-3",'
                                   '"image":"gcr.io/google-samples/hello-app:2.0"}]}}}}'),
                             "deployment.apps/patch-demo patched")
            self.assertEqual(containers(k), [("patch-demo-ctr-3", "gcr.io/google-samples/hello-app:2.0")])
            # JSON patch.
            ops = ('[{"op":"replace","path":"/spec/template/spec/containers/0/image",'
                   '"value":"gcr.io/google-samples/hello-app:2.1"},'
                   '{"op":"add","path":"/metadata/labels","value":{"tier":"demo"}}]')
            self.assertEqual(k.out("patch", "deployment", "patch-demo", "--type", "json", "-p", ops),
                             "deployment.apps/patch-demo patched")
            self.assertEqual(containers(k), [("patch-demo-ctr-3", "gcr.io/google-samples/hello-app:2.1")])
            self.assertEqual(k.get("deployment", "patch-demo")["metadata"]["labels"], {"tier": "demo"})
            self.assertEqual(k.out("patch", "deployment", "patch-demo", "--type", "json", "-p", ops),
                             "deployment.apps/patch-demo patched (no change)")
            err = k.fails("patch", "deployment", "patch-demo", "--type", "json", "-p",
                          '[{"op":"test","path":"/spec/replicas","value":9},'
                          '{"op":"replace","path":"/spec/replicas","value":9}]')
            self.assertEqual(err, "The request is invalid: the server rejected our request due to an error in our request")
            self.assertEqual(k.get("deployment", "patch-demo")["spec"]["replicas"], 2)

            # The retainKeys strategy: switching to Recreate must clear rollingUpdate.
            k("apply", "-f", manifest("deployment-retainkeys.yaml"))
            err = k.fails("patch", "deployment", "retainkeys-demo", "--type", "strategic", "--patch",
                          '{"spec":{"strategy":{"type":"Recreate"}}}')
            self.assertEqual(err, 'The Deployment "retainkeys-demo" is invalid: spec.strategy.rollingUpdate: '
                                  "Forbidden: may not be specified when strategy `type` is 'Recreate'")
            self.assertEqual(k.out("patch", "deployment", "retainkeys-demo", "--type", "strategic", "--patch",
                                   '{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}'),
                             "deployment.apps/retainkeys-demo patched")
            self.assertEqual(k.get("deployment", "retainkeys-demo")["spec"]["strategy"], {"type": "Recreate"})

            err = k.fails("patch", "deployment", "nope", "-p", '{"spec":{"replicas":1}}')
            self.assertEqual(err, 'Error from server (NotFound): deployments.apps "nope" not found')
        self.each_kubectl(check)

    # -- label / annotate -------------------------------------------------------

    def test_label_overwrite(self):
        def check(k):
            k("apply", "-f", manifest("nginx-pod.yaml"))
            err = k.fails("label", "pods", "nginx", "tier=frontend")
            self.assertEqual(err, "error: 'tier' already has a value (web), and --overwrite is false")
            self.assertEqual(k.out("label", "pods", "nginx", "tier=frontend", "--overwrite"), "pod/nginx labeled")
            self.assertEqual(k.get("pod", "nginx")["metadata"]["labels"], {"app": "nginx-pod", "tier": "frontend"})
            self.assertEqual(k.out("label", "pods", "nginx", "tier=frontend", "--overwrite"), "pod/nginx not labeled")
            self.assertEqual(k.out("label", "pods", "nginx", "tier-"), "pod/nginx unlabeled")
            self.assertEqual(k.get("pod", "nginx")["metadata"]["labels"], {"app": "nginx-pod"})

            # Every pod of the namespace, then by selector.
            k("apply", "-f", "-", input=read_manifest("nginx-pod.yaml").replace("name: nginx\n", "name: nginx-2\n"))
            self.assertEqual(sorted(k.lines("label", "pods", "--all", "env=test")),
                             ["pod/nginx labeled", "pod/nginx-2 labeled"])
            self.assertEqual(sorted(k.lines("label", "pods", "-l", "tier=web", "env=prod", "--overwrite")),
                             ["pod/nginx-2 labeled"])
            out = k.out("get", "pods", "--show-labels")
            self.assertEqual(header(out)[-1], "LABELS")
            self.assertEqual({r[0]: r[-1] for r in rows(out)},
                             {"nginx": "app=nginx-pod,env=test", "nginx-2": "app=nginx-pod,env=prod,tier=web"})
        self.each_kubectl(check)

    def test_annotate(self):
        def check(k):
            # kubectl 1.27 prints "annotate" where later clients print "annotated".
            done = "pod/nginx annotated" if k.newest else "pod/nginx annotate"
            k("apply", "-f", manifest("nginx-pod.yaml"))
            self.assertEqual(k.out("annotate", "pods", "nginx", "description=my frontend"), done)
            self.assertEqual(k.get("pod", "nginx")["metadata"]["annotations"]["description"], "my frontend")
            err = k.fails("annotate", "pods", "nginx", "description=my frontend running nginx")
            self.assertEqual(err, "error: --overwrite is false but found the following declared annotation(s): "
                                  "'description' already has a value (my frontend)")
            self.assertEqual(k.out("annotate", "--overwrite", "pods", "nginx",
                                   "description=my frontend running nginx"), done)
            self.assertEqual(k.get("pod", "nginx")["metadata"]["annotations"]["description"],
                             "my frontend running nginx")
            # With a resourceVersion precondition that no longer holds.
            err = k.fails("annotate", "pods", "nginx", "owner=team-a", "--resource-version=1")
            self.assertEqual(err, 'Error from server (Conflict): Operation cannot be fulfilled on pods "nginx": the '
                                  'object has been modified; please apply your changes to the latest version and try again')
            rv = k.get("pod", "nginx")["metadata"]["resourceVersion"]
            self.assertEqual(k.out("annotate", "pods", "nginx", "owner=team-a", f"--resource-version={rv}"), done)
            self.assertEqual(k.out("annotate", "pods", "nginx", "description-"), done)
            annotations = k.get("pod", "nginx")["metadata"]["annotations"]
            annotations.pop("kubectl.kubernetes.io/last-applied-configuration")
            self.assertEqual(annotations, {"owner": "team-a"})
        self.each_kubectl(check)

    # -- scale / set image --------------------------------------------------------

    def test_scale(self):
        def check(k):
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            self.deployment_settled(k, "nginx-deployment", 3)
            self.assertEqual(k.out("scale", "deployment", "nginx-deployment", "--replicas=5"),
                             "deployment.apps/nginx-deployment scaled")
            dep, rs, pods = self.deployment_settled(k, "nginx-deployment", 5)
            self.assertEqual(rs["spec"]["replicas"], 5)
            self.assertEqual(rows(k.out("get", "deployment", "nginx-deployment"))[0][:4],
                             ["nginx-deployment", "0/5", "5", "0"])
            # --current-replicas is a precondition (GET, then PUT of the Scale).
            err = k.fails("scale", "deployment", "nginx-deployment", "--current-replicas=2", "--replicas=3")
            self.assertEqual(err, "error: Expected replicas to be 2, was 5")
            self.assertEqual(k.out("scale", "deployment", "nginx-deployment", "--current-replicas=5", "--replicas=2"),
                             "deployment.apps/nginx-deployment scaled")
            self.deployment_settled(k, "nginx-deployment", 2)
            # The scale subresource as kubectl reads it.
            scale = json.loads(k.out("get", "--raw",
                                     f"/apis/apps/v1/namespaces/{k.ns}/deployments/nginx-deployment/scale",
                                     namespaced=False))
            self.assertEqual((scale["kind"], scale["apiVersion"]), ("Scale", "autoscaling/v1"))
            self.assertEqual(scale["spec"], {"replicas": 2})
            self.assertEqual(scale["status"], {"replicas": 2, "selector": "app=nginx"})
            # By file, as the docs' `kubectl scale --replicas=3 -f foo.yaml`.
            self.assertEqual(k.out("scale", "--replicas=1", "-f", manifest("nginx-deployment.yaml")),
                             "deployment.apps/nginx-deployment scaled")
            self.deployment_settled(k, "nginx-deployment", 1)
        self.each_kubectl(check)

    def test_set_image(self):
        def check(k):
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            k("apply", "-f", manifest("nginx-pod.yaml"))
            _, first_rs, _ = self.deployment_settled(k, "nginx-deployment", 3)
            # The docs' rolling update example.
            self.assertEqual(k.out("set", "image", "deployment/nginx-deployment", "nginx=nginx:1.16.1"),
                             "deployment.apps/nginx-deployment image updated")
            dep = k.get("deployment", "nginx-deployment")
            self.assertEqual(dep["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.16.1")
            self.assertEqual(dep["metadata"]["generation"], 2)

            def second_rs():
                rss = {r["metadata"]["name"]: r for r in k.items("rs", "-l", "app=nginx")}
                new = [r for n, r in rss.items() if n != first_rs["metadata"]["name"]]
                return new[0] if len(rss) == 2 and new else None
            new_rs = self.wait(second_rs, message="the new ReplicaSet")
            self.assertEqual(new_rs["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.16.1")
            self.assertEqual(new_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2")

            err = k.fails("set", "image", "deployment/nginx-deployment", "nope=nginx:1.16.1")
            self.assertEqual(err, 'error: unable to find container named "nope"')
            self.assertEqual(k.out("set", "image", "deployment/nginx-deployment", "*=nginx:1.17"),
                             "deployment.apps/nginx-deployment image updated")
            self.assertEqual(k.out("set", "image", "pod/nginx", "nginx=nginx:1.16.1"), "pod/nginx image updated")
            self.assertEqual(k.get("pod", "nginx")["spec"]["containers"][0]["image"], "nginx:1.16.1")
        self.each_kubectl(check)

    # -- delete ---------------------------------------------------------------------

    def test_delete_cascade(self):
        def check(k):
            deleted = 'deployment.apps "nginx-deployment" deleted'

            # background (kubectl's default): the Deployment goes at once, the
            # garbage collector removes its ReplicaSet and pods after it.
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            self.deployment_settled(k, "nginx-deployment", 3)
            self.assertEqual(k.out("delete", "deployment", "nginx-deployment", "--cascade=background"), deleted)
            self.wait(lambda: not k.items("rs", "-l", "app=nginx") and not k.items("pods", "-l", "app=nginx"),
                      message="ReplicaSet and pods collected")

            # orphan: the ReplicaSet stays, without its ownerReference; its
            # pods stay with it.
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            _, rs, pods = self.deployment_settled(k, "nginx-deployment", 3)
            self.assertEqual(k.out("delete", "deployment", "nginx-deployment", "--cascade=orphan"), deleted)
            self.assertFalse(k.exists("deployment", "nginx-deployment"))
            left = k.get("rs", rs["metadata"]["name"])
            self.assertEqual(left["metadata"]["uid"], rs["metadata"]["uid"])
            self.assertNotIn("ownerReferences", left["metadata"])
            self.assertNotIn("deletionTimestamp", left["metadata"])
            self.assertEqual(sorted(p["metadata"]["name"] for p in k.items("pods", "-l", "app=nginx")),
                             sorted(p["metadata"]["name"] for p in pods))
            self.assertEqual(k.out("delete", "rs", rs["metadata"]["name"]),
                             f'replicaset.apps "{rs["metadata"]["name"]}" deleted')
            self.wait(lambda: not k.items("pods", "-l", "app=nginx"), message="orphaned ReplicaSet's pods collected")

            # foreground: the Deployment stays, with the foregroundDeletion
            # finalizer, until its dependents are gone. A finalizer of our own
            # holds the ReplicaSet (in a cluster, pods that take time to stop
            # do; KubectlWithNodeTest shows that case).
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            _, rs, _ = self.deployment_settled(k, "nginx-deployment", 3)
            rs_name = rs["metadata"]["name"]
            k("patch", "rs", rs_name, "--type", "merge", "-p", '{"metadata":{"finalizers":["example.com/hold"]}}')
            deleting = k.background("delete", "deployment", "nginx-deployment", "--cascade=foreground")
            dep = self.wait(lambda: (lambda d: d if "deletionTimestamp" in d["metadata"] else None)(
                k.get("deployment", "nginx-deployment")), message="Deployment marked for deletion")
            self.assertEqual(dep["metadata"]["finalizers"], ["foregroundDeletion"])
            held = self.wait(lambda: (lambda r: r if "deletionTimestamp" in r["metadata"]
                                      and r["metadata"].get("finalizers") == ["example.com/hold"] else None)(
                k.get("rs", rs_name)), message="ReplicaSet deleted but held, its pods gone")
            self.assertEqual(k.items("pods", "-l", "app=nginx"), [])
            time.sleep(1)  # the garbage collector had time to act; nothing may change while the RS is held
            self.assertIsNone(deleting.proc.poll(), "kubectl delete returned while a dependent was left")
            self.assertEqual(k.get("deployment", "nginx-deployment")["metadata"]["finalizers"],
                             ["foregroundDeletion"])
            self.assertEqual(held["metadata"]["ownerReferences"][0]["blockOwnerDeletion"], True)
            k("patch", "rs", rs_name, "--type", "json", "-p",
              '[{"op":"test","path":"/metadata/finalizers","value":["example.com/hold"]},'
              '{"op":"remove","path":"/metadata/finalizers"}]')
            self.assertEqual(deleting.proc.wait(timeout=30), 0, "\n".join(deleting.err.seen))
            deleting.out.wait_for(lambda line: line == deleted, timeout=5)
            self.assertFalse(k.exists("deployment", "nginx-deployment"))
            self.assertFalse(k.exists("rs", rs_name))
        self.each_kubectl(check)

    def test_delete_by_label(self):
        def check(k):
            k("apply", "-f", manifest("guestbook.yaml"))
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            _, _, pods = self.deployment_settled(k, "nginx-deployment", 3)
            # In the order of the types asked for.
            self.assertEqual(k.lines("delete", "deployments,services,configmaps", "-l", "app=guestbook"),
                             ['deployment.apps "frontend" deleted', 'service "frontend" deleted',
                              'configmap "guestbook-config" deleted'])
            self.assertEqual([d["metadata"]["name"] for d in k.items("deployments")], ["nginx-deployment"])
            self.assertEqual(k.items("services"), [])
            self.assertEqual(sorted(k.lines("delete", "pods", "-l", "app=nginx")),
                             sorted(f'pod "{p["metadata"]["name"]}" deleted' for p in pods))
            # The ReplicaSet replaces them.
            _, _, again = self.deployment_settled(k, "nginx-deployment", 3)
            self.assertFalse({p["metadata"]["name"] for p in pods} & {p["metadata"]["name"] for p in again})
            p = k("delete", "pods", "-l", "app=nothing")
            self.assertEqual((p.returncode, p.stdout.strip()), (0, "No resources found"))
        self.each_kubectl(check)

    # -- wait -------------------------------------------------------------------------

    def test_wait(self):
        def check(k):
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            k("apply", "-f", manifest("nginx-pod.yaml"))
            self.assertEqual(k.out("wait", "--for=condition=Progressing", "deployment/nginx-deployment",
                                   "--timeout=60s"), "deployment.apps/nginx-deployment condition met")
            self.assertEqual(k.out("wait", "--for=condition=Available=false", "deployment/nginx-deployment",
                                   "--timeout=60s"), "deployment.apps/nginx-deployment condition met")
            self.assertEqual(k.out("wait", "--for=condition=PodScheduled=false", "pod/nginx", "--timeout=60s"),
                             "pod/nginx condition met")
            self.assertEqual(k.out("wait", "--for=jsonpath={.status.phase}=Pending", "pod/nginx", "--timeout=60s"),
                             "pod/nginx condition met")
            # No node: the Deployment never becomes Available.
            err = k.fails("wait", "--for=condition=Available", "deployment/nginx-deployment", "--timeout=2s")
            self.assertEqual(err, "error: timed out waiting for the condition on deployments/nginx-deployment")

            # --for=delete returns once the object is gone.
            k("create", "configmap", "short-lived", "--from-literal=k=v")
            # (-v=6 logs its requests: the delete comes once its watch is open;
            # a waiter that finds nothing to wait for exits 0 silently.)
            waiter = k.background("wait", "--for=delete", "configmap/short-lived", "--timeout=60s", "-v=6")
            waiter.err.wait_for(lambda line: "watch=true" in line, timeout=30)
            self.assertIsNone(waiter.proc.poll(), "\n".join(waiter.err.seen))
            self.assertEqual(k.out("delete", "configmap", "short-lived"), 'configmap "short-lived" deleted')
            self.assertEqual(waiter.proc.wait(timeout=30), 0, "\n".join(waiter.err.seen))
            waiter.out.wait_for(lambda line: line == "configmap/short-lived condition met", timeout=5)
        self.each_kubectl(check)

    # -- events -----------------------------------------------------------------------

    def test_get_events_sorted_by_last_timestamp(self):
        def check(k):
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            self.deployment_settled(k, "nginx-deployment", 3)
            time.sleep(1.1)  # timestamps have second precision: later events sort after
            k("scale", "deployment", "nginx-deployment", "--replicas=1")
            self.deployment_settled(k, "nginx-deployment", 1)
            # An event posted now about something that happened an hour ago
            # sorts first although it was created last.
            k("create", "-f", "-", input=json.dumps({
                "apiVersion": "v1", "kind": "Event", "metadata": {"name": "nginx-deployment.earlier"},
                "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx-deployment",
                                   "namespace": k.ns},
                "reason": "Earlier", "message": "an hour ago", "type": "Normal",
                "source": {"component": "e2e-checker"}, "count": 1,
                "firstTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600)),
                "lastTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))}))
            by_name = {e["metadata"]["name"]: e for e in k.items("events")}
            self.assertGreaterEqual(len(by_name), 8)

            out = k.out("get", "events", "--sort-by=.lastTimestamp")
            self.assertEqual(header(out), ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"])
            first = rows(out)[0]
            self.assertEqual(first[1:], ["Normal", "Earlier", "deployment/nginx-deployment", "an hour ago"])
            self.assertRegex(first[0], r"^(59m|60m|61m)$")

            out = k.out("get", "events", "--sort-by=.lastTimestamp", "-o", "wide")
            self.assertEqual(header(out), ["LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE",
                                           "FIRST SEEN", "COUNT", "NAME"])
            names = [line.split()[-1] for line in out.splitlines()[1:]]
            self.assertEqual(sorted(names), sorted(by_name))
            stamps = [by_name[n]["lastTimestamp"] for n in names]
            self.assertEqual(stamps, sorted(stamps))
            self.assertLess(stamps[0], stamps[-1])
            reasons = [by_name[n]["reason"] for n in names]
            self.assertLess(reasons.index("SuccessfulCreate"), reasons.index("SuccessfulDelete"))
        self.each_kubectl(check)

    # -- cluster-level commands ---------------------------------------------------------

    def test_auth_whoami(self):
        def check(k):
            out = k.out("auth", "whoami", namespaced=False)
            self.assertEqual([re.split(r"\s{2,}", line.strip()) for line in out.splitlines()],
                             [["ATTRIBUTE", "VALUE"], ["Username", "system:admin"],
                              ["Groups", "[system:masters system:authenticated]"]])
            review = k.json("auth", "whoami", namespaced=False)
            # 1.28+ ask authentication.k8s.io/v1 first; 1.27 knows only v1beta1
            # (then v1alpha1), which kube-apiserver 1.28+ serves when enabled
            # (--runtime-config) and capstan serves always.
            self.assertEqual(review["apiVersion"],
                             "authentication.k8s.io/v1" if k.newest else "authentication.k8s.io/v1beta1")
            self.assertEqual(review["kind"], "SelfSubjectReview")
            self.assertEqual(review["status"]["userInfo"],
                             {"username": "system:admin", "groups": ["system:masters", "system:authenticated"]})
        self.each_kubectl(check)

        # The API as kube-apiserver serves it: create only, nothing stored.
        status, body, _ = request_json(self.server, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                       {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        self.assertEqual(status, 201, body)
        self.assertEqual(body["status"]["userInfo"]["username"], "system:admin")
        status, body, _ = request_json(self.server, "GET", "/apis/authentication.k8s.io/v1/selfsubjectreviews")
        self.assertEqual((status, body["reason"]), (405, "MethodNotAllowed"))
        resources = self.kubectl_api_resources()
        self.assertIn(["selfsubjectreviews", "authentication.k8s.io/v1", "false", "SelfSubjectReview"], resources)

    def kubectl_api_resources(self):
        out = Kubectl(self, "newest", KUBECTL_NEWEST, self.server, self.home, "default").out(
            "api-resources", "--api-group=authentication.k8s.io", namespaced=False)
        return rows(out)

    def test_cluster_info(self):
        def check(k):
            # The control plane, then the kube-system Services labelled
            # kubernetes.io/cluster-service=true (the cluster DNS, as CoreDNS
            # in kubeadm and k3s clusters), named by kubernetes.io/name.
            out = ANSI.sub("", k.out("cluster-info", namespaced=False))
            self.assertEqual(out.splitlines(), [
                f"Kubernetes control plane is running at {self.server.url}",
                f"capstan-dns is running at {self.server.url}/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy",
                "", "To further debug and diagnose cluster problems, use 'kubectl cluster-info dump'."])
        self.each_kubectl(check)

    def test_version(self):
        def check(k):
            p = k("version", namespaced=False)
            info = json.loads(k.out("version", "-o", "json", namespaced=False))
            server = info["serverVersion"]
            self.assertEqual((server["major"], server["minor"]), ("1", "31"))
            self.assertTrue(server["gitVersion"].startswith("v1.31."), server)
            if k.newest:
                minor = KUBECTL_NEWEST.rsplit(".", 1)[1]
                self.assertEqual(info["clientVersion"]["minor"], minor)
                lines = p.stdout.splitlines()
                self.assertRegex(lines[0], rf"^Client Version: v1\.{minor}\.\d+$")
                self.assertRegex(lines[1], r"^Kustomize Version: v\d+\.\d+\.\d+$")
                self.assertEqual(lines[2], f"Server Version: {server['gitVersion']}")
                if abs(int(minor) - 31) > 1:  # as against any 1.31 server
                    self.assertIn(f"WARNING: version difference between client (1.{minor}) and server (1.31) "
                                  "exceeds the supported minor version skew of +/-1", p.stderr)
                else:
                    self.assertEqual(p.stderr, "")
            else:
                self.assertEqual(info["clientVersion"]["minor"], "27")
                lines = p.stdout.splitlines()
                self.assertTrue(lines[0].startswith('Client Version: version.Info{Major:"1", Minor:"27"'), lines[0])
                self.assertTrue(lines[-1].startswith(
                    f'Server Version: version.Info{{Major:"1", Minor:"31", GitVersion:"{server["gitVersion"]}"'),
                    lines[-1])
                # As against any 1.31 server: the skew warning.
                self.assertIn("WARNING: version difference between client (1.27) and server (1.31) exceeds the "
                              "supported minor version skew of +/-1", p.stderr)
        self.each_kubectl(check)


class KubectlWithNodeTest(CommandsMixin, unittest.TestCase):
    """Commands that need pods to run: a server with its node agent."""

    @classmethod
    def setUpClass(cls):
        cls.make_home()
        cls.server = NodeServer()
        try:
            cls.server.start()
        except Exception:
            cls.server.cleanup()
            shutil.rmtree(cls.home, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.home, ignore_errors=True)

    @staticmethod
    def runnable_deployment(stop_seconds=0):
        """nginx-deployment.yaml with the test image serving HTTP, since no
        registry is reachable; with stop_seconds, each pod takes that long to
        stop (a preStop hook)."""
        doc = yaml.safe_load(read_manifest("nginx-deployment.yaml"))
        c = doc["spec"]["template"]["spec"]["containers"][0]
        c["image"] = IMAGE
        c["command"] = ["/bin/httpd", "-f", "-p", "80", "-h", "/www"]
        c["readinessProbe"] = {"tcpSocket": {"port": 80}, "periodSeconds": 1}
        if stop_seconds:
            c["lifecycle"] = {"preStop": {"exec": {"command": ["/bin/sleep", str(stop_seconds)]}}}
        # httpd runs as PID 1 and ignores SIGTERM: SIGKILL ends it 2 s after
        # the preStop hook (instead of after the default 30 s).
        doc["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = stop_seconds + 2
        return yaml.safe_dump(doc)

    def test_wait_available_then_delete_foreground(self):
        def check(k):
            self.assertEqual(k.out("apply", "-f", "-", input=self.runnable_deployment(stop_seconds=3)),
                             "deployment.apps/nginx-deployment created")
            self.assertEqual(k.out("wait", "--for=condition=Available", "deployment/nginx-deployment",
                                   "--timeout=120s", timeout=150), "deployment.apps/nginx-deployment condition met")
            dep = k.get("deployment", "nginx-deployment")
            self.assertEqual(dep["status"]["availableReplicas"], 3)
            self.assertEqual(rows(k.out("get", "deployment", "nginx-deployment"))[0][:4],
                             ["nginx-deployment", "3/3", "3", "3"])

            # Foreground: the Deployment is still there, with the
            # foregroundDeletion finalizer, while its pods stop (3 s preStop).
            deleting = k.background("delete", "deployment", "nginx-deployment", "--cascade=foreground")
            seen = self.wait(lambda: (lambda d: d if "deletionTimestamp" in d["metadata"] else None)(
                k.get("deployment", "nginx-deployment")), message="Deployment marked for deletion")
            self.assertEqual(seen["metadata"]["finalizers"], ["foregroundDeletion"])
            terminating = self.wait(lambda: [p for p in k.items("pods", "-l", "app=nginx")
                                             if "deletionTimestamp" in p["metadata"]],
                                    message="pods terminating")
            self.assertTrue(terminating)
            self.assertTrue(k.exists("deployment", "nginx-deployment"))
            self.assertIsNone(deleting.proc.poll())
            self.assertEqual(deleting.proc.wait(timeout=60), 0, "\n".join(deleting.err.seen))
            # Gone only after everything it owned.
            self.assertFalse(k.exists("deployment", "nginx-deployment"))
            self.assertEqual(k.items("rs", "-l", "app=nginx"), [])
            self.assertEqual(k.items("pods", "-l", "app=nginx"), [])
        self.each_kubectl(check)

    def test_describe_node_and_running_pod(self):
        node = self.server.node_name

        def check(k):
            k("apply", "-f", "-", input=self.runnable_deployment())
            k("wait", "--for=condition=Available", "deployment/nginx-deployment", "--timeout=120s", timeout=150)
            pod = k.items("pods", "-l", "app=nginx")[0]
            name = pod["metadata"]["name"]

            out = k.out("describe", "pod", name)
            self.assertEqual(field(out, "Node"), f"{node}/{pod['status']['hostIP']}")
            self.assertEqual(field(out, "Status"), "Running")
            self.assertEqual(field(out, "IP"), pod["status"]["podIP"])
            self.assertEqual(field(out, "Controlled By"), f"ReplicaSet/{pod['metadata']['ownerReferences'][0]['name']}")
            self.assertRegex(out, r"(?m)^    State:\s+Running\n      Started:\s+\S")
            self.assertRegex(out, r"(?m)^    Ready:\s+True$")
            conditions = {r.split()[0]: r.split()[1] for r in block(out, "Conditions")[1:]}
            for c in ("Initialized", "Ready", "ContainersReady", "PodScheduled"):
                self.assertEqual(conditions.get(c), "True", out)
            got = [(e["type"], e["reason"], e["from"]) for e in events(out)]
            self.assertEqual(got[0], ("Normal", "Scheduled", "default-scheduler"))
            self.assertEqual(events(out)[0]["message"], f"Successfully assigned {k.ns}/{name} to {node}")
            self.assertEqual(got[1:4], [("Normal", "Pulled", "kubelet"), ("Normal", "Created", "kubelet"),
                                        ("Normal", "Started", "kubelet")])
            self.assertEqual([e["message"] for e in events(out)[1:4]],
                             [f'Container image "{IMAGE}" already present on machine', "Created container nginx",
                              "Started container nginx"])

            out = k.out("describe", "node", node, namespaced=False)
            self.assertInOrder(["Name", "Roles", "Labels", "Annotations", "CreationTimestamp", "Taints",
                                "Unschedulable", "Lease", "Conditions", "Addresses", "Capacity", "Allocatable",
                                "System Info", "PodCIDR", "PodCIDRs", "Non-terminated Pods", "Allocated resources",
                                "Events"], sections(out))
            self.assertEqual(sections(out)[-1], "Events")
            self.assertEqual(field(out, "Name"), node)
            self.assertIn(f"kubernetes.io/hostname={node}", field(out, "Labels"))
            self.assertEqual(field(out, "Taints"), "<none>")
            self.assertEqual(field(out, "Unschedulable"), "false")
            conditions = {r.split()[0]: r.split()[1] for r in block(out, "Conditions")[2:]}
            self.assertEqual(conditions, {"MemoryPressure": "False", "DiskPressure": "False",
                                          "PIDPressure": "False", "Ready": "True"})
            self.assertIn(name, "\n".join(block(out, "Non-terminated Pods")))
            # The agent's (kubelet's) and the node controller's events, found by
            # the Node's name (kubelet's uid for it) and by its uid.
            got = {(e["type"], e["reason"], e["from"], e["message"]) for e in events(out)}
            for want in (("Normal", "Starting", "kubelet", "Starting kubelet."),
                         ("Normal", "NodeHasSufficientMemory", "kubelet",
                          f"Node {node} status is now: NodeHasSufficientMemory"),
                         ("Normal", "NodeHasNoDiskPressure", "kubelet", f"Node {node} status is now: NodeHasNoDiskPressure"),
                         ("Normal", "NodeHasSufficientPID", "kubelet", f"Node {node} status is now: NodeHasSufficientPID"),
                         ("Normal", "NodeReady", "kubelet", f"Node {node} status is now: NodeReady"),
                         ("Normal", "RegisteredNode", "node-controller",
                          f"Node {node} event: Registered Node {node} in Controller")):
                self.assertIn(want, got)
            k("delete", "deployment", "nginx-deployment")
        self.each_kubectl(check)


if __name__ == "__main__":
    unittest.main()
