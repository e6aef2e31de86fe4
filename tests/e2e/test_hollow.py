"""Hollow nodes (kubemark's idea): one `capstan agent --hollow` process
simulates many nodes over HTTPS; a Deployment spreads over them and every
replica is reported Running, with the scheduler and controllers of the
real server."""
import json
import os
import signal
import subprocess
import tempfile
import shutil
import time
import unittest

from harness import CAPSTAN, KUBECTL_NEWEST, LoggedProcess, Server, wait_until

NODES = 20
REPLICAS = 200


class ControlPlane(Server):
    """A server with controllers and scheduler but no node agent of its own."""
    with_agent = True  # keeps the harness from disabling the controllers

    def __init__(self):
        super().__init__(extra_args=["--disable-agent"])


class HollowAgent(LoggedProcess):
    """`capstan agent --hollow` simulating `count` nodes for `server`."""
    stop_timeout = 20

    def __init__(self, server, count):
        self.data_dir = tempfile.mkdtemp(prefix="capstan-e2e-hollow-")
        self.log_path = os.path.join(self.data_dir, "hollow.log")
        with open(os.path.join(server.data_dir, "token")) as f:
            token = f.read().strip()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [CAPSTAN, "agent", "--hollow", "--hollow-nodes", str(count), "--server", server.url, "--token", token,
             "--node-name", "hollow", "--data-dir", self.data_dir],
            stdout=self.log, stderr=subprocess.STDOUT)

    def cleanup(self):
        self.kill(signal.SIGTERM)
        shutil.rmtree(self.data_dir, ignore_errors=True)


class HollowNodesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ControlPlane()
        cls.hollow = None
        try:
            cls.server.start()
            cls.hollow = HollowAgent(cls.server, NODES)
        except Exception:
            cls.tearDownClass()
            raise
        cls.env = dict(os.environ, KUBECONFIG=cls.server.kubeconfig)

    @classmethod
    def tearDownClass(cls):
        if cls.hollow:
            cls.hollow.cleanup()
        cls.server.cleanup()

    def kubectl(self, *args, check=True, timeout=60):
        p = subprocess.run([KUBECTL_NEWEST] + list(args), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            self.fail(f"kubectl {' '.join(args)} failed: {p.stdout}\n{p.stderr}")
        return p

    def test_deployment_spreads_over_hollow_nodes(self):
        def ready_nodes():
            nodes = json.loads(self.kubectl("get", "nodes", "-o", "json").stdout)["items"]
            return [n for n in nodes if any(c["type"] == "Ready" and c["status"] == "True"
                                            for c in n["status"].get("conditions", []))]
        wait_until(lambda: len(ready_nodes()) == NODES, timeout=90, message=f"{NODES} hollow nodes Ready")
        node = ready_nodes()[0]
        self.assertEqual(node["status"]["capacity"]["cpu"], "4")
        self.assertTrue(node["spec"].get("podCIDR"))

        start = time.time()
        self.kubectl("create", "deployment", "many", "--image=capstan.test/none:1", f"--replicas={REPLICAS}")

        def running():
            pods = json.loads(self.kubectl("get", "pods", "-l", "app=many", "-o", "json", timeout=120).stdout)["items"]
            return [p for p in pods if p.get("status", {}).get("phase") == "Running"]
        wait_until(lambda: len(running()) == REPLICAS, timeout=120, message=f"{REPLICAS} replicas Running")
        elapsed = time.time() - start
        pods = running()
        per_node = {}
        for p in pods:
            per_node[p["spec"]["nodeName"]] = per_node.get(p["spec"]["nodeName"], 0) + 1
        # Spread by the scheduler's scoring: every node got some, none a pile.
        self.assertEqual(len(per_node), NODES, per_node)
        self.assertLessEqual(max(per_node.values()), 2 * REPLICAS // NODES, per_node)
        self.assertEqual(len({p["status"]["podIP"] for p in pods}), REPLICAS)
        wait_until(lambda: json.loads(self.kubectl("get", "deployment", "many", "-o", "json").stdout)["status"]
                   .get("availableReplicas") == REPLICAS, timeout=30, message="Deployment available")
        print(f"\n{REPLICAS} replicas on {NODES} hollow nodes Running in {elapsed:.1f} s")
        self.kubectl("delete", "deployment", "many")
        wait_until(lambda: not json.loads(self.kubectl("get", "pods", "-l", "app=many", "-o", "json").stdout)["items"],
                   timeout=60, message="pods deleted")


if __name__ == "__main__":
    unittest.main()
