"""Two nodes on this machine: the server's embedded agent and a standalone
`capstan agent` joined over HTTPS with the join token. Workloads spread over
both, a DaemonSet covers both, `kubectl drain` empties one, and when one
agent dies its pods come back on the other (and `capstan agent --cleanup`
then removes everything the dead agent left)."""
import glob
import json
import os
import subprocess
import unittest

from cluster import IMAGE, AgentNode, ClusterTestCase
from harness import CAPSTAN, wait_until

HTTPD = ["/bin/httpd", "-f", "-p", "80", "-h", "/www"]


class MultiNodeTest(ClusterTestCase):
    # Short default tolerations, so pods of a lost node move within seconds.
    server_args = ("--default-unreachable-toleration-seconds", "2", "--default-not-ready-toleration-seconds", "2")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.agent = AgentNode(cls.server)
            cls.agent.start()
        except Exception:
            cls.agent.cleanup()
            cls.server.cleanup()
            raise
        cls.a, cls.b = cls.server.node_name, cls.agent.node_name

    @classmethod
    def tearDownClass(cls):
        cls.agent.cleanup()
        super().tearDownClass()

    @classmethod
    def log_tails(cls):
        return super().log_tails() + "\n--- agent log tail:\n" + cls.agent.read_log()[-3000:]

    def pods(self, selector):
        items = json.loads(self.kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]
        return [p for p in items if "deletionTimestamp" not in p["metadata"]]

    def wait_pods(self, selector, cond, timeout=60, message=""):
        last = {}

        def check():
            last["pods"] = self.pods(selector)
            return cond(last["pods"])
        try:
            wait_until(check, timeout=timeout, message=message)
        except AssertionError:
            summary = [(p["metadata"]["name"], p["spec"].get("nodeName"), p.get("status", {}).get("phase"))
                       for p in last.get("pods", [])]
            self.fail(f"{message}: {summary}\n" + self.server.read_log()[-3000:])
        return last["pods"]

    def test_a_joined_agent_runs_pods_and_serves_logs_and_exec(self):
        node = json.loads(self.kubectl("get", "node", self.b, "-o", "json").stdout)
        self.assertNotIn("node-role.kubernetes.io/control-plane", node["metadata"].get("labels", {}))
        self.assertEqual(node["status"]["nodeInfo"]["kernelVersion"], os.uname().release)
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: on-b}}
spec:
  nodeSelector: {{kubernetes.io/hostname: {self.b}}}
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sh", "-c", "echo hello-from-b; exec sleep 3600"]
""")
        pod = self.wait_pods("!nothing", lambda ps: any(p["metadata"]["name"] == "on-b" and self.running_ready(p) for p in ps),
                             message="pod on the joined node Ready")
        pod = [p for p in pod if p["metadata"]["name"] == "on-b"][0]
        self.assertEqual(pod["spec"]["nodeName"], self.b)
        cidr = node["spec"]["podCIDR"]
        self.assertTrue(pod["status"]["podIP"].startswith(cidr.rsplit(".", 1)[0] + "."), (pod["status"]["podIP"], cidr))
        # logs and exec go from the API server to the joined agent's kubelet API.
        wait_until(lambda: "hello-from-b" in self.kubectl("logs", "on-b").stdout, timeout=10, message="logs")
        self.assertEqual(self.kubectl("exec", "on-b", "--", "cat", "/etc/hostname").stdout.strip(), "on-b")
        self.kubectl("delete", "pod", "on-b", "--wait=true", "--timeout=30s")

    def test_b_daemonset_covers_every_node(self):
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: everywhere}}
spec:
  selector: {{matchLabels: {{app: everywhere}}}}
  template:
    metadata: {{labels: {{app: everywhere}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{{name: c, image: "{IMAGE}", command: {json.dumps(HTTPD)}}}]
""")
        pods = self.wait_pods("app=everywhere", lambda ps: len(ps) == 2 and all(self.running_ready(p) for p in ps),
                              message="one ready pod per node")
        self.assertEqual(sorted(p["spec"]["nodeName"] for p in pods), sorted([self.a, self.b]))
        ds = json.loads(self.kubectl("get", "daemonset", "everywhere", "-o", "json").stdout)
        wait_until(lambda: json.loads(self.kubectl("get", "daemonset", "everywhere", "-o", "json").stdout)
                   ["status"].get("numberReady") == 2, timeout=30, message="DaemonSet status numberReady 2")
        self.assertEqual(ds["status"]["desiredNumberScheduled"], 2)
        self.kubectl("delete", "daemonset", "everywhere", "--wait=true", "--timeout=60s")
        # --wait waits for the DaemonSet only; its pods go after it (background
        # propagation), and a drain that finds one still terminating fails
        # (as kubectl's does against any cluster): wait for them all.
        wait_until(lambda: not json.loads(self.kubectl("get", "pods", "-l", "app=everywhere", "-o", "json").stdout)
                   ["items"], timeout=60, message="the DaemonSet's pods gone, terminating ones too")

    def test_c_drain_moves_pods_off_a_node(self):
        self.kubectl("create", "deployment", "drained", f"--image={IMAGE}", "--replicas=4", "--", *HTTPD)
        self.kubectl("patch", "deployment", "drained", "-p",
                     '{"spec":{"template":{"spec":{"terminationGracePeriodSeconds":1}}}}')
        self.wait_pods("app=drained", lambda ps: len(ps) == 4 and all(self.running_ready(p) for p in ps)
                       and {p["spec"]["nodeName"] for p in ps} == {self.a, self.b},
                       message="4 replicas over both nodes")
        self.kubectl("drain", self.b, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=90s")
        pods = self.wait_pods("app=drained", lambda ps: len(ps) == 4 and all(self.running_ready(p) for p in ps)
                              and all(p["spec"]["nodeName"] == self.a for p in ps), message="all replicas on node a")
        self.assertEqual(len(pods), 4)
        node = json.loads(self.kubectl("get", "node", self.b, "-o", "json").stdout)
        self.assertTrue(node["spec"].get("unschedulable"))
        self.kubectl("uncordon", self.b)
        self.kubectl("delete", "deployment", "drained")
        self.wait_pods("app=drained", lambda ps: not ps, message="pods of the deleted deployment gone")

    def test_z_lost_node_pods_come_back_elsewhere(self):
        # Runs last: it kills the joined agent.
        self.kubectl("create", "deployment", "survivor", f"--image={IMAGE}", "--replicas=2", "--", *HTTPD)
        self.kubectl("patch", "deployment", "survivor", "-p", json.dumps({"spec": {"template": {"spec": {
            "terminationGracePeriodSeconds": 1,
            "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                                   "labelSelector": {"matchLabels": {"app": "survivor"}}}}]}}}}}}))
        pods = self.wait_pods("app=survivor", lambda ps: len(ps) == 2 and all(self.running_ready(p) for p in ps)
                              and {p["spec"]["nodeName"] for p in ps} == {self.a, self.b},
                              message="one replica per node")
        tolerations = {t["key"]: t.get("tolerationSeconds") for t in pods[0]["spec"]["tolerations"]}
        self.assertEqual(tolerations["node.kubernetes.io/unreachable"], 2)
        lost = [p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == self.b][0]

        self.agent.kill()  # SIGKILL: the node's Lease stops being renewed
        wait_until(lambda: self.kubectl("get", "node", self.b, "-o",
                                        "jsonpath={.status.conditions[?(@.type=='Ready')].status}").stdout == "Unknown",
                   timeout=40, message="lost node Ready=Unknown")
        node = json.loads(self.kubectl("get", "node", self.b, "-o", "json").stdout)
        self.assertIn("node.kubernetes.io/unreachable", [t["key"] for t in node["spec"].get("taints", [])])
        pods = self.wait_pods("app=survivor", lambda ps: len([p for p in ps if p["spec"].get("nodeName") == self.a
                                                              and self.running_ready(p)]) == 2,
                              timeout=60, message="both replicas Ready on the surviving node")
        self.assertNotIn(lost, [p["metadata"]["name"] for p in pods])
        self.kubectl("delete", "deployment", "survivor")
        # Nothing will ever confirm the lost node's pods gone: force them, as an operator would.
        self.kubectl("delete", "pods", "--field-selector", f"spec.nodeName={self.b}", "--force",
                     "--grace-period=0")

        # The killed agent left its containers, pod network and rules behind
        # (by design: a restart adopts them). `capstan agent --cleanup` removes them all.
        table = "capstan_" + "".join(c if c.isalnum() else "_" for c in self.b)
        self.assertIn(table, subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout)
        p = subprocess.run([CAPSTAN, "agent", "--cleanup", "--data-dir", self.agent.data_dir, "--node-name", self.b,
                            "--cni-bridge", self.agent.bridge, "--isolate-pod-network"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn(table, subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout)
        self.assertNotEqual(subprocess.run(["ip", "link", "show", self.agent.bridge], capture_output=True).returncode, 0)
        with open("/proc/mounts") as f:
            self.assertNotIn(self.agent.data_dir, f.read())
        self.assertEqual(glob.glob(f"/sys/fs/cgroup/*/capstan/{self.b}"), [])
        self.assertEqual(glob.glob(f"/run/capstan/{self.b}/netns/*"), [])


if __name__ == "__main__":
    unittest.main()
