"""A real Prometheus (Debian's /usr/bin/prometheus) scraping capstan as a
Kubernetes cluster is scraped: the API server's /metrics (with the
scheduler's and controllers' series), the kube-state-metrics series at
/metrics/cluster-state, and the node's cAdvisor metrics through the API
server's node proxy. The test asks Prometheus, in PromQL, for a running
pod's CPU and memory and a Deployment's available replicas."""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import yaml

from cluster import IMAGE, ClusterTestCase
from harness import LoggedProcess, free_port, wait_until

PROMETHEUS = "/usr/bin/prometheus"


class Prometheus(LoggedProcess):
    """One Prometheus on 127.0.0.1 with its own config and data dir,
    scraping every second."""

    def __init__(self, server, node_name):
        self.dir = tempfile.mkdtemp(prefix="capstan-e2e-prometheus-")
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "prometheus.log")
        tls = self._credentials(server.kubeconfig)
        target = f"127.0.0.1:{server.port}"

        def job(name, path):
            return {"job_name": name, "scheme": "https", "metrics_path": path, "honor_labels": True,
                    "tls_config": tls, "static_configs": [{"targets": [target]}]}
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                job("apiserver", "/metrics"),
                job("kube-state-metrics", "/metrics/cluster-state"),
                job("cadvisor", f"/api/v1/nodes/{node_name}/proxy/metrics/cadvisor"),
            ],
        }
        self.config_path = os.path.join(self.dir, "prometheus.yml")
        with open(self.config_path, "w") as f:
            yaml.safe_dump(config, f)

    def _credentials(self, kubeconfig):
        """The kubeconfig's CA and client certificate, as files Prometheus reads."""
        with open(kubeconfig) as f:
            kc = yaml.safe_load(f)
        cluster = kc["clusters"][0]["cluster"]
        user = kc["users"][0]["user"]
        tls = {}
        for key, field, name in (("ca_file", cluster.get("certificate-authority-data"), "ca.crt"),
                                 ("cert_file", user.get("client-certificate-data"), "client.crt"),
                                 ("key_file", user.get("client-key-data"), "client.key")):
            path = os.path.join(self.dir, name)
            with open(path, "wb") as out:
                out.write(base64.b64decode(field))
            tls[key] = path
        return tls

    def start(self, timeout=30):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.config_path}", f"--storage.tsdb.path={self.dir}/data",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.proc.returncode}: {self.read_log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_until(ready, timeout=timeout, interval=0.1, message="prometheus ready")
        return self

    def cleanup(self):
        self.kill()  # by the PID of the process we started
        shutil.rmtree(self.dir, ignore_errors=True)

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read())
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, promql):
        """The instant vector's samples as (labels, value) pairs."""
        data = self.api("query", query=promql)
        return [(s["metric"], float(s["value"][1])) for s in data["result"]]


class PrometheusTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(PROMETHEUS, os.X_OK):
            raise unittest.SkipTest("Debian's prometheus is not installed (scripts/deps.sh)")
        super().setUpClass()
        try:
            cls.run_kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: spin, labels: {{app: spin}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: loop
    image: {IMAGE}
    command: ["/bin/sh", "-c", "while :; do :; done"]
    resources: {{limits: {{cpu: 200m, memory: 64Mi}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: sleep
        image: {IMAGE}
        command: ["/bin/sleep", "3600"]
""")
            cls.prometheus = Prometheus(cls.server, cls.server.node_name)
            cls.prometheus.start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        prometheus = getattr(cls, "prometheus", None)
        if prometheus:
            prometheus.cleanup()
        super().tearDownClass()

    def wait_query(self, promql, pred=lambda samples: bool(samples), timeout=60):
        """Samples of `promql` once `pred` holds for them."""
        last = {}

        def check():
            samples = self.prometheus.query(promql)
            last["s"] = samples
            return samples if pred(samples) else None
        try:
            samples = wait_until(check, timeout=timeout, interval=0.5, message=promql)
            if os.environ.get("CAPSTAN_E2E_VERBOSE"):
                print(f"\n  {promql} -> {samples}", flush=True)
            return samples
        except AssertionError:
            targets = self.prometheus.api("targets")["activeTargets"]
            health = [(t["labels"]["job"], t["health"], t.get("lastError")) for t in targets]
            self.fail(f"{promql}: last result {last.get('s')}; targets {health}\n" + self.log_tails())

    def test_targets_are_up(self):
        samples = self.wait_query("up == 1", lambda s: len(s) == 3)
        self.assertEqual(sorted(m["job"] for m, _ in samples), ["apiserver", "cadvisor", "kube-state-metrics"])

    def test_cpu_and_memory_of_a_running_pod(self):
        cpu = self.wait_query('rate(container_cpu_usage_seconds_total{namespace="default",pod="spin",'
                              'container="loop"}[5s]) > 0')
        self.assertEqual(len(cpu), 1, cpu)
        # Held to 200m: busy, but never more than its limit (with slack for the window's edges).
        self.assertLess(cpu[0][1], 0.4, cpu)
        mem = self.wait_query('container_memory_working_set_bytes{namespace="default",pod="spin",container="loop"} > 0')
        self.assertEqual(len(mem), 1, mem)
        self.assertLess(mem[0][1], 64 * 1024 * 1024, mem)

    def test_deployment_available_replicas_equal_its_replicas(self):
        available = self.wait_query('kube_deployment_status_replicas_available{namespace="default",deployment="web"}',
                                    lambda s: len(s) == 1 and s[0][1] == 2)
        self.assertEqual(available[0][1], 2)
        # The same through a join, as alert rules write it.
        self.wait_query('kube_deployment_status_replicas_available{deployment="web"}'
                        ' == on(namespace, deployment) kube_deployment_spec_replicas{deployment="web"}')
        phases = self.wait_query('sum by (phase) (kube_pod_status_phase{namespace="default"})',
                                 lambda s: dict((m["phase"], v) for m, v in s).get("Running") == 3)
        self.assertEqual(dict((m["phase"], v) for m, v in phases)["Pending"], 0)
        self.wait_query('kube_node_status_condition{condition="Ready",status="true"} == 1')
        self.wait_query('kube_namespace_status_phase{namespace="default",phase="Active"} == 1')

    def test_scheduler_and_controller_metrics(self):
        scheduled = self.wait_query('scheduler_schedule_attempts_total{result="scheduled",profile="default-scheduler"}'
                                    ' >= 3')
        self.assertGreaterEqual(scheduled[0][1], 3)
        self.wait_query('scheduler_scheduling_attempt_duration_seconds_count{result="scheduled"} >= 3')
        self.wait_query('histogram_quantile(0.99, sum by (le) '
                        '(scheduler_scheduling_attempt_duration_seconds_bucket{result="scheduled"})) > 0')
        self.wait_query('scheduler_pending_pods{queue="active"}')
        for name in ("deployment", "replicaset"):
            self.wait_query(f'workqueue_adds_total{{name="{name}"}} > 0')
            self.wait_query(f'workqueue_work_duration_seconds_count{{name="{name}"}} > 0')
            self.wait_query(f'workqueue_depth{{name="{name}"}}')
            self.wait_query(f'workqueue_queue_duration_seconds_count{{name="{name}"}} > 0')
            self.wait_query(f'workqueue_retries_total{{name="{name}"}}')


if __name__ == "__main__":
    unittest.main()
