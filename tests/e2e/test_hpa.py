"""HorizontalPodAutoscaler end to end: a CPU-bound Deployment autoscaled with
the real `kubectl autoscale` (autoscaling/v2) scales from 1 to 3 replicas
under load and back to 1 once its pods go idle. The controller reads the
metrics.k8s.io PodMetrics the API server computes from the agent's cgroups.

The server runs the HPA every second and holds scale-downs for 5 s (instead
of upstream's 15 s and 5 min) so the test stays short."""
import json
import os
import shutil
import tempfile

from cluster import IMAGE, ClusterTestCase
from harness import wait_until


class HpaTest(ClusterTestCase):
    server_args = ("--horizontal-pod-autoscaler-sync-period=1s",
                   "--horizontal-pod-autoscaler-downscale-stabilization=5s")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The pods spin while /ctl/idle is absent; the folder is on the host,
        # shared by every replica on this one node.
        cls.ctl_dir = tempfile.mkdtemp(prefix="capstan-hpa-")
        os.chmod(cls.ctl_dir, 0o755)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.ctl_dir, ignore_errors=True)

    def replicas(self):
        d = self.get("deployment", "web")
        return d["spec"].get("replicas"), d.get("status", {}).get("readyReplicas", 0)

    def hpa_status(self):
        return self.get("hpa", "web").get("status", {})

    def test_scales_up_under_load_and_back_down(self):
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      volumes: [{{name: ctl, hostPath: {{path: {self.ctl_dir}, type: Directory}}}}]
      containers:
      - name: spin
        image: {IMAGE}
        command: ["/bin/sh", "-c", "while :; do if [ -f /ctl/idle ]; then sleep 1; fi; done"]
        volumeMounts: [{{name: ctl, mountPath: /ctl}}]
        resources: {{requests: {{cpu: 100m}}, limits: {{cpu: 200m, memory: 32Mi}}}}
""")
        wait_until(lambda: self.replicas()[1] == 1, timeout=60, message="web running")

        out = self.kubectl("autoscale", "deployment", "web", "--cpu-percent=50", "--min=1", "--max=3").stdout
        self.assertIn("horizontalpodautoscaler.autoscaling/web autoscaled", out)
        hpa = self.get("hpa", "web")
        self.assertEqual(hpa["apiVersion"], "autoscaling/v2")
        self.assertEqual(hpa["spec"]["scaleTargetRef"], {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"})
        self.assertEqual(hpa["spec"]["metrics"][0]["resource"],
                         {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}})

        try:
            wait_until(lambda: self.replicas()[0] == 3, timeout=45, interval=0.5, message="scaled up to 3")
        except AssertionError:
            self.fail(json.dumps(self.hpa_status(), indent=1) + self.log_tails())
        st = self.hpa_status()
        self.assertTrue(st.get("lastScaleTime"), st)
        conds = {c["type"]: c for c in st["conditions"]}
        self.assertEqual(conds["ScalingActive"]["status"], "True", st)
        self.assertEqual(conds["ScalingActive"]["reason"], "ValidMetricFound", st)
        events = self.get("events", "--field-selector", "involvedObject.name=web,reason=SuccessfulRescale")["items"]
        messages = [e["message"] for e in events]
        self.assertTrue(any(m.startswith("New size: ") and
                            m.endswith("reason: cpu resource utilization (percentage of request) above target")
                            for m in messages), messages)

        # kubectl's table as upstream prints it.
        table = self.kubectl("get", "hpa", "web").stdout.splitlines()
        self.assertEqual(table[0].split(), ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"])
        self.assertRegex(table[1], r"^web\s+Deployment/web\s+cpu: (\d+%|<unknown>)/50%\s+1\s+3\s+\d+\s+\S+$")

        with open(os.path.join(self.ctl_dir, "idle"), "w"):
            pass
        try:
            wait_until(lambda: self.replicas()[0] == 1, timeout=45, interval=0.5, message="scaled down to 1")
        except AssertionError:
            self.fail(json.dumps(self.hpa_status(), indent=1) + self.log_tails())
        events = self.get("events", "--field-selector", "involvedObject.name=web,reason=SuccessfulRescale")["items"]
        self.assertIn("New size: 1; reason: All metrics below target", [e["message"] for e in events])

    def test_invalid_hpa_is_rejected(self):
        p = self.kubectl("apply", "-f", "-", check=False, input="""
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: bad}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ""}
  minReplicas: 3
  maxReplicas: 2
""")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`", p.stderr)
        self.assertIn("spec.scaleTargetRef.name: Required value", p.stderr)
