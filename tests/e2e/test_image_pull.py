"""Image pull from an OCI distribution registry, end to end: Debian's
docker-registry on loopback (started here, the busybox test image pushed
into it over the registry API), a node server allowed to speak plain HTTP
to it (--insecure-registry), and pods whose images come from there."""
import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import warnings

from cluster import NodeServer
from harness import KUBECTL_NEWEST, SOURCE_DIR, WatchStream, free_port, wait_until

REGISTRY_BIN = "/usr/bin/docker-registry"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# Straight to loopback, never through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _bcrypt(password):
    """An htpasswd bcrypt hash through glibc's crypt (libxcrypt), or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
        h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))  # cost 4: fast checks
        return h if h and h.startswith("$2") else None
    except Exception:
        return None


class LocalRegistry:
    """docker-registry on 127.0.0.1:<free port> with its storage, config and
    log in a temp dir; stopped by PID and removed by cleanup()."""

    def __init__(self, htpasswd=None):
        self.dir = tempfile.mkdtemp(prefix="capstan-e2e-registry-")
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.auth = None
        auth = ""
        if htpasswd:
            user, password = htpasswd
            with open(os.path.join(self.dir, "htpasswd"), "w") as f:
                f.write(f"{user}:{_bcrypt(password)}\n")
            auth = f"auth: {{htpasswd: {{realm: capstan-e2e, path: {self.dir}/htpasswd}}}}\n"
            self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        with open(os.path.join(self.dir, "config.yml"), "w") as f:
            f.write("version: 0.1\n"
                    "log: {level: info, accesslog: {disabled: false}}\n"
                    f"storage: {{filesystem: {{rootdirectory: {self.dir}/data}}, delete: {{enabled: true}}}}\n"
                    f"http: {{addr: {self.host}}}\n" + auth)
        self.log = open(os.path.join(self.dir, "registry.log"), "ab")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", os.path.join(self.dir, "config.yml")],
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("docker-registry exited: " + self.read_log()[-2000:])
            try:
                return self.request("GET", "/v2/")[0] == 200
            except OSError:
                return False
        wait_until(up, timeout=15, message="docker-registry ready")

    def read_log(self):
        with open(os.path.join(self.dir, "registry.log"), errors="replace") as f:
            return f.read()

    def request(self, method, path, body=None, headers=None):
        url = path if path.startswith("http") else f"http://{self.host}{path}"
        req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
        if self.auth:
            req.add_header("Authorization", self.auth)
        try:
            with _OPENER.open(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def push_blob(self, repo, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, headers, body = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        assert status == 202, (status, body)
        loc = headers["Location"]
        loc += ("&" if "?" in loc else "?") + "digest=" + digest
        status, _, body = self.request("PUT", loc, data, {"Content-Type": "application/octet-stream"})
        assert status == 201, (status, body)
        return digest

    def push_image(self, repo, tag, layout, extra_file=None):
        """Pushes the single image of an OCI layout directory; with
        extra_file (name, bytes), on top of it a layer holding that file,
        so that the node, which has the base layer imported, must still
        download something."""
        with open(os.path.join(layout, "index.json")) as f:
            digest = json.load(f)["manifests"][0]["digest"]

        def blob(d):
            with open(os.path.join(layout, "blobs", "sha256", d.split(":", 1)[1]), "rb") as f:
                return f.read()
        manifest = blob(digest)
        m = json.loads(manifest)
        for desc in [m["config"]] + m["layers"]:
            self.push_blob(repo, blob(desc["digest"]))
        if extra_file:
            raw = io.BytesIO()
            with tarfile.open(fileobj=raw, mode="w") as tar:
                info = tarfile.TarInfo(extra_file[0])
                info.size, info.mode = len(extra_file[1]), 0o644
                tar.addfile(info, io.BytesIO(extra_file[1]))
            layer = gzip.compress(raw.getvalue(), mtime=0)
            config = json.loads(blob(m["config"]["digest"]))
            config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(raw.getvalue()).hexdigest())
            config_bytes = json.dumps(config).encode()
            m["config"] = dict(m["config"], digest=self.push_blob(repo, config_bytes), size=len(config_bytes))
            m["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                "digest": self.push_blob(repo, layer), "size": len(layer)})
            manifest = json.dumps(m).encode()
            digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        status, headers, body = self.request("PUT", f"/v2/{repo}/manifests/{tag}", manifest,
                                             {"Content-Type": OCI_MANIFEST})
        assert status == 201, (status, body)
        return digest, m

    def cleanup(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@unittest.skipUnless(os.path.exists(REGISTRY_BIN), "docker-registry is not installed (scripts/deps.sh)")
class ImagePullTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.registries, cls.server = [], None
        cls.image_dir = tempfile.mkdtemp(prefix="capstan-e2e-pullimage-")
        try:
            layout = os.path.join(cls.image_dir, "layout")
            subprocess.run(["/usr/bin/python3", os.path.join(SOURCE_DIR, "tests", "images", "build_busybox_image.py"),
                            "--layout", layout], check=True, capture_output=True)
            cls.registry = LocalRegistry()
            cls.registries.append(cls.registry)
            cls.digest, cls.manifest = cls.registry.push_image(
                "busybox", "1", layout, extra_file=("pulled.txt", b"from the registry\n"))
            cls.private = None
            if _bcrypt("secret"):
                cls.private = LocalRegistry(htpasswd=("alice", "secret"))
                cls.registries.append(cls.private)
                cls.private.push_image("private/busybox", "1", layout)
            insecure = []
            for r in cls.registries:
                insecure += ["--insecure-registry", r.host]
            cls.server = NodeServer(extra_args=insecure)
            cls.server.start()
        except Exception:
            cls.tearDownClass()
            raise
        cls.env = dict(os.environ, KUBECONFIG=cls.server.kubeconfig)

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            cls.server.cleanup()
        for r in cls.registries:
            r.cleanup()
        shutil.rmtree(cls.image_dir, ignore_errors=True)

    def kubectl(self, *args, check=True, input=None, timeout=60):
        p = subprocess.run([KUBECTL_NEWEST] + list(args), env=self.env, capture_output=True, text=True,
                           input=input, timeout=timeout)
        if check and p.returncode != 0:
            self.fail(f"kubectl {' '.join(args)} failed: {p.stdout}\n{p.stderr}\n--- server log tail:\n"
                      + self.server.read_log()[-4000:])
        return p

    def pod(self, name):
        return json.loads(self.kubectl("get", "pod", name, "-o", "json").stdout)

    def wait_pod(self, name, cond, timeout=60, message=None):
        last = {}

        def check():
            last["pod"] = self.pod(name)
            return cond(last["pod"])
        try:
            wait_until(check, timeout=timeout, interval=0.2, message=message or f"pod {name}")
        except AssertionError:
            self.fail(f"{message or name}: {json.dumps(last.get('pod', {}).get('status'), indent=1)}\n"
                      f"events: {self.events(name)}\n" + self.server.read_log()[-3000:])
        return last["pod"]

    def events(self, name):
        out = self.kubectl("get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json").stdout
        return [(e.get("reason"), e.get("message", "")) for e in json.loads(out)["items"]]

    @staticmethod
    def running(pod):
        return pod.get("status", {}).get("phase") == "Running"

    @staticmethod
    def waiting(pod):
        for c in pod.get("status", {}).get("containerStatuses", []):
            return c.get("state", {}).get("waiting", {})
        return {}

    def waiting_reason(self, pod):
        return self.waiting(pod).get("reason")

    def apply_pod(self, name, image, policy, extra=""):
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
{extra}  containers:
  - name: main
    image: {image}
    imagePullPolicy: {policy}
    command: ["/bin/sleep", "3600"]
""")

    def delete_pod(self, name):
        self.kubectl("delete", "pod", name, "--wait=true", "--timeout=60s", check=False, timeout=90)

    def test_pull_always_runs_pod(self):
        image = f"{self.registry.host}/busybox:1"
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: pulled}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {image}
    imagePullPolicy: Always
    command: ["/bin/sh", "-c", "cat /pulled.txt; exec sleep 3600"]
""")
        self.addCleanup(self.delete_pod, "pulled")
        pod = self.wait_pod("pulled", self.running, message="pulled Running")
        status = pod["status"]["containerStatuses"][0]
        self.assertIn(self.digest, status["imageID"])
        events = self.events("pulled")
        reasons = [r for r, _ in events]
        self.assertIn("Pulling", reasons)
        self.assertTrue(any(r == "Pulled" and f'Successfully pulled image "{image}"' in m for r, m in events), events)
        # The rootfs has the registry's top layer over the base layer.
        wait_until(lambda: "from the registry" in self.kubectl("logs", "pulled").stdout, timeout=20,
                   message="pulled's log")
        # The manifest and the new blobs came from our registry; the base
        # layer the node had already imported was not downloaded again.
        log = self.registry.read_log()
        self.assertIn("GET /v2/busybox/manifests/1 ", log)
        self.assertIn(f"GET /v2/busybox/blobs/{self.manifest['layers'][1]['digest']} ", log)
        self.assertIn(f"GET /v2/busybox/blobs/{self.manifest['config']['digest']} ", log)
        self.assertNotIn(f"GET /v2/busybox/blobs/{self.manifest['layers'][0]['digest']} ", log)

    def test_missing_image_err_image_pull_then_back_off(self):
        image = f"{self.registry.host}/busybox:missing"
        # Every status the pod goes through, from a watch opened before it exists.
        watch = WatchStream(self.server, "/api/v1/namespaces/default/pods?watch=true&fieldSelector=metadata.name%3Dmissing")
        self.addCleanup(watch.close)
        self.assertEqual(watch.status, 200, watch.body)
        self.apply_pod("missing", image, "IfNotPresent")
        self.addCleanup(self.delete_pod, "missing")
        seen = []

        def backoff(event):
            reason = self.waiting_reason(event["object"])
            if reason and (not seen or seen[-1] != reason):
                seen.append(reason)
            return reason == "ImagePullBackOff"
        try:
            events = watch.events_until(backoff, timeout=60)
        except AssertionError as e:
            self.fail(f"{e}; waiting reasons seen: {seen}\n" + self.server.read_log()[-3000:])
        self.assertEqual(seen, ["ErrImagePull", "ImagePullBackOff"])
        err = next(self.waiting(e["object"]) for e in events if self.waiting_reason(e["object"]) == "ErrImagePull")
        self.assertEqual(err["message"],
                         f'failed to resolve reference "{image}": {image}: not found')
        pod = events[-1]["object"]
        self.assertEqual(pod["status"]["phase"], "Pending")
        self.assertEqual(self.waiting(pod)["message"], f'Back-off pulling image "{image}"')
        failed = [m for r, m in self.events("missing") if r == "Failed"]
        self.assertTrue(failed, self.events("missing"))
        self.assertEqual(failed[0],
                         f'Failed to pull image "{image}": failed to resolve reference "{image}": {image}: not found')

    def test_image_pull_secret(self):
        if not self.private:
            self.skipTest("no bcrypt for an htpasswd file")
        image = f"{self.private.host}/private/busybox:1"
        # Without credentials the registry turns the pull away.
        self.apply_pod("nosecret", image, "Always")
        self.addCleanup(self.delete_pod, "nosecret")
        self.wait_pod("nosecret", lambda p: self.waiting_reason(p) in ("ErrImagePull", "ImagePullBackOff"),
                      message="nosecret fails to pull")
        failed = [m for r, m in self.events("nosecret") if r == "Failed"]
        self.assertTrue(failed and "pull access denied" in failed[0], failed)

        config = {"auths": {self.private.host: {"auth": base64.b64encode(b"alice:secret").decode()}}}
        self.kubectl("create", "secret", "docker-registry", "regcred", "--from-file=.dockerconfigjson=/dev/stdin",
                     input=json.dumps(config))
        self.addCleanup(self.kubectl, "delete", "secret", "regcred", check=False)
        self.apply_pod("withsecret", image, "Always", extra="  imagePullSecrets: [{name: regcred}]\n")
        self.addCleanup(self.delete_pod, "withsecret")
        self.wait_pod("withsecret", self.running, message="withsecret Running")
        self.assertIn("Pulled", [r for r, _ in self.events("withsecret")])


if __name__ == "__main__":
    unittest.main()
