"""capstan's built-in alerting end to end: the default AlertRules, an alert
that fires for a really crash-looping pod (Alert object, Event, condition on
the pod), delivered to a real Alertmanager (Debian's prometheus-alertmanager,
which routes it on to a webhook) and to a Webhook AlertReceiver, and resolved
in both when the Deployment is fixed. Bad rules are refused."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.request

from cluster import IMAGE, ClusterTestCase
from harness import LoggedProcess, RecordingHttpServer, free_port, wait_until

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


class Hook(RecordingHttpServer):
    """Keeps the JSON bodies POSTed to it, by path."""

    def bodies(self, path):
        return [json.loads(r.body) for r in self.received(path)]


class Alertmanager(LoggedProcess):
    def __init__(self, hook_url):
        self.dir = tempfile.mkdtemp(prefix="capstan-e2e-alertmanager-")
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "alertmanager.log")
        config = os.path.join(self.dir, "alertmanager.yml")
        with open(config, "w") as f:
            f.write(f"""
route:
  receiver: hook
  group_by: [alertname, namespace, pod]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: hook
  webhook_configs:
  - url: {hook_url}
    send_resolved: true
""")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [ALERTMANAGER, f"--config.file={config}", f"--storage.path={self.dir}/data",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_until(lambda: self.ready(), timeout=30, interval=0.1, message="alertmanager ready")

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"alertmanager exited: {self.read_log()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def alerts(self):
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as r:
            return json.loads(r.read())

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class AlertsTest(ClusterTestCase):
    server_args = ("--alert-evaluation-interval", "1s")

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(ALERTMANAGER):
            raise unittest.SkipTest("Debian's prometheus-alertmanager is not installed (scripts/deps.sh)")
        cls.hook = Hook()
        cls.alertmanager = None
        try:
            cls.alertmanager = Alertmanager(f"http://127.0.0.1:{cls.hook.port}/from-alertmanager")
            super().setUpClass()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "server", None):
            super().tearDownClass()
        if cls.alertmanager:
            cls.alertmanager.cleanup()
        cls.hook.close()

    def alert(self, name):
        p = self.kubectl("get", "alert", name, "-o", "json", check=False)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def test_default_rules_are_listed_with_their_runbooks(self):
        rules = self.get("alertrules")["items"]
        checks = {r["spec"]["check"] for r in rules}
        self.assertLessEqual({"PodCrashLooping", "ContainerOOMKilled", "DeploymentReplicasMismatch",
                              "DeploymentNotProgressing", "NodeNotReady", "NodeUnderPressure", "JobFailed",
                              "APIServerErrors", "APIServerSlow", "StoreSlow", "CertificateExpiry"}, checks)
        for r in rules:
            self.assertIn("Look:", r["spec"]["runbook"], r["metadata"]["name"])
            self.assertIn("Fix:", r["spec"]["runbook"], r["metadata"]["name"])
        out = self.kubectl("get", "alertrules").stdout
        self.assertIn("CHECK", out.splitlines()[0])
        self.assertIn("pod-crash-looping", out)
        self.assertIn("alertrules", self.kubectl("api-resources", "--api-group=alerting.capstan.io").stdout)

    def test_bad_rules_are_refused_and_nothing_is_stored(self):
        p = self.kubectl("apply", "-f", "-", check=False, input="""
apiVersion: alerting.capstan.io/v1alpha1
kind: AlertRule
metadata: {name: broken}
spec: {check: PodOnFire, for: soon, severity: loud}
""")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('The AlertRule "broken" is invalid', p.stderr)
        self.assertIn('spec.check: Unsupported value: "PodOnFire"', p.stderr)
        self.assertIn('spec.for: Invalid value: "soon"', p.stderr)
        self.assertIn('spec.severity: Unsupported value: "loud"', p.stderr)
        self.assertNotEqual(self.kubectl("get", "alertrule", "broken", check=False).returncode, 0)
        p = self.kubectl("patch", "alertrule", "job-failed", "--type=merge", "-p", '{"spec":{"threshold":-1}}',
                         check=False)
        self.assertIn("spec.threshold: Invalid value: -1", p.stderr)
        p = self.kubectl("apply", "-f", "-", check=False, input="""
apiVersion: alerting.capstan.io/v1alpha1
kind: AlertReceiver
metadata: {name: pigeon}
spec: {url: "ftp://example/", format: Carrier}
""")
        self.assertIn('spec.url: Invalid value: "ftp://example/": must be an http:// or https:// URL', p.stderr)
        self.assertIn('spec.format: Unsupported value: "Carrier"', p.stderr)
        self.assertNotEqual(self.kubectl("get", "alertreceiver", "pigeon", check=False).returncode, 0)

    def test_crash_looping_pod_fires_is_delivered_and_resolves(self):
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: alerting.capstan.io/v1alpha1
kind: AlertReceiver
metadata: {{name: alertmanager}}
spec: {{url: "{self.alertmanager.url}", format: Alertmanager}}
---
apiVersion: alerting.capstan.io/v1alpha1
kind: AlertReceiver
metadata: {{name: hook}}
spec: {{url: "http://127.0.0.1:{self.hook.port}/from-capstan", format: Webhook}}
""")
        # The default waits 5 minutes; a user changes that declaratively.
        self.kubectl("patch", "alertrule", "pod-crash-looping", "--type=merge", "-p", '{"spec":{"for":"2s"}}')
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: crasher}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: crasher}}}}
  template:
    metadata: {{labels: {{app: crasher}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {IMAGE}
        command: ["/bin/sh", "-c", "echo starting; exit 3"]
""")
        wait_until(lambda: self.get("pods", "-l", "app=crasher")["items"], timeout=30, message="crasher pod")
        pod = self.get("pods", "-l", "app=crasher")["items"][0]["metadata"]["name"]
        name = f"pod-crash-looping.default.{pod}"
        last = {}

        def firing():
            last["alert"] = self.alert(name)
            return last["alert"] and last["alert"]["status"].get("state") == "Firing"
        try:
            wait_until(firing, timeout=90, message="the crash-loop alert firing")
        except AssertionError:
            self.fail(f"alert {name}: {last.get('alert')}\npods: {self.kubectl('get', 'pods', '-o', 'wide').stdout}"
                      + self.log_tails())
        a = last["alert"]
        self.assertEqual(a["spec"]["object"]["kind"], "Pod")
        self.assertEqual(a["spec"]["object"]["name"], pod)
        self.assertIn("CrashLoopBackOff", a["status"]["message"])
        self.assertIn("Look:", a["spec"]["runbook"])
        self.assertIn(f"Pod default/{pod} is crash looping", a["spec"]["summary"])
        self.assertIn("Firing", self.kubectl("get", "alerts").stdout)
        # The pod carries a condition, and an Event says it.
        wait_until(lambda: any(c["type"] == "alerting.capstan.io/pod-crash-looping" and c["status"] == "True"
                               for c in self.pod(pod)["status"].get("conditions", [])),
                   timeout=15, message="alert condition on the pod")
        wait_until(lambda: any(e["reason"] == "AlertFiring" for e in self.get(
            "events", "--field-selector", f"involvedObject.name={pod}")["items"]),
            timeout=15, message="AlertFiring event")
        self.assertIn("AlertFiring", self.kubectl("describe", "pod", pod).stdout)
        # A crash loop repeats its BackOff event: one Event object whose count grows, not a flood.
        def backoffs():
            return [e for e in self.get("events", "--field-selector", f"involvedObject.name={pod},reason=BackOff")["items"]]
        wait_until(lambda: any(e.get("count", 1) >= 2 for e in backoffs()), timeout=60,
                   message="the BackOff event aggregated")
        self.assertEqual(len(backoffs()), 1, backoffs())

        # A real Alertmanager has it, and routes it on to its own webhook receiver.
        def in_alertmanager():
            return [x for x in self.alertmanager.alerts()
                    if x["labels"].get("alertname") == "pod-crash-looping" and x["labels"].get("pod") == pod]
        wait_until(in_alertmanager, timeout=20, message="alert in Alertmanager")
        am = in_alertmanager()[0]
        self.assertEqual(am["labels"]["namespace"], "default")
        self.assertEqual(am["labels"]["severity"], "warning")
        self.assertIn("Fix:", am["annotations"]["runbook"])
        wait_until(lambda: any(b["status"] == "firing" and b["alerts"][0]["labels"].get("pod") == pod
                               for b in self.hook.bodies("/from-alertmanager")),
                   timeout=20, message="Alertmanager's webhook notification")
        # capstan's own Webhook receiver got the same alert in Alertmanager's webhook body.
        wait_until(lambda: any(b["version"] == "4" and any(x["labels"].get("pod") == pod and x["status"] == "firing"
                                                           for x in b["alerts"])
                               for b in self.hook.bodies("/from-capstan")),
                   timeout=20, message="capstan's webhook notification")
        self.assertTrue(self.get("alertreceivers", "alertmanager")["status"].get("lastSendTime"))

        # Fixing the Deployment replaces the pod: the alert resolves everywhere.
        self.kubectl("patch", "deployment", "crasher", "--type=json", "-p", json.dumps(
            [{"op": "replace", "path": "/spec/template/spec/containers/0/command",
              "value": ["/bin/sleep", "3600"]}]))
        wait_until(lambda: (self.alert(name) or {}).get("status", {}).get("state") == "Resolved",
                   timeout=60, message="alert resolved")
        wait_until(lambda: not in_alertmanager(), timeout=30, message="alert gone from Alertmanager")
        wait_until(lambda: any(b["status"] == "resolved" and b["alerts"][0]["labels"].get("pod") == pod
                               for b in self.hook.bodies("/from-alertmanager")),
                   timeout=30, message="Alertmanager's resolved notification")
        wait_until(lambda: any(any(x["labels"].get("pod") == pod and x["status"] == "resolved" for x in b["alerts"])
                               for b in self.hook.bodies("/from-capstan")),
                   timeout=20, message="capstan's resolved notification")
        self.assertEqual(self.get("alertrule", "pod-crash-looping")["status"]["firing"], 0)


if __name__ == "__main__":
    unittest.main()
