"""Container metrics end to end: the agent's cAdvisor and resource metrics
(through the API server's node proxy), and metrics.k8s.io served by the API
server for the real `kubectl top`."""
import json
import re
import time

from cluster import IMAGE, ClusterTestCase
from harness import wait_until


def millicores(text):
    """kubectl top's CPU column: "250m" or "1" (cores)."""
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


class MetricsTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # A busy loop (held to half a core so it leaves the machine's other
        # work alone) and an idle pod.
        cls.run_kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: spin, labels: {{app: spin, tier: metrics}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: loop
    image: {IMAGE}
    command: ["/bin/sh", "-c", "while :; do :; done"]
    resources: {{limits: {{cpu: 500m, memory: 64Mi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: idle, labels: {{app: idle, tier: metrics}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: sleep
    image: {IMAGE}
    command: ["/bin/sleep", "3600"]
  - name: sidecar
    image: {IMAGE}
    command: ["/bin/sleep", "3600"]
""")

        def running():
            items = json.loads(cls.run_kubectl("get", "pods", "-l", "tier=metrics", "-o", "json").stdout)["items"]
            return len(items) == 2 and all(cls.running_ready(p) for p in items)
        wait_until(running, timeout=60, message="spin and idle running")

    def top_pods(self, *args):
        """kubectl top pods rows as dicts keyed by the header, once metrics are there."""
        last = {}

        def ready():
            p = self.kubectl("top", "pods", *args, check=False)
            last["p"] = p
            if p.returncode != 0:
                return None
            lines = p.stdout.strip().splitlines()
            header = re.split(r"\s{2,}", lines[0].strip())
            rows = [dict(zip(header, re.split(r"\s+", line.strip()))) for line in lines[1:]]
            return rows or None
        try:
            return wait_until(ready, timeout=30, interval=0.5, message="kubectl top pods")
        except AssertionError:
            self.fail(f"kubectl top pods {args}: {last['p'].stdout}{last['p'].stderr}\n" + self.log_tails())

    def test_top_pods_shows_the_busy_pod(self):
        rows = self.top_pods()
        by_name = {r["NAME"]: r for r in rows}
        self.assertIn("spin", by_name, rows)
        self.assertIn("idle", by_name, rows)
        spin = millicores(by_name["spin"]["CPU(cores)"])
        idle = millicores(by_name["idle"]["CPU(cores)"])
        # Rising: from nothing at its start to a good part of its half core.
        self.assertGreater(spin, 100, rows)
        self.assertLess(spin, 700, rows)
        self.assertLess(idle, 50, rows)
        self.assertRegex(by_name["spin"]["MEMORY(bytes)"], r"^\d+Mi$")

        first = json.loads(self.kubectl("get", "--raw",
                                        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/spin").stdout)
        self.assertEqual(first["kind"], "PodMetrics")
        self.assertEqual(first["metadata"]["labels"]["app"], "spin")
        self.assertEqual([c["name"] for c in first["containers"]], ["loop"])
        self.assertRegex(first["window"], r"^[\d.hms]+$")

    def test_top_pods_all_namespaces_containers_sorted(self):
        rows = self.top_pods("-A", "--containers", "--sort-by=cpu")
        mine = [r for r in rows if r["NAMESPACE"] == "default"]
        self.assertEqual([(r["POD"], r["NAME"]) for r in mine][:1], [("spin", "loop")], rows)
        self.assertEqual(sorted(r["NAME"] for r in mine if r["POD"] == "idle"), ["sidecar", "sleep"])
        by_mem = self.top_pods("-l", "tier=metrics", "--sort-by=memory")
        self.assertEqual(sorted(r["NAME"] for r in by_mem), ["idle", "spin"])
        # A label selector that matches nothing.
        p = self.kubectl("top", "pods", "-l", "app=nothing", check=False)
        self.assertIn("No resources found", p.stdout + p.stderr)

    def test_top_nodes(self):
        last = {}

        def ready():
            p = self.kubectl("top", "nodes", check=False)
            last["p"] = p
            return p.returncode == 0 and self.server.node_name in p.stdout and p
        try:
            p = wait_until(ready, timeout=30, interval=0.5, message="kubectl top nodes")
        except AssertionError:
            self.fail(last["p"].stdout + last["p"].stderr + self.log_tails())
        line = [l for l in p.stdout.splitlines() if l.startswith(self.server.node_name)][0]
        name, cpu, cpu_pct, mem, mem_pct = line.split()
        self.assertGreater(millicores(cpu), 100, p.stdout)  # the busy pod at least
        self.assertRegex(cpu_pct, r"^\d+%$")
        self.assertRegex(mem, r"^\d+Mi$")
        self.assertRegex(mem_pct, r"^\d+%$")
        nm = json.loads(self.kubectl("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/nodes/{self.server.node_name}").stdout)
        self.assertEqual(nm["kind"], "NodeMetrics")
        self.assertIn("kubernetes.io/hostname", nm["metadata"]["labels"])

    def test_cadvisor_and_resource_metrics_through_the_node_proxy(self):
        node = self.server.node_name

        def scrape(path):
            return self.kubectl("get", "--raw", f"/api/v1/nodes/{node}/proxy/metrics/{path}").stdout

        def cpu_of(text):
            m = re.search(r'^container_cpu_usage_seconds_total\{container="loop",cpu="total",id="[^"]+",'
                          r'image="capstan\.test/busybox:1",name="[^"]+",namespace="default",pod="spin"\} (\S+) \d+$',
                          text, re.M)
            return float(m.group(1)) if m else None
        text = scrape("cadvisor")
        first = cpu_of(text)
        self.assertIsNotNone(first, text[:3000])
        self.assertRegex(text, r'(?m)^container_memory_working_set_bytes\{container="loop",.*pod="spin"\} \d+ \d+$')
        self.assertRegex(text, r'(?m)^container_memory_rss\{container="loop",.*pod="spin"\} \d+ \d+$')
        self.assertRegex(text, r'(?m)^container_network_receive_bytes_total\{container="",id="[^"]+",image="",'
                               r'interface="eth0",name="",namespace="default",pod="spin"\} \d+ \d+$')
        self.assertRegex(text, r'(?m)^container_network_transmit_bytes_total\{.*interface="eth0".*pod="spin"\} \d+ \d+$')
        self.assertRegex(text, r'(?m)^container_fs_usage_bytes\{container="loop",device="[^"]*",.*pod="spin"\} \d+ \d+$')
        time.sleep(1)
        self.assertGreater(cpu_of(scrape("cadvisor")), first)

        res = scrape("resource")
        self.assertRegex(res, r'(?m)^container_cpu_usage_seconds_total\{container="loop",namespace="default",'
                              r'pod="spin"\} \S+ \d+$')
        self.assertRegex(res, r'(?m)^pod_memory_working_set_bytes\{namespace="default",pod="idle"\} \S+ \d+$')
        self.assertRegex(res, r"(?m)^node_cpu_usage_seconds_total \S+ \d+$")
        self.assertIn("resource_scrape_error 0\n", res)

        own = self.kubectl("get", "--raw", f"/api/v1/nodes/{node}/proxy/metrics").stdout
        self.assertRegex(own, r"(?m)^kubelet_running_pods [1-9]\d*$")

        p = self.kubectl("get", "--raw", "/api/v1/nodes/no-such-node/proxy/metrics/cadvisor", check=False)
        self.assertIn('nodes "no-such-node" not found', p.stderr)

    def test_discovery_and_errors(self):
        out = self.kubectl("api-resources", "--api-group=metrics.k8s.io", "-o", "wide").stdout
        self.assertRegex(out, r"(?m)^nodes\s+metrics\.k8s\.io/v1beta1\s+false\s+NodeMetrics\s+get,list")
        self.assertRegex(out, r"(?m)^pods\s+metrics\.k8s\.io/v1beta1\s+true\s+PodMetrics\s+get,list")
        groups = json.loads(self.kubectl("get", "--raw", "/apis").stdout)
        self.assertIn("metrics.k8s.io", [g["name"] for g in groups["groups"]])
        p = self.kubectl("top", "pod", "no-such-pod", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("NotFound", p.stderr)
        lst = json.loads(self.kubectl("get", "--raw",
                                      "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Dspin").stdout)
        self.assertEqual(lst["kind"], "PodMetricsList")
        self.assertEqual([i["metadata"]["name"] for i in lst["items"]], ["spin"])


if __name__ == "__main__":
    import unittest
    unittest.main()
