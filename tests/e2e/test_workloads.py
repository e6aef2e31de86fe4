"""Pods as real containers, end to end: the real kubectl, the server with
its controllers, scheduler and node agent, crun and the CNI plugins."""
import fcntl
import glob
import json
import os
import select
import signal
import struct
import subprocess
import termios
import time
import unittest
import urllib.request

from cluster import IMAGE, ClusterTestCase
from harness import CAPSTAN, KUBECTL_NEWEST, KUBECTL_OLDEST, wait_until


def http_get(url, timeout=3):
    # Straight to the pod network (never through a proxy from the environment).
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as r:
        return r.read().decode()


class WorkloadsTest(ClusterTestCase):
    def test_pod_serves_http_at_its_ip(self):
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: web, labels: {{app: web}}}}
spec:
  containers:
  - name: httpd
    image: {IMAGE}
    command: ["/bin/httpd", "-f", "-p", "80", "-h", "/www"]
    ports: [{{containerPort: 80}}]
""")
        pod = self.wait_pod("web", self.running_ready, message="web Running and Ready")
        ip = pod["status"]["podIP"]
        self.assertTrue(ip.startswith(self.server.pod_prefix), ip)
        self.assertIn("hello", http_get(f"http://{ip}/"))
        cs = pod["status"]["containerStatuses"][0]
        self.assertEqual(cs["restartCount"], 0)
        self.assertTrue(cs["containerID"].startswith("crun://"))
        self.assertIn("running", cs["state"])
        node = json.loads(self.kubectl("get", "node", self.server.node_name, "-o", "json").stdout)
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"][0]
        self.assertEqual(ready["status"], "True")
        self.assertEqual(node["spec"]["podCIDR"].split("/")[1], "24")
        self.kubectl("delete", "pod", "web", "--grace-period=1", "--wait=true", "--timeout=30s")

    def test_deployment_heals_and_restarts(self):
        self.kubectl("create", "deployment", "heal", f"--image={IMAGE}", "--replicas=3", "--",
                     "/bin/httpd", "-f", "-p", "80", "-h", "/www")

        def pods_ready():
            items = json.loads(self.kubectl("get", "pods", "-l", "app=heal", "-o", "json").stdout)["items"]
            live = [p for p in items if "deletionTimestamp" not in p["metadata"]]
            return len(live) == 3 and all(self.running_ready(p) for p in live), live
        wait_until(lambda: pods_ready()[0], timeout=60, message="3 replicas ready")
        pods = pods_ready()[1]
        for p in pods:
            self.assertIn("hello", http_get(f"http://{p['status']['podIP']}/"))

        # A deleted pod is replaced.
        victim = pods[0]["metadata"]["name"]
        self.kubectl("delete", "pod", victim, "--wait=false")
        wait_until(lambda: pods_ready()[0] and victim not in [p["metadata"]["name"] for p in pods_ready()[1]],
                   timeout=60, message="replacement pod ready")

        # A killed container is restarted in place (same pod, restartCount 1).
        target = pods_ready()[1][0]
        name = target["metadata"]["name"]
        out = self.kubectl("get", "pod", name, "-o", "jsonpath={.status.containerStatuses[0].containerID}").stdout
        container_id = out.replace("crun://", "")
        crun_root = f"/run/capstan/{self.server.node_name}/crun"

        def crun_state(cid):
            r = subprocess.run(["crun", "--root", crun_root, "state", cid], capture_output=True, text=True)
            return json.loads(r.stdout) if r.returncode == 0 else {}
        pid = crun_state(container_id)["pid"]
        # Its next attempt is made ahead of time: created by crun, not started.
        stem, attempt = container_id.rsplit("_", 1)
        next_id = f"{stem}_{int(attempt) + 1}"
        prepared = wait_until(lambda: crun_state(next_id).get("status") == "created" and crun_state(next_id),
                              timeout=30, message="the next attempt prepared")
        os.kill(pid, signal.SIGKILL)
        pod = self.wait_pod(name, lambda p: p["status"]["containerStatuses"][0]["restartCount"] == 1
                            and self.running_ready(p), message="container restarted")
        cs = pod["status"]["containerStatuses"][0]
        self.assertEqual(cs["lastState"]["terminated"]["exitCode"], 137)
        # The restart started that very container.
        self.assertEqual(cs["containerID"], f"crun://{next_id}")
        self.assertEqual(crun_state(next_id), dict(prepared, status="running"))
        self.kubectl("delete", "deployment", "heal")
        wait_until(lambda: not json.loads(self.kubectl("get", "pods", "-l", "app=heal", "-o", "json").stdout)["items"],
                   timeout=60, message="pods of the deleted deployment gone")

    def test_logs_and_exec(self):
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: talker}}
spec:
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sh", "-c", "echo hello-from-logs; echo to-stderr >&2; exec sleep 3600"]
""")
        self.wait_pod("talker", self.running_ready)
        wait_until(lambda: "hello-from-logs" in self.kubectl("logs", "talker").stdout, timeout=10, message="logs")
        self.assertIn("to-stderr", self.kubectl("logs", "talker").stdout)
        out = self.kubectl("exec", "talker", "--", "cat", "/etc/hostname").stdout
        self.assertEqual(out.strip(), "talker")
        failed = self.kubectl("exec", "talker", "--", "sh", "-c", "exit 4", check=False)
        self.assertEqual(failed.returncode, 4)
        self.kubectl("delete", "pod", "talker", "--grace-period=1", "--wait=true", "--timeout=30s")

    def test_exec_with_a_terminal(self):
        """kubectl exec -it from a real terminal (a pty here): the shell runs
        on a terminal in the container, sees kubectl's window size and its
        changes, and its exit code comes back; over WebSocket (v5, newest
        kubectl) and SPDY (kubectl 1.27)."""
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: shell}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sleep", "3600"]
""")
        self.addCleanup(self.kubectl, "delete", "pod", "shell", "--grace-period=1", "--wait=false", check=False)
        self.wait_pod("shell", self.running_ready)
        for kubectl in (KUBECTL_NEWEST, KUBECTL_OLDEST):
            with self.subTest(kubectl=kubectl):
                self.shell_on_terminal([kubectl, "exec", "-it", "shell", "--", "/bin/sh"])

    def test_run_and_attach_with_a_terminal(self):
        """A container with `stdin` and `tty`: `kubectl run -it` and
        `kubectl attach -it` reach its shell on its own terminal (window
        size and changes included) through the container's shim; `kubectl
        run -i` without a terminal feeds a script to its stdin and gets its
        output; over WebSocket (newest kubectl) and SPDY (kubectl 1.27)."""
        for i, kubectl in enumerate((KUBECTL_NEWEST, KUBECTL_OLDEST)):
            with self.subTest(kubectl=kubectl):
                run = f"runit{i}"
                self.addCleanup(self.kubectl, "delete", "pod", run, "--grace-period=1", "--wait=false", check=False)
                # The container's exit code is kubectl run's.
                self.shell_on_terminal([kubectl, "run", run, f"--image={IMAGE}", "-it", "--restart=Never",
                                        "--", "/bin/sh"], expect_exit=3)
                self.wait_pod(run, lambda p: p.get("status", {}).get("phase") == "Failed", message=f"{run} failed")

                held = f"held{i}"
                self.kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: {held}}}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sh"]
    stdin: true
    tty: true
""")
                self.addCleanup(self.kubectl, "delete", "pod", held, "--grace-period=1", "--wait=false", check=False)
                self.wait_pod(held, self.running_ready)
                # attach's own exit code is 0 whatever the container's.
                self.shell_on_terminal([kubectl, "attach", "-it", held], expect_exit=0)
                self.wait_pod(held, lambda p: p.get("status", {}).get("phase") == "Failed", message=f"{held} ended")

                piped = f"piped{i}"
                self.addCleanup(self.kubectl, "delete", "pod", piped, "--grace-period=1", "--wait=false", check=False)
                out = subprocess.run([kubectl, "run", piped, f"--image={IMAGE}", "-i", "--restart=Never", "--",
                                      "/bin/sh"], env=self.env, input="echo piped-$((6*7)); echo to-err >&2\n",
                                     capture_output=True, text=True, timeout=60)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertIn("piped-42", out.stdout)
                self.assertIn("to-err", out.stderr)
                self.wait_pod(piped, lambda p: p.get("status", {}).get("phase") == "Succeeded",
                              message=f"{piped} succeeded once its stdin closed")

    def shell_on_terminal(self, argv, expect_exit=3):
        """Drives a shell that argv opens from a real terminal (a pty): tty,
        the window size and a change of it, and `exit 3`."""
        master, slave = os.openpty()
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
        proc = subprocess.Popen(argv, env=self.env, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        out = bytearray()

        def read_until(text, timeout=20):
            deadline = time.time() + timeout
            while text.encode() not in out:
                left = deadline - time.time()
                if left <= 0 or proc.poll() is not None and not select.select([master], [], [], 0)[0]:
                    self.fail(f"{text!r} not seen; terminal output: {bytes(out)!r}")
                if select.select([master], [], [], min(left, 0.2))[0]:
                    try:
                        out.extend(os.read(master, 4096))
                    except OSError:
                        pass
        def see_size(size):
            deadline = time.time() + 15
            while size not in out.decode(errors="replace") and time.time() < deadline:
                os.write(master, b"stty size\n")
                time.sleep(0.3)
                while select.select([master], [], [], 0)[0]:
                    out.extend(os.read(master, 4096))
            self.assertIn(size, out.decode(errors="replace"))

        try:
            os.write(master, b"tty; stty size; echo sum-$((6*7))\n")
            read_until("sum-42")
            self.assertRegex(out.decode(errors="replace"), r"/dev/pts/\d+")
            # kubectl sends the size plus one, then the size (to make the
            # shell redraw): the first `stty size` may see either.
            see_size("33 101")
            # The window changes: kubectl sends the new size, the shell sees it.
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
            proc.send_signal(signal.SIGWINCH)
            see_size("40 120")
            os.write(master, b"exit 3\n")
            self.assertEqual(proc.wait(timeout=20), expect_exit, bytes(out))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)

    def test_crash_loop_backs_off(self):
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: crasher}}
spec:
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sh", "-c", "echo bye; exit 3"]
""")
        pod = self.wait_pod("crasher", lambda p: any(
            c.get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff"
            for c in p.get("status", {}).get("containerStatuses", [])), message="CrashLoopBackOff")
        cs = pod["status"]["containerStatuses"][0]
        self.assertGreaterEqual(cs["restartCount"], 1)
        self.assertEqual(cs["lastState"]["terminated"]["exitCode"], 3)
        events = self.kubectl("get", "events", "--field-selector", "involvedObject.name=crasher").stdout
        self.assertIn("BackOff", events)
        self.kubectl("delete", "pod", "crasher", "--grace-period=1", "--wait=true", "--timeout=30s")

    def test_probes_gate_readiness_and_restart_unhealthy_containers(self):
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: probed}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: {IMAGE}
    command: ["/bin/httpd", "-f", "-p", "80", "-h", "/www"]
    readinessProbe:
      exec: {{command: ["test", "-f", "/tmp/ready"]}}
      periodSeconds: 1
      failureThreshold: 1
    livenessProbe:
      httpGet: {{path: /, port: 80}}
      periodSeconds: 1
      failureThreshold: 2
""")
        def ready(pod):
            conds = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
            return conds.get("Ready") == "True"

        # Running but not Ready until the readiness probe passes.
        pod = self.wait_pod("probed", lambda p: p.get("status", {}).get("phase") == "Running", message="Running")
        self.assertFalse(ready(pod))
        self.assertFalse(pod["status"]["containerStatuses"][0]["ready"])
        self.kubectl("exec", "probed", "--", "touch", "/tmp/ready")
        pod = self.wait_pod("probed", ready, timeout=10, message="Ready after the probe passes")
        self.assertTrue(pod["status"]["containerStatuses"][0]["ready"])
        self.kubectl("exec", "probed", "--", "rm", "/tmp/ready")
        self.wait_pod("probed", lambda p: not ready(p), timeout=10, message="not Ready after the probe fails")
        events = self.kubectl("get", "events", "--field-selector", "involvedObject.name=probed").stdout
        self.assertIn("Readiness probe failed", events)

        # The liveness probe gets 404s once the index is gone: killed and restarted.
        self.kubectl("exec", "probed", "--", "rm", "/www/index.html")
        pod = self.wait_pod("probed", lambda p: p["status"]["containerStatuses"][0]["restartCount"] == 1
                            and "running" in p["status"]["containerStatuses"][0]["state"], timeout=30,
                            message="restarted after failing liveness")
        self.assertFalse(ready(pod))  # the new container starts unready again
        events = self.kubectl("get", "events", "--field-selector", "involvedObject.name=probed").stdout
        self.assertIn("Liveness probe failed: HTTP probe failed with statuscode: 404", events)
        self.assertIn("failed liveness probe, will be restarted", events)
        self.kubectl("delete", "pod", "probed", "--grace-period=1", "--wait=true", "--timeout=30s")

    def test_init_containers_run_first_and_jobs_complete(self):
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: inits}}
spec:
  restartPolicy: Never
  volumes: [{{name: shared, emptyDir: {{}}}}]
  initContainers:
  - name: first
    image: {IMAGE}
    command: ["/bin/sh", "-c", "echo one > /shared/log"]
    volumeMounts: [{{name: shared, mountPath: /shared}}]
  containers:
  - name: main
    image: {IMAGE}
    command: ["/bin/sh", "-c", "cat /shared/log; test -f /shared/log"]
    volumeMounts: [{{name: shared, mountPath: /shared}}]
""")
        pod = self.wait_pod("inits", lambda p: p.get("status", {}).get("phase") == "Succeeded", message="Succeeded")
        self.assertEqual(pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"], 0)
        self.assertEqual(pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"], "Completed")
        self.kubectl("delete", "pod", "inits")

    def test_config_map_env_and_volume(self):
        self.kubectl("create", "configmap", "settings", "--from-literal=color=blue")
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: cfg}}
spec:
  volumes: [{{name: conf, configMap: {{name: settings}}}}]
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/httpd", "-f", "-p", "80", "-h", "/conf"]
    env: [{{name: COLOR, valueFrom: {{configMapKeyRef: {{name: settings, key: color}}}}}}]
    volumeMounts: [{{name: conf, mountPath: /conf}}]
""")
        pod = self.wait_pod("cfg", self.running_ready)
        ip = pod["status"]["podIP"]
        self.assertEqual(http_get(f"http://{ip}/color").strip(), "blue")
        # Updated in place, in the running container.
        self.kubectl("patch", "configmap", "settings", "-p", '{"data":{"color":"green"}}')
        wait_until(lambda: http_get(f"http://{ip}/color").strip() == "green", timeout=10, message="volume updated")
        self.kubectl("delete", "pod", "cfg", "--grace-period=1", "--wait=true", "--timeout=30s")
        self.kubectl("delete", "configmap", "settings")


class LogRotationTest(ClusterTestCase):
    """Container logs rotate by size (--container-log-max-size/-files, as
    kubelet's containerLogMaxSize/MaxFiles); a 10 MB line is cut into CRI
    records and nothing stalls."""
    server_args = ("--container-log-max-size", "20000", "--container-log-max-files", "3")

    def test_logs_rotate_and_a_huge_line_does_not_stall_the_pod(self):
        script = ("i=0; while [ $i -lt 3000 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done; "
                  "head -c 10485760 /dev/zero | tr '\\0' a; echo; echo after-the-big-line; sleep 3600")
        self.kubectl("run", "chatty", f"--image={IMAGE}", "--restart=Never", "--", "sh", "-c", script)
        wait_until(lambda: self.kubectl("logs", "chatty", "--tail=1", check=False).stdout.strip()
                   == "after-the-big-line", timeout=60, message="the last line logged")
        pod = json.loads(self.kubectl("get", "pod", "chatty", "-o", "json").stdout)
        self.assertEqual(pod["status"]["phase"], "Running")
        uid = pod["metadata"]["uid"]
        d = os.path.join(self.server.data_dir, "logs", "pods", f"default_chatty_{uid}", "chatty")
        files = sorted(os.listdir(d))
        self.assertEqual(files, ["0.log", "0.log.1", "0.log.2"], files)
        for f in files:
            # A file may pass the limit only by one record (a 16 KiB piece of the big line at most).
            self.assertLessEqual(os.path.getsize(os.path.join(d, f)), 20000 + 16 * 1024 + 64, f)
        # kubectl logs reads the current file, as with kubelet: the early lines are gone.
        out = self.kubectl("logs", "chatty").stdout
        self.assertNotIn("line-0-padding", out)
        self.assertTrue(out.endswith("after-the-big-line\n"), out[-200:])
        self.kubectl("delete", "pod", "chatty", "--grace-period=1")


class ImageGarbageCollectionTest(ClusterTestCase):
    """Unused images are removed when the image filesystem is above the high
    threshold (here 1 %, so always), but not while a container uses them
    nor before --minimum-image-ttl-duration."""
    server_args = ("--image-gc-high-threshold", "1", "--image-gc-low-threshold", "0", "--image-gc-period", "1s",
                   "--minimum-image-ttl-duration", "25s")

    def images(self):
        p = subprocess.run([CAPSTAN, "image", "ls", "--data-dir", self.server.data_dir], capture_output=True,
                           text=True, check=True)
        return p.stdout

    def test_unused_images_are_removed_above_the_threshold(self):
        self.kubectl("run", "user", f"--image={IMAGE}", "--image-pull-policy=Never", "--restart=Never",
                     "--", "sleep", "3600")
        self.wait_pod("user", self.running_ready)
        time.sleep(27)  # past the minimum TTL: only being in use keeps the image now
        self.assertIn(IMAGE, self.images())
        self.kubectl("delete", "pod", "user", "--grace-period=1", "--wait=true", "--timeout=30s")
        wait_until(lambda: IMAGE not in self.images(), timeout=20, message="the unused image removed")
        events = self.kubectl("get", "events", "--field-selector", "involvedObject.kind=Node").stdout
        self.assertIn("FreeDiskSpaceFailed", events)  # 0 % cannot be reached: said on the Node
        self.kubectl("run", "late", f"--image={IMAGE}", "--image-pull-policy=Never", "--restart=Never",
                     "--", "sleep", "3600")
        self.wait_pod("late", lambda p: any(
            c.get("state", {}).get("waiting", {}).get("reason") == "ErrImageNeverPull"
            for c in p.get("status", {}).get("containerStatuses", [])), message="ErrImageNeverPull")
        self.kubectl("delete", "pod", "late", "--grace-period=1")


class ForkBombTest(ClusterTestCase):
    """A container that forks without end is held to --pod-max-pids (a pids
    cgroup per container): its shell gets "can't fork" and the container
    fails, the node keeps running other pods, and deleting it leaves no
    process or cgroup behind."""
    server_args = ("--pod-max-pids", "64")

    @staticmethod
    def processes_of(uid):
        pids = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cgroup") as f:
                    if uid in f.read():
                        pids.append(pid)
            except OSError:
                pass  # gone meanwhile
        return pids

    @staticmethod
    def pids_cgroups(uid):
        return glob.glob(f"/sys/fs/cgroup/**/{uid}/*/pids.max", recursive=True)

    def test_fork_bomb_is_contained(self):
        self.kubectl("run", "forker", f"--image={IMAGE}", "--restart=Never", "--",
                     "sh", "-c", "while :; do sleep 600 & done")
        pod = self.wait_pod("forker", lambda p: p.get("status", {}).get("phase") == "Failed",
                            message="the fork bomb stopped by its pids limit")
        uid = pod["metadata"]["uid"]
        limits = self.pids_cgroups(uid)
        self.assertTrue(limits, "no pids cgroup for the container")
        with open(limits[0]) as f:
            self.assertEqual(f.read().strip(), "64")
        self.assertIn("can't fork", self.kubectl("logs", "forker").stdout + self.kubectl("logs", "forker").stderr)
        self.assertFalse(self.processes_of(uid), "processes of the failed container left running")
        self.kubectl("run", "bystander", f"--image={IMAGE}", "--restart=Never", "--", "sleep", "600")
        self.wait_pod("bystander", self.running_ready, message="another pod still starts")
        self.kubectl("delete", "pod", "forker", "--grace-period=1", "--wait=true", "--timeout=60s")
        wait_until(lambda: not self.pids_cgroups(uid), timeout=20, message="the pod's cgroups removed")
        self.kubectl("delete", "pod", "bystander", "--grace-period=1")

if __name__ == "__main__":
    unittest.main()
