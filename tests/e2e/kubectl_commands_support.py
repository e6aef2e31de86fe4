"""Helpers shared by the kubectl command-family tests (test_kubectl_commands,
test_kubectl_describe): manifests, table and describe parsing, a kubectl
bound to a server and client version, and the per-class server."""
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
from harness import create_namespace, KUBECTL_NEWEST_VERSIONED as KUBECTL_NEWEST, KUBECTL_OLDEST, MANIFESTS, BackgroundProcess, Server, request_json, wait_until

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
    """A server of `server_class` per test class, per-client namespaces and
    the loop over both kubectl versions."""

    server_class = None

    @classmethod
    def setUpClass(cls):
        cls.home = tempfile.mkdtemp(prefix="capstan-kubectl-commands-")
        cls.server = cls.server_class()
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

    def namespace(self, label):
        name = re.sub(r"[^a-z0-9-]", "-", f"{self._testMethodName[5:28]}-{label}".lower()).strip("-")
        name = re.sub(r"-+", "-", name)
        create_namespace(self, name)
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


