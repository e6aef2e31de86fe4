"""End-to-end test harness: starts a real `capstan server` on a free port with
a temporary data dir and drives it with the real kubectl and real clients.

Every process it starts is stopped by PID, and every temporary directory is
removed, even when a test fails.
"""
import collections
import glob
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request

SOURCE_DIR = os.environ.get("CAPSTAN_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.environ.get("CAPSTAN_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
CAPSTAN = os.environ.get("CAPSTAN_BIN", os.path.join(BUILD_DIR, "bin", "capstan"))
MANIFESTS = os.path.join(SOURCE_DIR, "tests", "e2e", "manifests")

# The kubectl binaries on this machine: the gcloud dispatcher (picks a client
# version by the server's minor) and the oldest versioned one.
# CAPSTAN_KUBECTL_NEWEST runs the suites with another client as the newest.
KUBECTL_NEWEST = os.environ.get("CAPSTAN_KUBECTL_NEWEST", "/usr/bin/kubectl")
KUBECTL_OLDEST = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27"
# The newest versioned client (kubectl.1.33 here), which sends its typed
# commands' bodies in protobuf.
KUBECTL_NEWEST_VERSIONED = max(glob.glob("/usr/lib/google-cloud-sdk/bin/kubectl.1.*"),
                               key=lambda p: int(p.rsplit(".", 1)[1]), default=KUBECTL_NEWEST)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoggedProcess:
    """A child process writing to log_path: its log, and a kill that waits."""
    proc = None
    log = None
    log_path = None
    stop_timeout = 10

    def read_log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None


class Server(LoggedProcess):
    """One capstan server process."""

    def __init__(self, data_dir=None, extra_args=()):
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="capstan-e2e-")
        self.port = free_port()
        self.extra_args = list(extra_args)
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "server.log")

    @property
    def kubeconfig(self):
        return os.path.join(self.data_dir, "kubeconfig.yaml")

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def start(self, timeout=30):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [CAPSTAN, "server", "--data-dir", self.data_dir, "--https-listen-port", str(self.port),
             "--bind-address", "127.0.0.1"] + ([] if getattr(self, "with_agent", False)
               # API-only tests: no agent, controllers or scheduler acting on their objects.
               else ["--disable-agent", "--disable-controller-manager", "--disable-scheduler"])
            + self.extra_args,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"capstan exited with {self.proc.returncode}: {self.read_log()[-3000:]}")
            if os.path.exists(self.kubeconfig):
                try:
                    ctx = ssl.create_default_context()
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                    with urllib.request.urlopen(self.url + "/readyz", context=ctx, timeout=2) as r:
                        if r.status == 200:
                            return self
                except Exception:
                    pass
            time.sleep(0.05)
        raise RuntimeError("capstan did not become ready: " + self.read_log()[-3000:])

    def stop(self):
        self.kill(signal.SIGTERM)

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # Raw HTTPS with the admin client certificate, for requests kubectl does not make.
    def ssl_context(self, client_cert=True):
        tls = os.path.join(self.data_dir, "tls")
        ctx = ssl.create_default_context(cafile=os.path.join(tls, "ca.crt"))
        if client_cert:
            ctx.load_cert_chain(os.path.join(tls, "admin.crt"), os.path.join(tls, "admin.key"))
        return ctx

    def request(self, method, path, body=None, headers=None, client_cert=True, timeout=10):
        data = body if isinstance(body, (bytes, type(None))) else (body if isinstance(body, bytes) else json.dumps(body).encode() if not isinstance(body, str) else body.encode())
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        if data is not None and "Content-Type" not in (headers or {}):
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.ssl_context(client_cert), timeout=timeout) as r:
                return r.status, r.read().decode(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), dict(e.headers)


class ServerTestCase(unittest.TestCase):
    """A fresh server per test class; kubectl helpers bound to it."""

    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = Server(extra_args=cls.server_args)
        cls.cache_dir = tempfile.mkdtemp(prefix="capstan-kubectl-cache-")
        try:
            cls.server.start()
        except Exception:
            cls.server.cleanup()
            shutil.rmtree(cls.cache_dir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.cache_dir, ignore_errors=True)

    def kubectl(self, *args, kubectl=KUBECTL_NEWEST, check=True, input=None, timeout=60):
        env = dict(os.environ, KUBECONFIG=self.server.kubeconfig, HOME=self.cache_dir)
        cmd = [kubectl, "--cache-dir", os.path.join(self.cache_dir, os.path.basename(kubectl))] + list(args)
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, input=input, timeout=timeout)
        if check and p.returncode != 0:
            self.fail(f"{' '.join(args)} failed ({p.returncode}):\nstdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def kubectl_json(self, *args, **kw):
        return json.loads(self.kubectl(*args, "-o", "json", **kw).stdout)


# ---------------------------------------------------------------------------
# Helpers added for the API-server end-to-end suites. Nothing above changes.

import http.client
import queue
import threading


def wait_until(cond, timeout=10.0, interval=0.05, message="condition"):
    """Polls cond() until it returns a truthy value (returned) or the
    deadline passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def create_namespace(test, name):
    """Creates namespace `name` on test.server, failing the test if it cannot."""
    status, body, _ = request_json(test.server, "POST", "/api/v1/namespaces",
                                   {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    test.assertEqual(status, 201, body)
    return name


def request_json(server, method, path, body=None, headers=None, **kw):
    """server.request, with the body decoded as JSON when it is JSON."""
    status, text, hdrs = server.request(method, path, body, headers, **kw)
    try:
        doc = json.loads(text) if text else None
    except ValueError:
        doc = None
    return status, doc, hdrs


class LineReader:
    """Reads a byte stream line by line in a daemon thread, so that a test
    can wait for the next line with a timeout."""

    def __init__(self, stream):
        self.lines = queue.Queue()
        self.seen = []
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream):
        try:
            for line in iter(stream.readline, b""):
                self.lines.put(line.decode(errors="replace").rstrip("\r\n"))
        except Exception:  # the stream was closed under us
            pass
        self.lines.put(None)  # end of stream

    def next(self, timeout):
        """The next line, None at end of stream; raises queue.Empty on timeout."""
        line = self.lines.get(timeout=timeout)
        if line is not None:
            self.seen.append(line)
        return line

    def wait_for(self, pred, timeout=15.0):
        """Consumes lines until pred(line) holds; returns that line. Fails on
        timeout or end of stream."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching line within {timeout}s; seen: {self.seen[-20:]}")
            try:
                line = self.next(left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"stream ended before a matching line; seen: {self.seen[-20:]}")
            if pred(line):
                return line


class BackgroundProcess:
    """A long-running subprocess (e.g. `kubectl get -w`) whose stdout is
    read line by line. stop() ends it by PID."""

    def __init__(self, cmd, env=None):
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        self.out = LineReader(self.proc.stdout)
        self.err = LineReader(self.proc.stderr)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        for s in (self.proc.stdout, self.proc.stderr):
            try:
                s.close()
            except Exception:
                pass


class WatchStream:
    """A raw HTTPS watch (GET ...?watch=true) with the admin client cert;
    events are decoded from the newline-delimited JSON stream."""

    def __init__(self, server, path, client_cert=True, connect_timeout=10):
        self.conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.ssl_context(client_cert),
                                                timeout=connect_timeout)
        self.conn.request("GET", path, headers={"Accept": "application/json"})
        self.sock = self.conn.sock  # http.client forgets it once the response owns the connection
        self.response = self.conn.getresponse()
        self.sock.settimeout(None)  # the reader thread blocks; waits are bounded by the queue
        self.status = self.response.status
        self.headers = dict(self.response.getheaders())
        self.reader = LineReader(self.response) if self.status == 200 else None
        self.body = self.response.read().decode(errors="replace") if self.status != 200 else None

    def next_event(self, timeout=10.0):
        """The next event as a dict; None when the server closed the stream.
        Raises AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no watch event within {timeout}s")
            try:
                line = self.reader.next(left)
            except queue.Empty:
                continue
            if line is None:
                return None
            if line.strip():
                return json.loads(line)

    def events_until(self, pred, timeout=10.0):
        """Collects events until pred(event) holds (that event included)."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next_event(max(0.01, deadline - time.monotonic()))
            if ev is None:
                raise AssertionError(f"watch closed early; got {[(e['type'], e['object'].get('metadata', {}).get('name')) for e in got]}")
            got.append(ev)
            if pred(ev):
                return got

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except Exception:
            pass
        try:
            self.response.close()
        except Exception:
            pass
        try:
            self.conn.close()
        except Exception:
            pass


def raw_http(server, method, target, headers=(), body=b"", client_cert=True, timeout=10):
    """Sends one HTTP/1.1 request byte for byte (target and header values may
    hold bytes that urllib would refuse) and returns (status, headers, body);
    status is None when the connection was dropped without an answer."""
    if isinstance(target, str):
        target = target.encode()
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    for k, v in headers:
        lines.append((k.encode() if isinstance(k, str) else k) + b": " + (v.encode() if isinstance(v, str) else v))
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    data = b"\r\n".join(lines) + b"\r\n\r\n" + body
    ctx = server.ssl_context(client_cert)
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            try:
                s.sendall(data)
                s.settimeout(timeout)
                resp = http.client.HTTPResponse(s, method=method)
                resp.begin()
                return resp.status, dict(resp.getheaders()), resp.read()
            except (ConnectionError, http.client.RemoteDisconnected, ssl.SSLError, OSError):
                return None, {}, b""


def http_interleaved(server, method, path, body, headers=(), timeout=20):
    """Like a Go client: writes the request body while already reading the
    response, so an early answer (e.g. 413 before the whole body was sent)
    is seen. Single-threaded (non-blocking TLS socket + select). Returns
    (status, headers, body); status None if no answer came."""
    import select
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
            f"Content-Length: {len(body)}"] + [f"{k}: {v}" for k, v in headers]
    out = memoryview(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    s = server.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1")
    s.setblocking(False)
    got = bytearray()
    deadline = time.monotonic() + timeout
    sending = True
    try:
        while time.monotonic() < deadline:
            r, w, _ = select.select([s], [s] if sending else [], [], 0.2)
            if sending and w:
                try:
                    n = s.send(out[:65536])
                    out = out[n:]
                    if not out:
                        sending = False
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
                except OSError:
                    sending = False  # the server stopped reading; keep reading its answer
            if r or s.pending():
                try:
                    chunk = s.recv(65536)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                got += chunk
    finally:
        s.close()
    if not got.startswith(b"HTTP/1."):
        return None, {}, bytes(got)
    head, _, rest = bytes(got).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip()] = v.strip()
    if hdrs.get("Transfer-Encoding", "").lower() == "chunked":
        body_out, data = b"", rest
        while data:
            size_line, _, data = data.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            body_out += data[:size]
            data = data[size + 2:]
        rest = body_out
    return status, hdrs, rest


Request = collections.namedtuple("Request", "method path headers body at")


class RecordingHttpServer:
    """An HTTP server on 127.0.0.1 (free port) that answers 200 with no body
    to every GET and POST and records each request with clock() at its
    arrival: the far end of hooks, probes, webhooks and alert receivers."""

    def __init__(self, clock=time.monotonic):
        self._requests = []
        self._lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _record(self):
                at = clock()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                with outer._lock:
                    outer._requests.append(Request(self.command, self.path, dict(self.headers), body, at))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _record

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def received(self, path=None):
        """The requests so far (to `path` only, when given), in arrival order."""
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
