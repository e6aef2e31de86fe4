"""Workload controllers with real containers: a Job runs to its completions,
a CronJob fires, `kubectl set env` / `rollout undo` / `rollout history`,
and a server killed with SIGKILL in the middle of a rollout finishes it
after a restart without extra pods."""
import json
import time
import unittest

from cluster import IMAGE, ClusterTestCase
from harness import wait_until

HTTPD = ["/bin/httpd", "-f", "-p", "80", "-h", "/www"]


class RolloutsTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.started = time.time()
        # Created first: it fires at the next minute, while the other tests run.
        cls.run_kubectl("create", "cronjob", "tick", f"--image={IMAGE}", "--schedule=* * * * *", "--",
                        "/bin/sh", "-c", "echo tick")

    def live_pods(self, selector):
        return [p for p in self.get("pods", "-l", selector)["items"] if "deletionTimestamp" not in p["metadata"]]

    def test_job_runs_to_its_completions(self):
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: count}}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: c, image: "{IMAGE}", command: ["/bin/sh", "-c", "echo done"]}}]
""")
        self.kubectl("wait", "--for=condition=Complete", "job/count", "--timeout=90s", timeout=120)
        job = self.get("job", "count")
        self.assertEqual(job["status"]["succeeded"], 3)
        pods = self.get("pods", "-l", "job-name=count")["items"]
        self.assertEqual(sorted(p["status"]["phase"] for p in pods), ["Succeeded"] * 3)
        self.assertIn("done", self.kubectl("logs", pods[0]["metadata"]["name"]).stdout)
        self.kubectl("delete", "job", "count")

    def test_set_env_history_and_undo(self):
        self.kubectl("create", "deployment", "web", f"--image={IMAGE}", "--replicas=2", "--", *HTTPD)
        self.kubectl("rollout", "status", "deployment/web", "--timeout=90s")
        # A template change (the node has one image only; `set env` rolls like `set image`).
        self.kubectl("set", "env", "deployment/web", "VERSION=2")
        self.kubectl("rollout", "status", "deployment/web", "--timeout=90s")
        pods = self.live_pods("app=web")
        self.assertEqual(len(pods), 2)
        self.assertTrue(all({"name": "VERSION", "value": "2"} in p["spec"]["containers"][0].get("env", [])
                            for p in pods))
        history = self.kubectl("rollout", "history", "deployment/web").stdout
        self.assertIn("1", history)
        self.assertIn("2", history)

        self.kubectl("rollout", "undo", "deployment/web")
        self.kubectl("rollout", "status", "deployment/web", "--timeout=90s")
        wait_until(lambda: len(self.live_pods("app=web")) == 2 and all(
            not p["spec"]["containers"][0].get("env") for p in self.live_pods("app=web")),
            timeout=60, message="pods of the first revision back")
        dep = self.get("deployment", "web")
        self.assertEqual(dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3")
        self.kubectl("delete", "deployment", "web")

    def test_y_server_killed_mid_rollout_finishes_it_without_extra_pods(self):
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: steady}}
spec:
  replicas: 4
  strategy: {{rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
  selector: {{matchLabels: {{app: steady}}}}
  template:
    metadata: {{labels: {{app: steady}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: {IMAGE}
        command: {json.dumps(HTTPD)}
        readinessProbe: {{tcpSocket: {{port: 80}}, initialDelaySeconds: 2, periodSeconds: 1}}
""")
        self.kubectl("rollout", "status", "deployment/steady", "--timeout=120s", timeout=150)
        self.kubectl("set", "env", "deployment/steady", "STEP=2")
        # Mid-rollout: the first new pod exists, not all are replaced.
        wait_until(lambda: any(p["spec"]["containers"][0].get("env") for p in self.live_pods("app=steady")),
                   timeout=30, message="rollout started")
        self.server.kill()  # SIGKILL: controllers, scheduler and agent die with it
        self.server.start()
        self.kubectl("rollout", "status", "deployment/steady", "--timeout=120s", timeout=150)
        wait_until(lambda: len(self.live_pods("app=steady")) == 4, timeout=30, message="4 pods after the rollout")
        pods = self.live_pods("app=steady")
        self.assertTrue(all(p["spec"]["containers"][0].get("env") == [{"name": "STEP", "value": "2"}] for p in pods))
        rs = self.get("replicasets", "-l", "app=steady")["items"]
        self.assertEqual(sorted(r["spec"]["replicas"] for r in rs), [0, 4])
        dep = self.get("deployment", "steady")
        self.assertEqual(dep["status"].get("replicas"), 4)
        self.assertEqual(dep["status"].get("updatedReplicas"), 4)
        self.kubectl("delete", "deployment", "steady")

    def test_z_cronjob_fires(self):
        def jobs():
            return [j for j in self.get("jobs")["items"]
                    if any(o["kind"] == "CronJob" and o["name"] == "tick"
                           for o in j["metadata"].get("ownerReferences", []))]
        left = max(10, 75 - (time.time() - self.started))
        wait_until(lambda: jobs(), timeout=left, message="the CronJob created a Job")
        job = jobs()[0]["metadata"]["name"]
        self.kubectl("wait", "--for=condition=Complete", f"job/{job}", "--timeout=60s", timeout=90)
        cj = self.get("cronjob", "tick")
        self.assertIn("lastScheduleTime", cj["status"])
        self.kubectl("delete", "cronjob", "tick")


if __name__ == "__main__":
    unittest.main()
