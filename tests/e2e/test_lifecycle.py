"""Container lifecycle end to end, with the real kubectl and real containers:
postStart and preStop hooks (exec, httpGet, sleep), graceful deletion
(SIGTERM within terminationGracePeriodSeconds, SIGKILL after it), OOMKilled,
ConfigMap and Secret volumes updated in place; after each pod, nothing of it
is left on the node (mounts, network namespaces, veths, cgroups, dirs)."""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from cluster import IMAGE, ClusterTestCase
from harness import RecordingHttpServer, request_json, wait_until


def uptime():
    """Seconds since boot: the clock containers share with the host (there
    is no time namespace), so timestamps written inside compare with it."""
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


# A main process that records SIGTERM (with the time) in /out/log and exits.
TRAP_TERM = ("trap 'read t r < /proc/uptime; echo TERM $t >> /out/log; exit 0' TERM; "
             "echo main >> /out/log; while :; do sleep 1 & wait $!; done")


class LifecycleTest(ClusterTestCase):
    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="capstan-e2e-lifecycle-")
        os.chmod(self.out, 0o777)

    def tearDown(self):
        # A failed test leaves no pod behind for the next one.
        self.kubectl("delete", "pods", "--all", "--grace-period=1", "--wait=true", "--timeout=60s", check=False)
        shutil.rmtree(self.out, ignore_errors=True)

    # ------------------------------------------------------------ helpers

    def create(self, manifest):
        self.kubectl("apply", "-f", "-", input=manifest)

    def running(self, name, timeout=30):
        pod = self.wait_pod(name, lambda p: p.get("status", {}).get("phase") == "Running"
                            and all("running" in c.get("state", {})
                                    for c in p["status"].get("containerStatuses", [{}])), timeout=timeout,
                            message=f"{name} Running")
        return pod

    def out_lines(self, name="log"):
        try:
            with open(os.path.join(self.out, name)) as f:
                return f.read().split("\n")[:-1]
        except FileNotFoundError:
            return []

    def events(self, name):
        items = self.get("events", "--field-selector", f"involvedObject.name={name}")["items"]
        return [(e["reason"], e["message"]) for e in items]

    def delete(self, name, timeout=60):
        start = time.monotonic()
        self.kubectl("delete", "pod", name, "--wait=true", f"--timeout={timeout}s", timeout=timeout + 30)
        return time.monotonic() - start

    def node_resources(self, uid, host_veth=None):
        """What the node holds for the pod: mounts (rootfs overlays, volumes,
        pinned namespaces), network namespaces, its veth, cgroups named with
        its uid, its pod dir and container bundles."""
        node = self.server.node_name
        found = []
        with open("/proc/mounts") as f:
            found += ["mount " + line.split()[1] for line in f if uid in line]
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        found += ["netns " + n for n in netns.split("\n") if uid in n]
        run_dir = f"/run/capstan/{node}/netns"
        if os.path.isdir(run_dir):
            found += ["netns " + os.path.join(run_dir, n) for n in os.listdir(run_dir) if uid in n]
        if host_veth:
            links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
            found += ["veth " + line for line in links.split("\n") if line.startswith(host_veth + ":")]
        for hierarchy in os.listdir("/sys/fs/cgroup"):
            d = os.path.join("/sys/fs/cgroup", hierarchy, "capstan", node, uid)
            if os.path.exists(d):
                found.append("cgroup " + d)
        # The pod's files on the run tmpfs; its disk-backed emptyDirs on disk.
        for d in [f"/run/capstan/{node}/pods/{uid}", os.path.join(self.server.data_dir, "pods", uid)]:
            if os.path.exists(d):
                found.append("pod dir " + d)
        # Bundles on tmpfs, the containers' writable layers on disk.
        for kind, d in [("bundle", f"/run/capstan/{node}/runtime/containers"),
                        ("layer", os.path.join(self.server.data_dir, "containers", "layers"))]:
            if os.path.isdir(d):
                found += [f"{kind} {n}" for n in os.listdir(d) if n.startswith(uid)]
        return found

    def delete_and_check(self, name, timeout=60):
        """Deletes the pod and checks that nothing of it is left on the node
        (having checked that the same look finds it while it runs)."""
        uid = self.pod(name)["metadata"]["uid"]
        # The host end of the pod's veth: the ifindex its eth0 is paired with.
        iflink = self.kubectl("exec", name, "--", "cat", "/sys/class/net/eth0/iflink", check=False)
        host_veth = iflink.stdout.strip() if iflink.returncode == 0 else None
        if host_veth:  # it runs: the look must see all of it
            held = " ".join(self.node_resources(uid, host_veth))
            for kind in ["mount", "cgroup", "pod dir", "bundle", "layer", "veth"]:
                self.assertIn(kind, held, f"the leak check does not see the pod's {kind}")
        took = self.delete(name, timeout)
        try:
            wait_until(lambda: not self.node_resources(uid, host_veth), timeout=10, message="pod resources released")
        except AssertionError:
            self.fail(f"left behind by pod {uid}: {self.node_resources(uid, host_veth)}")
        return took

    def test_node_state_is_on_tmpfs(self):
        """The node's run dir (bundles, crun's state, pinned namespaces) is
        a tmpfs even where /run is on the root filesystem: no pod start
        creates files there on the node's disk."""
        run_dir = f"/run/capstan/{self.server.node_name}"
        fs_type = subprocess.run(["stat", "-f", "-c", "%T", run_dir], capture_output=True, text=True, check=True)
        self.assertEqual(fs_type.stdout.strip(), "tmpfs")
        for sub in ["runtime", "crun", "netns"]:
            self.assertTrue(os.path.isdir(os.path.join(run_dir, sub)), sub)

    def test_termination_message_is_read_back(self):
        """What a container writes to its terminationMessagePath (the default
        /dev/termination-log, or a path of its own) is its terminated state's
        message, as kubelet reports it."""
        self.create(f"""
apiVersion: v1
kind: Pod
metadata: {{name: lastwords}}
spec:
  restartPolicy: Never
  containers:
  - name: default-path
    image: {IMAGE}
    command: ["/bin/sh", "-c", "echo -n 'out of cheese' > /dev/termination-log; exit 3"]
  - name: own-path
    image: {IMAGE}
    terminationMessagePath: /tmp/why
    command: ["/bin/sh", "-c", "echo -n 'all done' > /tmp/why"]
""")
        def finished(p):
            cs = p.get("status", {}).get("containerStatuses", [])
            return len(cs) == 2 and all("terminated" in c.get("state", {}) for c in cs)
        pod = self.wait_pod("lastwords", finished, timeout=30, message="both containers terminated")
        by_name = {c["name"]: c["state"]["terminated"] for c in pod["status"]["containerStatuses"]}
        self.assertEqual(by_name["default-path"]["exitCode"], 3)
        self.assertEqual(by_name["default-path"].get("message"), "out of cheese")
        self.assertEqual(by_name["own-path"]["exitCode"], 0)
        self.assertEqual(by_name["own-path"].get("message"), "all done")
        self.delete_and_check("lastwords")

    def test_pod_files_stay_off_the_disk(self):
        """A running pod's /etc files and termination log are on a tmpfs of
        its own, host-local's reservations on the run tmpfs, and crun makes
        none of the container's mount points in its writable layer on disk:
        they come from the shared mount-point layer. What the container
        writes still goes to the disk, and the image's files are intact."""
        self.create(f"""
apiVersion: v1
kind: Pod
metadata: {{name: offdisk}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sh", "-c", "echo hi > /written; echo done > /dev/termination-log; sleep 3600"]
""")
        pod = self.running("offdisk")
        uid = pod["metadata"]["uid"]
        node = self.server.node_name
        pod_dir = f"/run/capstan/{node}/pods/{uid}"
        fs_type = lambda p: subprocess.run(["stat", "-f", "-c", "%T", p], capture_output=True, text=True,
                                           check=True).stdout.strip()
        self.assertEqual(fs_type(os.path.join(pod_dir, "writable")), "tmpfs")
        self.assertFalse(os.path.exists(os.path.join(self.server.data_dir, "pods", uid)),
                         "a pod without disk-backed emptyDirs has nothing in the data dir")
        hosts = self.kubectl("exec", "offdisk", "--", "cat", "/etc/hosts").stdout
        self.assertIn(pod["status"]["podIP"], hosts)
        self.assertIn("offdisk", self.kubectl("exec", "offdisk", "--", "cat", "/etc/hostname").stdout)
        self.assertIn("nameserver", self.kubectl("exec", "offdisk", "--", "cat", "/etc/resolv.conf").stdout)
        self.assertIn("root:", self.kubectl("exec", "offdisk", "--", "cat", "/etc/passwd").stdout)
        ipam = f"/run/capstan/{node}/cni/ipam"
        self.assertTrue(any(pod["status"]["podIP"] in names for _, _, names in os.walk(ipam)),
                        f"no reservation of {pod['status']['podIP']} under {ipam}")
        layers = os.path.join(self.server.data_dir, "containers", "layers")
        # Attempt 0 runs; a restart may already be prepared beside it.
        upper = os.path.join(layers, f"{uid}_c_0", "upper")
        self.assertEqual(sorted(os.listdir(upper)), ["written"],
                         "crun made mount points in the writable layer (or copied up their parents)")
        wait_until(lambda: self.kubectl("exec", "offdisk", "--", "cat", "/dev/termination-log",
                                        check=False).stdout.strip() == "done", timeout=10,
                   message="termination log written")
        self.delete_and_check("offdisk")

    # ------------------------------------------------------------ hooks

    def test_exec_hooks_run_around_the_container(self):
        """postStart runs before the container is reported running; preStop
        runs before SIGTERM on deletion."""
        self.create(f"""
apiVersion: v1
kind: Pod
metadata: {{name: hooks}}
spec:
  terminationGracePeriodSeconds: 20
  volumes: [{{name: out, hostPath: {{path: {self.out}}}}}]
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sh", "-c", "{TRAP_TERM}"]
    volumeMounts: [{{name: out, mountPath: /out}}]
    lifecycle:
      postStart:
        exec: {{command: ["/bin/sh", "-c", "sleep 2; echo poststart >> /out/log; echo started > /out/poststart"]}}
      preStop:
        exec: {{command: ["/bin/sh", "-c", "read t r < /proc/uptime; echo prestop $t >> /out/log"]}}
""")
        # Not running (nor Ready) until the hook has returned.
        def first_running(p):
            cs = p.get("status", {}).get("containerStatuses", [])
            return bool(cs) and "running" in cs[0].get("state", {})
        pod = self.wait_pod("hooks", first_running, message="running after postStart")
        self.assertTrue(os.path.exists(os.path.join(self.out, "poststart")),
                        "reported running before postStart finished")
        self.assertEqual(pod["status"]["containerStatuses"][0]["restartCount"], 0)
        self.assertIn("poststart", self.out_lines())
        self.assertEqual(self.kubectl("exec", "hooks", "--", "cat", "/out/poststart").stdout.strip(), "started")

        took = self.delete_and_check("hooks")
        lines = self.out_lines()
        words = [line.split()[0] for line in lines]
        self.assertEqual(words, ["main", "poststart", "prestop", "TERM"], lines)
        self.assertLess(float(lines[2].split()[1]), float(lines[3].split()[1]) + 0.001)
        self.assertLess(took, 15, "a container that exits on SIGTERM is not waited for")

    def test_post_start_running_status_waits_for_the_hook(self):
        """While postStart runs, the container is not reported running."""
        self.create(f"""
apiVersion: v1
kind: Pod
metadata: {{name: slowstart}}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]
    lifecycle:
      postStart:
        sleep: {{seconds: 3}}
""")
        start = time.monotonic()
        seen_waiting = []

        def running(p):
            cs = p.get("status", {}).get("containerStatuses", [])
            if cs and "running" not in cs[0].get("state", {}):
                seen_waiting.append(cs[0]["state"])
            return bool(cs) and "running" in cs[0].get("state", {})
        self.wait_pod("slowstart", running, message="running after the postStart sleep")
        self.assertGreaterEqual(time.monotonic() - start, 2.5, "reported running before postStart's sleep ended")
        self.delete_and_check("slowstart")

    def test_http_get_hooks_and_pre_stop_sleep(self):
        """httpGet hooks reach their host; a preStop sleep delays SIGTERM and
        counts inside the grace period."""
        # Hooks run in the agent's network namespace (the host's): 127.0.0.1 reaches this server.
        hooks = RecordingHttpServer(clock=uptime)
        self.addCleanup(hooks.close)
        self.create(f"""
apiVersion: v1
kind: Pod
metadata: {{name: webhooks}}
spec:
  terminationGracePeriodSeconds: 20
  volumes: [{{name: out, hostPath: {{path: {self.out}}}}}]
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sh", "-c", "{TRAP_TERM}"]
    volumeMounts: [{{name: out, mountPath: /out}}]
    ports: [{{name: hooks, containerPort: {hooks.port}}}]
    lifecycle:
      postStart:
        httpGet: {{host: 127.0.0.1, port: {hooks.port}, path: /poststart}}
      preStop:
        httpGet: {{host: 127.0.0.1, port: hooks, path: /prestop}}
  - name: sleeper
    image: {IMAGE}
    command: ["/bin/sh", "-c", "trap 'read t r < /proc/uptime; echo TERM $t >> /out/sleeper; exit 0' TERM; while :; do sleep 1 & wait $!; done"]
    volumeMounts: [{{name: out, mountPath: /out}}]
    lifecycle:
      preStop:
        sleep: {{seconds: 3}}
""")
        self.running("webhooks")
        self.assertEqual([r.path for r in hooks.received()], ["/poststart"])
        self.assertTrue(hooks.received()[0].headers.get("User-Agent", "").startswith("kube-lifecycle/"),
                        hooks.received())
        deleted_at = uptime()
        took = self.delete_and_check("webhooks")
        self.assertEqual([r.path for r in hooks.received()], ["/poststart", "/prestop"])
        term = [line for line in self.out_lines() if line.startswith("TERM")]
        self.assertEqual(len(term), 1, self.out_lines())
        self.assertLessEqual(hooks.received()[1].at, float(term[0].split()[1]) + 0.01, "preStop came after SIGTERM")
        sleeper = self.out_lines("sleeper")
        self.assertEqual(len(sleeper), 1, sleeper)
        waited = float(sleeper[0].split()[1]) - deleted_at
        self.assertGreaterEqual(waited, 2.9, "SIGTERM came before the preStop sleep ended")
        self.assertLess(took, 15)

    def test_failed_hooks_are_reported(self):
        """A failed postStart kills the container (FailedPostStartHook) and
        it restarts; a failed preStop is an event and the stop goes on."""
        self.create(f"""
apiVersion: v1
kind: Pod
metadata: {{name: badhooks}}
spec:
  terminationGracePeriodSeconds: 10
  volumes: [{{name: out, hostPath: {{path: {self.out}}}}}]
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]
    volumeMounts: [{{name: out, mountPath: /out}}]
    lifecycle:
      postStart:
        exec: {{command: ["/bin/sh", "-c", "test -f /out/ok || {{ echo no-ok-file; touch /out/ok; exit 7; }}"]}}
      preStop:
        exec: {{command: ["/bin/sh", "-c", "echo cannot-stop; exit 3"]}}
""")
        # The first container's hook fails (and leaves /out/ok); the second's passes.
        pod = self.wait_pod("badhooks", lambda p: any(
            c.get("restartCount", 0) >= 1 and "running" in c.get("state", {})
            for c in p.get("status", {}).get("containerStatuses", [])),
            timeout=40, message="restarted after the failed postStart")
        uid = pod["metadata"]["uid"]
        events = self.events("badhooks")
        failed = [m for r, m in events if r == "FailedPostStartHook"]
        self.assertTrue(failed, events)
        self.assertIn('Exec lifecycle hook ([/bin/sh -c test -f /out/ok || { echo no-ok-file; touch /out/ok; exit 7; }]) '
                      f'for Container "c" in Pod "badhooks_default({uid})" failed - error: command', failed[0])
        self.assertIn("exited with 7", failed[0])
        self.assertIn('message: "no-ok-file\\n"', failed[0])
        self.assertIn(("Killing", "FailedPostStartHook"), events)
        # The failing preStop does not hold up the stop.
        took = self.delete_and_check("badhooks")
        self.assertLess(took, 20)
        events = self.events("badhooks")
        pre = [m for r, m in events if r == "FailedPreStopHook"]
        self.assertTrue(pre, events)
        self.assertIn("command '/bin/sh -c echo cannot-stop; exit 3' exited with 3", pre[0])

    def test_pre_stop_runs_before_a_liveness_kill(self):
        self.create(f"""
apiVersion: v1
kind: Pod
metadata: {{name: unlively}}
spec:
  terminationGracePeriodSeconds: 10
  volumes: [{{name: out, hostPath: {{path: {self.out}}}}}]
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sh", "-c", "touch /tmp/alive; {TRAP_TERM}"]
    volumeMounts: [{{name: out, mountPath: /out}}]
    livenessProbe:
      exec: {{command: ["test", "-f", "/tmp/alive"]}}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 1
    lifecycle:
      preStop:
        exec: {{command: ["/bin/sh", "-c", "echo prestop >> /out/log"]}}
""")
        self.running("unlively")
        self.kubectl("exec", "unlively", "--", "rm", "/tmp/alive")
        self.wait_pod("unlively", lambda p: p["status"]["containerStatuses"][0]["restartCount"] >= 1,
                      message="restarted after failing liveness")
        words = [line.split()[0] for line in self.out_lines()]
        self.assertEqual(words[:4], ["main", "prestop", "TERM", "main"], self.out_lines())
        self.delete_and_check("unlively")

    def test_pre_stop_runs_for_a_force_deleted_pod(self):
        """A pod removed from the API at once (--force) still gets its
        preStop hook: the agent keeps it with the container."""
        self.create(f"""
apiVersion: v1
kind: Pod
metadata: {{name: forced}}
spec:
  volumes: [{{name: out, hostPath: {{path: {self.out}}}}}]
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sh", "-c", "{TRAP_TERM}"]
    volumeMounts: [{{name: out, mountPath: /out}}]
    lifecycle:
      preStop:
        exec: {{command: ["/bin/sh", "-c", "echo prestop >> /out/log"]}}
""")
        uid = self.running("forced")["metadata"]["uid"]
        self.kubectl("delete", "pod", "forced", "--grace-period=0", "--force")
        wait_until(lambda: "TERM" in [line.split()[0] for line in self.out_lines()], timeout=15,
                   message="container stopped")
        self.assertEqual([line.split()[0] for line in self.out_lines()], ["main", "prestop", "TERM"])
        try:
            wait_until(lambda: not self.node_resources(uid), timeout=10, message="pod resources released")
        except AssertionError:
            self.fail(f"left behind by pod {uid}: {self.node_resources(uid)}")

    # ------------------------------------------------------------ termination

    def test_graceful_deletion(self):
        """A container that handles SIGTERM goes at once; one that ignores it
        is SIGKILLed after terminationGracePeriodSeconds."""
        self.create(f"""
apiVersion: v1
kind: Pod
metadata: {{name: polite}}
spec:
  terminationGracePeriodSeconds: 30
  volumes: [{{name: out, hostPath: {{path: {self.out}}}}}]
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sh", "-c", "{TRAP_TERM}"]
    volumeMounts: [{{name: out, mountPath: /out}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: stubborn}}
spec:
  terminationGracePeriodSeconds: 4
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"]
""")
        self.running("polite")
        self.running("stubborn")
        took = self.delete_and_check("polite")
        self.assertLess(took, 10, "a container exiting on SIGTERM was waited for")
        self.assertEqual([line.split()[0] for line in self.out_lines()], ["main", "TERM"])
        took = self.delete_and_check("stubborn")
        self.assertGreaterEqual(took, 3.5, "killed before the grace period ended")
        self.assertLess(took, 15, "not killed once the grace period ended")

    def test_oom_killed(self):
        self.create(f"""
apiVersion: v1
kind: Pod
metadata: {{name: hog}}
spec:
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sh", "-c", "x=a; while :; do x=$x$x; done"]
    resources:
      limits: {{memory: 32Mi}}
""")
        pod = self.wait_pod("hog", lambda p: any(
            c.get("lastState", {}).get("terminated") for c in p.get("status", {}).get("containerStatuses", [])),
            timeout=60, message="OOM-killed once")
        term = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
        self.assertEqual(term["reason"], "OOMKilled", term)
        self.assertEqual(term["exitCode"], 137, term)
        self.delete_and_check("hog")

    # ------------------------------------------------------------ volumes

    def test_config_map_and_secret_volumes_update_in_place(self):
        def apply(color, password):
            self.create(f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: live-settings}}
data: {{color: {color}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: live-secret}}
data: {{password: {base64.b64encode(password.encode()).decode()}}}
""")
        apply("blue", "s3cret")
        self.addCleanup(lambda: self.kubectl("delete", "configmap", "live-settings", "--ignore-not-found", check=False))
        self.addCleanup(lambda: self.kubectl("delete", "secret", "live-secret", "--ignore-not-found", check=False))
        self.create(f"""
apiVersion: v1
kind: Pod
metadata: {{name: live}}
spec:
  terminationGracePeriodSeconds: 5
  volumes:
  - {{name: conf, configMap: {{name: live-settings}}}}
  - {{name: sec, secret: {{secretName: live-secret}}}}
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]
    volumeMounts:
    - {{name: conf, mountPath: /conf}}
    - {{name: sec, mountPath: /sec}}
""")
        self.running("live")

        def read(path):
            return self.kubectl("exec", "live", "--", "cat", path).stdout

        self.assertEqual(read("/conf/color"), "blue")
        self.assertEqual(read("/sec/password"), "s3cret")
        apply("green", "n3w-secret")
        wait_until(lambda: read("/conf/color") == "green", timeout=10, message="configMap volume updated")
        wait_until(lambda: read("/sec/password") == "n3w-secret", timeout=10, message="secret volume updated")
        pod = self.pod("live")
        self.assertEqual(pod["status"]["containerStatuses"][0]["restartCount"], 0)
        self.delete_and_check("live")

    def test_service_account_token_is_mounted_and_bound_to_the_pod(self):
        sleeper = 'command: ["/bin/sh", "-c", "trap \'exit 0\' TERM; while :; do sleep 1 & wait $!; done"]'
        self.create(f"""
apiVersion: v1
kind: Pod
metadata: {{name: api-user}}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - {{name: c, image: {IMAGE}, {sleeper}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: no-api}}
spec:
  terminationGracePeriodSeconds: 5
  automountServiceAccountToken: false
  containers:
  - {{name: c, image: {IMAGE}, {sleeper}}}
""")
        pod = self.running("api-user")
        volume = next(v for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-"))
        self.assertEqual([list(s)[0] for s in volume["projected"]["sources"]],
                         ["serviceAccountToken", "configMap", "downwardAPI"])
        mount = "/var/run/secrets/kubernetes.io/serviceaccount"

        def read(name):
            return self.kubectl("exec", "api-user", "--", "cat", f"{mount}/{name}").stdout

        # What in-cluster clients read: the token, the cluster CA, the namespace, the API's address.
        with open(os.path.join(self.server.data_dir, "tls", "ca.crt")) as f:
            self.assertEqual(read("ca.crt"), f.read())
        self.assertEqual(read("namespace"), "default")
        api = self.get("service", "kubernetes")
        self.assertEqual(self.kubectl("exec", "api-user", "--", "sh", "-c", "echo $KUBERNETES_SERVICE_HOST").stdout.strip(),
                         api["spec"]["clusterIP"])
        token = read("token")
        status, doc, _ = request_json(self.server, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                      {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                                      headers={"Authorization": "Bearer " + token}, client_cert=False)
        self.assertEqual(status, 201, doc)
        self.assertEqual(doc["status"]["userInfo"]["username"], "system:serviceaccount:default:default")
        # The default account may do nothing by default.
        status, doc, _ = request_json(self.server, "GET", "/api/v1/namespaces/default/pods",
                                      headers={"Authorization": "Bearer " + token}, client_cert=False)
        self.assertEqual(status, 403, doc)

        # Opted out: nothing mounted.
        self.running("no-api")
        self.assertNotEqual(self.kubectl("exec", "no-api", "--", "ls", mount, check=False).returncode, 0)
        self.assertFalse(any(v["name"].startswith("kube-api-access-")
                             for v in self.pod("no-api")["spec"].get("volumes", [])))
        self.delete_and_check("no-api")

        # The token dies with its pod.
        self.delete_and_check("api-user")
        status, _, _ = request_json(self.server, "GET", "/version",
                                    headers={"Authorization": "Bearer " + token}, client_cert=False)
        self.assertEqual(status, 401)


if __name__ == "__main__":
    unittest.main()
