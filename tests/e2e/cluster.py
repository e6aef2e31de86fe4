"""A capstan server with its node agent, for tests with real containers.

Each NodeServer gets its own node name, pod bridge and data dir, runs with
--isolate-pod-network (pods reach the host and each other, nothing beyond),
and on cleanup deletes its pods, stops the server and runs `capstan
cleanup`, which removes every container, network namespace, veth, bridge,
cgroup and iptables rule the agent made.
"""
import atexit
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from harness import CAPSTAN, KUBECTL_NEWEST, SOURCE_DIR, LoggedProcess, Server, wait_until

IMAGE = "capstan.test/busybox:1"
_image_lock = threading.Lock()
_image_archive = None


def busybox_archive():
    """Builds the test image (an OCI archive of Debian's busybox-static) once."""
    global _image_archive
    with _image_lock:
        if _image_archive is None:
            d = tempfile.mkdtemp(prefix="capstan-image-")
            atexit.register(shutil.rmtree, d, True)  # one archive per test process, gone with it
            path = os.path.join(d, "busybox.tar")
            subprocess.run(["/usr/bin/python3", os.path.join(SOURCE_DIR, "tests", "images", "build_busybox_image.py"),
                            "--archive", path, "--tag", "1"], check=True, capture_output=True)
            _image_archive = path
        return _image_archive


class StubResolver:
    """A DNS resolver on 127.0.0.1 that answers every A query with
    STUB_ANSWER: the cluster DNS's upstream in tests, so that no query ever
    reaches the machine's own resolver or the internet."""
    STUB_ANSWER = "192.0.2.53"

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                q, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(q) < 12:
                continue
            # Header: same id, QR+RD+RA, one question, one answer.
            end = 12
            while end < len(q) and q[end] != 0:
                end += q[end] + 1
            question = q[12:end + 5]
            self.queries.append(question)
            qtype = struct.unpack("!H", q[end + 1:end + 3])[0] if end + 3 <= len(q) else 0
            answers = 1 if qtype == 1 else 0
            r = q[:2] + struct.pack("!HHHHH", 0x8180, 1, answers, 0, 0) + question
            if answers:
                r += struct.pack("!HHHIH", 0xC00C, 1, 1, 5, 4) + socket.inet_aton(self.STUB_ANSWER)
            self.sock.sendto(r, peer)

    def close(self):
        self.sock.close()


_RANGES_DIR = os.path.join(tempfile.gettempdir(), "capstan-e2e-ranges")


def reserve_cluster_ranges():
    """Pod and service ranges no other test cluster on this machine uses:
    clusters running side by side must not share pod subnets (host routes)
    nor service addresses (each node's proxy rules see every packet).
    Returns (pod cidr, service cidr, reservation file)."""
    os.makedirs(_RANGES_DIR, exist_ok=True)
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for _ in range(200):
        a = 64 + secrets.randbelow(64)
        if f"10.{a}." in routes or f"10.{a + 64}." in routes:
            continue
        path = os.path.join(_RANGES_DIR, str(a))
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            # A reservation left by a run that was killed: free after 3 hours.
            try:
                if time.time() - os.path.getmtime(path) > 3 * 3600:
                    os.unlink(path)
            except OSError:
                pass
            continue
        return f"10.{a}.0.0/16", f"10.{a + 64}.0.0/16", path
    raise RuntimeError("no free 10.x ranges for a test cluster")


def _no_ingress_unless_asked(args):
    """Agents serve Ingress on ports 80/443 by default; tests run several
    servers at once, so only a test that asks for ingress ports gets them."""
    return [] if any(a.startswith("--ingress-") for a in args) else ["--disable-ingress"]


def _no_image_gc_unless_asked(args):
    """On a machine whose disk is over 85 % full, image garbage collection
    would remove the test image between a class's pods; only a test that
    sets its thresholds gets it."""
    return [] if any(a.startswith("--image-gc-") for a in args) else ["--image-gc-high-threshold", "100"]


class NodeServer(Server):
    """A server running its embedded agent."""

    def __init__(self, extra_args=()):
        suffix = secrets.token_hex(3)
        self.node_name = "node-" + suffix
        self.bridge = "cst" + suffix
        self.cluster_cidr, self.service_cidr, self._ranges = reserve_cluster_ranges()
        self.pod_prefix = self.cluster_cidr.rsplit(".", 2)[0] + "."  # "10.x."
        self.resolver = StubResolver()
        super().__init__(extra_args=["--node-name", self.node_name, "--cni-bridge", self.bridge,
                                     "--dns-upstream", f"127.0.0.1:{self.resolver.port}",
                                     "--cluster-cidr", self.cluster_cidr, "--service-cidr", self.service_cidr,
                                     "--isolate-pod-network", "--kubelet-port", "0"]
                         + _no_ingress_unless_asked(extra_args) + _no_image_gc_unless_asked(extra_args)
                         + list(extra_args))
        self.with_agent = True

    def start(self, timeout=60):
        subprocess.run([CAPSTAN, "image", "import", busybox_archive(), "--name", IMAGE, "--data-dir", self.data_dir],
                       check=True, capture_output=True)
        return super().start(timeout)

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            env = dict(os.environ, KUBECONFIG=self.kubeconfig)
            subprocess.run(["kubectl", "delete", "pods", "--all", "-A", "--wait=true", "--timeout=60s"],
                           env=env, capture_output=True, timeout=90)
        self.stop()
        subprocess.run([CAPSTAN, "cleanup", "--data-dir", self.data_dir, "--node-name", self.node_name,
                        "--cni-bridge", self.bridge, "--isolate-pod-network"], capture_output=True, timeout=120)
        super().cleanup()
        self.resolver.close()
        if os.path.exists(self._ranges):
            os.unlink(self._ranges)


class AgentNode(LoggedProcess):
    """A standalone `capstan agent` joining a NodeServer over HTTPS with the
    server's join token: a second node on this machine, with its own name,
    bridge, data dir and kubelet port."""

    def __init__(self, server):
        suffix = secrets.token_hex(3)
        self.server = server
        self.node_name = "node-" + suffix
        self.bridge = "cst" + suffix
        self.data_dir = tempfile.mkdtemp(prefix="capstan-e2e-agent-")
        self.log_path = os.path.join(self.data_dir, "agent.log")
        self.stop_timeout = 20

    def start(self, timeout=60):
        subprocess.run([CAPSTAN, "image", "import", busybox_archive(), "--name", IMAGE, "--data-dir", self.data_dir],
                       check=True, capture_output=True)
        with open(os.path.join(self.server.data_dir, "token")) as f:
            token = f.read().strip()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [CAPSTAN, "agent", "--server", self.server.url, "--token", token, "--node-name", self.node_name,
             "--data-dir", self.data_dir, "--cni-bridge", self.bridge, "--isolate-pod-network",
             "--cluster-cidr", self.server.cluster_cidr, "--kubelet-port", "0",
             "--dns-upstream", f"127.0.0.1:{self.server.resolver.port}", "--disable-ingress",
             "--image-gc-high-threshold", "100"],
            stdout=self.log, stderr=subprocess.STDOUT)
        env = dict(os.environ, KUBECONFIG=self.server.kubeconfig)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}: {self.read_log()[-3000:]}")
            p = subprocess.run(["kubectl", "get", "node", self.node_name, "-o",
                                "jsonpath={.status.conditions[?(@.type=='Ready')].status}"],
                               env=env, capture_output=True, text=True)
            if p.stdout.strip() == "True":
                return self
            time.sleep(0.2)
        raise RuntimeError("agent's node did not become Ready: " + self.read_log()[-3000:])

    def cleanup(self):
        self.kill(signal.SIGTERM)
        # A joined agent cleans up as kube-proxy does: `capstan agent --cleanup`.
        subprocess.run([CAPSTAN, "agent", "--cleanup", "--data-dir", self.data_dir, "--node-name", self.node_name,
                        "--cni-bridge", self.bridge, "--isolate-pod-network"], capture_output=True, timeout=120)
        shutil.rmtree(self.data_dir, ignore_errors=True)


class ClusterTestCase(unittest.TestCase):
    """Tests sharing one NodeServer (started with `server_args`): the real
    kubectl against it, JSON reads, readiness checks."""
    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = NodeServer(extra_args=cls.server_args)
        try:
            cls.server.start()
        except Exception:
            cls.server.cleanup()
            raise
        cls.env = dict(os.environ, KUBECONFIG=cls.server.kubeconfig)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    @classmethod
    def run_kubectl(cls, *args, check=True, input=None, timeout=90):
        p = subprocess.run([KUBECTL_NEWEST] + list(args), env=cls.env, capture_output=True, text=True,
                           input=input, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {p.stdout}\n{p.stderr}\n"
                                 + cls.log_tails())
        return p

    @classmethod
    def log_tails(cls):
        return "--- server log tail:\n" + cls.server.read_log()[-4000:]

    def kubectl(self, *args, **kw):
        return self.run_kubectl(*args, **kw)

    def get(self, *args):
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def pod(self, name, ns="default"):
        return json.loads(self.kubectl("get", "pod", name, "-n", ns, "-o", "json").stdout)

    def wait_pod(self, name, cond, timeout=30, message=None):
        """The pod once cond(pod) holds; on timeout the test fails with its
        status and the server log's tail."""
        last = {}

        def check():
            last["pod"] = self.pod(name)
            return cond(last["pod"])
        try:
            wait_until(check, timeout=timeout, message=message or f"pod {name}")
        except AssertionError:
            self.fail(f"{message or name}: {json.dumps(last.get('pod', {}).get('status'), indent=1)}\n"
                      + self.server.read_log()[-3000:])
        return last["pod"]

    @staticmethod
    def running_ready(pod):
        st = pod.get("status", {})
        return st.get("phase") == "Running" and any(
            c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions", []))
