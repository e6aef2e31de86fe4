"""A capstan server with its node agent, for tests with real containers.

Each NodeServer gets its own node name, pod bridge and data dir, runs with
--isolate-pod-network (pods reach the host and each other, nothing beyond),
and on cleanup deletes its pods, stops the server and runs `capstan
cleanup`, which removes every container, network namespace, veth, bridge,
cgroup and iptables rule the agent made.
"""
import os
import secrets
import subprocess
import tempfile
import threading

from harness import CAPSTAN, SOURCE_DIR, Server

IMAGE = "capstan.test/busybox:1"
_image_lock = threading.Lock()
_image_archive = None


def busybox_archive():
    """Builds the test image (an OCI archive of Debian's busybox-static) once."""
    global _image_archive
    with _image_lock:
        if _image_archive is None:
            d = tempfile.mkdtemp(prefix="capstan-image-")
            path = os.path.join(d, "busybox.tar")
            subprocess.run(["/usr/bin/python3", os.path.join(SOURCE_DIR, "tests", "images", "build_busybox_image.py"),
                            "--archive", path, "--tag", "1"], check=True, capture_output=True)
            _image_archive = path
        return _image_archive


class NodeServer(Server):
    """A server running its embedded agent."""

    def __init__(self, extra_args=()):
        suffix = secrets.token_hex(3)
        self.node_name = "node-" + suffix
        self.bridge = "cst" + suffix
        super().__init__(extra_args=["--node-name", self.node_name, "--cni-bridge", self.bridge,
                                     "--isolate-pod-network", "--kubelet-port", "0"] + list(extra_args))
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
