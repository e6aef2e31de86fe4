"""The web dashboard in a real browser: headless Chromium (driven by
dashboard_browser.mjs with playwright-core) against a server with a real
node agent and containers, logged in with a bearer token from
--token-auth-file. One scenario in steps (the methods run in name order
and share the browser): log in, scale a Deployment, follow a pod's live
log, delete a pod and see it replaced, see an alert fire; then no request
left the machine and the page logged no errors.

The served dashboard is the one compiled into capstan, or the `npm run
build` output in $CAPSTAN_DASHBOARD_DIR (served with --dashboard-dir).
Screenshots of each step go to $CAPSTAN_ARTIFACTS_DIR/dashboard (default
<build dir>/test-artifacts/dashboard).
"""
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from cluster import IMAGE, ClusterTestCase
from harness import BUILD_DIR, SOURCE_DIR, LineReader, request_json, wait_until

CHROMIUM = os.environ.get("CAPSTAN_CHROMIUM", "/usr/bin/chromium")
DASHBOARD_SOURCE = os.path.join(SOURCE_DIR, "dashboard")
PLAYWRIGHT = os.path.join(DASHBOARD_SOURCE, "node_modules", "playwright-core")
DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboard_browser.mjs")
ARTIFACTS = os.path.join(os.environ.get("CAPSTAN_ARTIFACTS_DIR") or os.path.join(BUILD_DIR, "test-artifacts"),
                         "dashboard")
USER = "dashboard-admin"
NS = "default"
DEPLOY = f"/apis/apps/v1/namespaces/{NS}/deployments"
ALERTING = "/apis/alerting.capstan.io/v1alpha1"


class BrowserError(AssertionError):
    """A command the browser ran and failed (not a lost browser)."""


class Browser:
    """dashboard_browser.mjs: one headless Chromium page, one command at a
    time. close() ends it (and Chromium with it) by PID."""

    def __init__(self, log_path):
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(["node", DRIVER, DASHBOARD_SOURCE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log,
                                     env=dict(os.environ, CAPSTAN_CHROMIUM=CHROMIUM))
        self.out = LineReader(self.proc.stdout)
        try:
            self._answer("start", 60)
        except BaseException:
            self.close()
            raise

    def _answer(self, what, timeout):
        try:
            line = self.out.next(timeout)
        except queue.Empty:
            raise AssertionError(f"browser: no answer to {what} within {timeout}s")
        if line is None:
            raise AssertionError(f"browser exited during {what} ({self.proc.poll()}); see {self.log.name}")
        answer = json.loads(line)
        if not answer.get("ok"):
            raise BrowserError(f"browser {what}: {answer.get('error')}")
        return answer.get("value")

    def call(self, cmd, timeout=30, **args):
        """Runs a command of dashboard_browser.mjs; timeouts are in seconds.
        A failure says what the page logged last."""
        self._send({"cmd": cmd, "timeout": int(timeout * 1000), **args})
        try:
            return self._answer(f"{cmd} {args}", timeout + 30)
        except BrowserError as e:
            self._send({"cmd": "report"})
            report = self._answer("report", 30)
            raise AssertionError(f"{e}\nlast console errors: {report['consoleErrors'][-5:]}\n"
                                 f"page errors: {report['pageErrors'][-5:]}") from None

    def _send(self, command):
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()

    def close(self):
        if self.proc.poll() is None:
            try:
                self._send({"cmd": "close"})
                self.proc.stdin.close()
                self.proc.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.send_signal(signal.SIGTERM)  # the driver closes Chromium on SIGTERM
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self.log.close()


class DashboardTest(ClusterTestCase):
    browser = None

    @classmethod
    def setUpClass(cls):
        for path, what in ((CHROMIUM, "Chromium"), (PLAYWRIGHT, "playwright-core (npm ci in dashboard/)"),
                           (shutil.which("node") or "/nonexistent/node", "node")):
            if not os.path.exists(path):
                raise RuntimeError(f"{what} is missing ({path}): scripts/deps.sh installs it")
        cls.token = secrets.token_hex(16)
        cls.token_dir = tempfile.mkdtemp(prefix="capstan-e2e-dashboard-")
        tokens = os.path.join(cls.token_dir, "tokens.csv")
        with open(tokens, "w") as f:
            f.write(f'{cls.token},{USER},{USER}-uid,"system:masters"\n')
        dev_dir = os.environ.get("CAPSTAN_DASHBOARD_DIR")
        cls.server_args = ("--token-auth-file", tokens) + (("--dashboard-dir", dev_dir) if dev_dir else ())
        os.makedirs(ARTIFACTS, exist_ok=True)
        cls.started = time.monotonic()
        try:
            super().setUpClass()  # stops its server itself when it fails
        except BaseException:
            shutil.rmtree(cls.token_dir, ignore_errors=True)
            raise
        try:
            cls.dashboard_url = f"{cls.server.url}/dashboard/"
            cls.run_kubectl("apply", "-f", "-", input=f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {NS}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: ticker
        image: {IMAGE}
        command: ["/bin/sh", "-c", "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.5; done"]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {NS}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: crash, namespace: {NS}}}
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 1
  containers:
  - name: crash
    image: {IMAGE}
    command: ["/bin/sh", "-c", "exit 1"]
""")
            cls.browser = Browser(os.path.join(ARTIFACTS, "browser.log"))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.browser:
                cls.browser.close()
        finally:
            try:
                super().tearDownClass()
            finally:
                shutil.rmtree(cls.token_dir, ignore_errors=True)
                print(f"\ndashboard test: {time.monotonic() - cls.started:.0f}s; screenshots in {ARTIFACTS}")

    # --- helpers

    def api(self, method, path, body=None, headers=None, expect=200):
        status, doc, _ = request_json(self.server, method, path, body, headers)
        if expect is not None:
            self.assertEqual(status, expect, f"{method} {path}: {doc}")
        return doc

    def shot(self, name):
        path = self.browser.call("screenshot", path=os.path.join(ARTIFACTS, f"{name}.png"))
        print(f"\n  screenshot: {path}", end="")

    def wait_for_api(self, cond, message, timeout=10):
        """wait_until for the effect of a UI action; a timeout fails with
        what the page showed and logged."""
        try:
            return wait_until(cond, timeout=timeout, interval=0.25, message=message)
        except AssertionError as e:
            banner = self.browser.call("textIfAny", testid="error-banner")
            errors = self.browser.call("report")["consoleErrors"][-5:]
            self.fail(f"{e}\nthe page's error banner: {banner!r}\nits last console errors: {errors}")

    def web_pods(self):
        items = self.api("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector=app%3Dweb")["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def running_web_pods(self):
        return sorted((p for p in self.web_pods() if self.running_ready(p)),
                      key=lambda p: p["metadata"]["creationTimestamp"])

    # --- the scenario, in order

    def test_1_login(self):
        self.browser.call("goto", url=self.dashboard_url)
        self.browser.call("waitFor", testid="token-input")
        self.shot("01-login")
        self.browser.call("fill", testid="token-input", value="wrong-token")
        self.browser.call("click", testid="login-button")
        self.browser.call("waitText", testid="login-error", text="did not accept")
        self.browser.call("fill", testid="token-input", value=self.token)
        self.browser.call("click", testid="login-button")
        self.browser.call("waitText", testid="username", text=USER)
        self.shot("02-overview")

    def test_2_scale_deployment(self):
        self.browser.call("click", testid="nav-workloads")
        self.browser.call("waitText", testid=f"deployment-ready-{NS}-web", text="1/1", timeout=90)
        self.shot("03-deployment")
        self.browser.call("click", testid=f"scale-{NS}-web")
        self.browser.call("fill", testid="scale-input", value=2)
        self.browser.call("click", testid="scale-apply")
        self.wait_for_api(lambda: self.api("GET", f"{DEPLOY}/web")["spec"]["replicas"] == 2,
                          "spec.replicas 2 after scaling in the UI")
        self.browser.call("waitText", testid=f"deployment-ready-{NS}-web", text="2/2", timeout=90)
        self.shot("04-scaled")

    def test_3_live_logs(self):
        pod = wait_until(lambda: self.running_web_pods() or None, timeout=60, message="a running web pod")[0]
        name = pod["metadata"]["name"]
        self.browser.call("click", testid="nav-pods")
        self.browser.call("waitText", testid=f"pod-status-{NS}-{name}", text="Running")
        self.browser.call("click", testid=f"pod-link-{NS}-{name}")
        self.browser.call("waitText", testid="logs", text="tick ", timeout=30)
        # A line the container printed after the page was showing its log.
        status, text, _ = self.server.request("GET", f"/api/v1/namespaces/{NS}/pods/{name}/log?tailLines=1")
        self.assertEqual(status, 200, text)
        printed = int(text.split()[-1])
        self.browser.call("waitText", testid="logs", line=f"tick {printed + 4}", timeout=20)
        self.shot("05-live-logs")
        type(self).logged_pod = name
        self.browser.call("click", testid="tab-events")
        self.browser.call("waitText", testid="events", text="Started container ticker")
        self.browser.call("click", testid="tab-yaml")
        yaml = self.browser.call("waitText", testid="yaml", text=f"name: {name}")
        self.assertIn("kind: Pod", yaml)
        self.assertNotIn("managedFields", yaml)

    def test_4_delete_pod(self):
        victim = getattr(self, "logged_pod", None) or self.running_web_pods()[0]["metadata"]["name"]
        before = {p["metadata"]["name"] for p in self.web_pods()}
        self.browser.call("click", testid="nav-pods")
        self.browser.call("fill", testid="filter", value="web-")
        self.browser.call("click", testid=f"delete-pod-{NS}-{victim}")
        self.browser.call("click", testid=f"delete-pod-{NS}-{victim}-confirm")
        new = self.wait_for_api(
            lambda: [p for p in self.running_web_pods() if p["metadata"]["name"] not in before] or None,
            "a replacement web pod running", timeout=90)
        replacement = new[0]["metadata"]["name"]
        self.browser.call("waitText", testid=f"pod-status-{NS}-{replacement}", text="Running", timeout=30)
        self.browser.call("waitFor", testid=f"pod-{NS}-{victim}", state="detached", timeout=60)
        self.shot("06-pod-replaced")

    def test_5_alert_fires(self):
        status, doc, _ = request_json(self.server, "GET", ALERTING)
        if status == 404:
            self.skipTest(f"the alerting API ({ALERTING}) is not served by this build yet")
        self.assertEqual(status, 200, doc)
        self.api("GET", f"{ALERTING}/alertrules/pod-crash-looping")  # a default rule
        self.api("PATCH", f"{ALERTING}/alertrules/pod-crash-looping", {"spec": {"for": "0s"}},
                 {"Content-Type": "application/merge-patch+json"})

        def firing():
            alerts = self.api("GET", f"{ALERTING}/alerts?labelSelector=alerting.capstan.io%2Frule%3Dpod-crash-looping")
            return [a for a in alerts["items"] if a.get("spec", {}).get("object", {}).get("name") == "crash"
                    and a.get("status", {}).get("state") == "Firing"] or None
        alert = wait_until(firing, timeout=120, interval=1, message="the crash pod's alert firing")[0]
        name = alert["metadata"]["name"]
        self.browser.call("click", testid="nav-alerts")
        self.browser.call("waitText", testid=f"alert-{name}", text="Firing", timeout=30)
        self.browser.call("waitText", testid="alertrule-pod-crash-looping", text="0s")
        self.shot("07-alerts")
        self.browser.call("click", testid=f"alert-link-{name}")
        self.browser.call("waitFor", testid="runbook")
        self.assertTrue(self.browser.call("text", testid="runbook").strip())
        self.shot("08-alert-detail")

    def test_6_restart_cordon_and_other_pages(self):
        self.browser.call("click", testid="nav-workloads")
        self.browser.call("click", testid=f"restart-{NS}-web")
        self.browser.call("click", testid=f"restart-{NS}-web-confirm")
        self.wait_for_api(lambda: "kubectl.kubernetes.io/restartedAt" in (
            self.api("GET", f"{DEPLOY}/web")["spec"]["template"]["metadata"].get("annotations") or {}),
            "the restartedAt annotation from the UI's Restart")

        def rolled_out():
            d = self.api("GET", f"{DEPLOY}/web")
            st = d.get("status", {})
            return (st.get("observedGeneration") == d["metadata"]["generation"] and st.get("updatedReplicas") == 2
                    and st.get("readyReplicas") == 2 and st.get("replicas") == 2)
        # New pods add network interfaces to this machine, and Chromium fails
        # requests in flight when it sees one: let the rollout finish first.
        wait_until(rolled_out, timeout=90, interval=0.5, message="the restart's rollout")

        node = self.server.node_name
        self.browser.call("click", testid="nav-nodes")
        self.browser.call("waitText", testid=f"node-status-{node}", text="Ready")
        self.browser.call("click", testid=f"cordon-{node}")
        self.wait_for_api(lambda: self.api("GET", f"/api/v1/nodes/{node}")["spec"].get("unschedulable") is True,
                          "the node cordoned from the UI")
        self.browser.call("waitText", testid=f"node-status-{node}", text="SchedulingDisabled")
        self.shot("09-nodes")
        self.browser.call("click", testid=f"uncordon-{node}")
        self.wait_for_api(lambda: not self.api("GET", f"/api/v1/nodes/{node}")["spec"].get("unschedulable"),
                          "the node uncordoned from the UI")
        self.browser.call("waitFor", testid=f"cordon-{node}")

        self.browser.call("click", testid="nav-services")
        self.browser.call("click", testid=f"service-link-{NS}-web")
        self.browser.call("waitText", testid="ready-endpoints", text="2")
        self.browser.call("click", testid="nav-namespaces")
        self.browser.call("waitFor", testid="namespace-kube-system")
        self.browser.call("select", testid="namespace-select", value=NS)
        self.browser.call("click", testid="nav-overview")
        self.browser.call("waitText", testid=f"workload-deployment-{NS}-web", text="2/2")
        self.browser.call("waitFor", testid=f"overview-node-{node}")
        self.shot("10-overview")

    def test_7_no_foreign_requests_or_page_errors(self):
        report = self.browser.call("report")
        self.assertEqual(report["foreignRequests"], [], "the page requested something beyond this machine")
        self.assertEqual(report["pageErrors"], [], "uncaught exceptions in the page")
        # The only failed responses a healthy session may see: the wrong
        # token's, metrics.k8s.io's before the first scrape, and the alerting
        # API's while it is not served.
        alerting_served = request_json(self.server, "GET", ALERTING)[0] == 200
        unexpected = [r for r in report["failedResponses"]
                      if not (r["status"] == 401 and "/selfsubjectreviews" in r["url"])
                      and not ("/apis/metrics.k8s.io/" in r["url"] and r["status"] in (404, 503))
                      and not (ALERTING in r["url"] and r["status"] == 404 and not alerting_served)]
        self.assertEqual(unexpected, [], "failed API responses")
        # Chromium logs each failed response as a console error, and each
        # request it failed because this machine's interfaces changed (every
        # new pod adds one): the rest are the page's own.
        failed_urls = {r["url"] for r in report["failedResponses"]}
        errors = [e for e in report["consoleErrors"]
                  if not (e["text"].startswith("Failed to load resource") and e["url"] in failed_urls)
                  and e["text"] != "Failed to load resource: net::ERR_NETWORK_CHANGED"]
        self.assertEqual(errors, [], "console errors")


if __name__ == "__main__":
    unittest.main()
