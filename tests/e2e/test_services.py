"""Services end to end: EndpointSlices from ready pods, the node's service
proxy (nftables) spreading connections over the replicas from the host and
from pods, cluster DNS from pods, NodePort and LoadBalancer from the host,
refused connections without endpoints, a rolling update under load
with no failed request, sessionAffinity ClientIP, hairpin traffic (a pod
reaching itself through its service), the built-in Ingress proxy routing two hosts
to two services over HTTP and HTTPS (certificate chosen by SNI), and pods
reaching the API server through the kubernetes Service."""
import base64
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

from cluster import IMAGE, ClusterTestCase, StubResolver
from harness import wait_until

# Each replica serves its own hostname at /name; ready once it does.
ECHO = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: echo}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: echo}}}}
  template:
    metadata: {{labels: {{app: echo}}}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: httpd
        image: {IMAGE}
        command: ["/bin/sh", "-c", "hostname > /www/name; exec httpd -f -p 8080 -h /www"]
        ports: [{{name: web, containerPort: 8080}}]
        readinessProbe:
          httpGet: {{path: /name, port: web}}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {{name: echo}}
spec:
  selector: {{app: echo}}
  ports: [{{port: 80, targetPort: web}}]
---
apiVersion: v1
kind: Service
metadata: {{name: echo-headless}}
spec:
  clusterIP: None
  selector: {{app: echo}}
  ports: [{{port: 80, targetPort: web}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: {IMAGE}
    command: ["/bin/sleep", "3600"]
"""


# A second, single-replica backend for the Ingress test.
HELLO = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: hello}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: hello}}}}
  template:
    metadata: {{labels: {{app: hello}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: {IMAGE}
        command: ["/bin/sh", "-c", "echo hello > /www/index.html; exec httpd -f -p 8080 -h /www"]
        ports: [{{containerPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: hello}}
spec:
  selector: {{app: hello}}
  ports: [{{name: http, port: 8000, targetPort: 8080}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: two-hosts}}
spec:
  tls:
  - hosts: [hello.example.test]
    secretName: hello-tls
  rules:
  - host: echo.example.test
    http:
      paths:
      - {{path: /name, pathType: Exact, backend: {{service: {{name: echo, port: {{number: 80}}}}}}}}
  - host: hello.example.test
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: hello, port: {{name: http}}}}}}}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


INGRESS_HTTP_PORT, INGRESS_HTTPS_PORT = free_port(), free_port()


def http_get(url, timeout=3):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as r:
        return r.read().decode().strip()


class ServicesTest(ClusterTestCase):
    # On every address (the harness's 127.0.0.1 is replaced, the last flag
    # wins), so that pods reach the API server at the node's address through
    # the kubernetes Service.
    server_args = ("--ingress-http-port", str(INGRESS_HTTP_PORT), "--ingress-https-port", str(INGRESS_HTTPS_PORT),
                   "--bind-address", "0.0.0.0")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.run_kubectl("apply", "-f", "-", input=ECHO)
        except Exception:
            cls.server.cleanup()
            raise

    def ready_names(self):
        """The hostnames (pod names) of the ready echo replicas."""
        items = self.get("pods", "-l", "app=echo")["items"]
        return {p["metadata"]["name"] for p in items if "deletionTimestamp" not in p["metadata"] and any(
            c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))}

    def wait_echo(self, n=3):
        wait_until(lambda: len(self.ready_names()) == n, timeout=90, message=f"{n} echo replicas ready")

        def slice_ready():
            slices = self.get("endpointslices", "-l", "kubernetes.io/service-name=echo")["items"]
            eps = [e for s in slices for e in s.get("endpoints") or [] if e["conditions"].get("ready")]
            return len(eps) == n
        wait_until(slice_ready, timeout=30, message=f"EndpointSlice with {n} ready endpoints")

    def spread(self, url, names, tries=60):
        seen = set()
        for _ in range(tries):
            seen.add(http_get(url))
            if seen == names:
                break
        return seen

    def in_client(self, script):
        return self.kubectl("exec", "client", "--", "sh", "-c", script).stdout

    def test_a_cluster_ip_spreads_over_replicas_from_host_and_pods(self):
        self.wait_echo()
        names = self.ready_names()
        svc = self.get("service", "echo")
        ip = svc["spec"]["clusterIP"]
        wait_until(lambda: self._reachable(f"http://{ip}/name"), timeout=20, message="ClusterIP reachable")
        self.assertEqual(self.spread(f"http://{ip}/name", names), names)

        # From a pod, by DNS name through the search path.
        wait_until(lambda: self.kubectl("get", "pod", "client", "-o", "jsonpath={.status.phase}").stdout == "Running",
                   timeout=60, message="client pod running")
        before = self.socket_lb_connections()
        out = self.in_client("i=0; while [ $i -lt 40 ]; do wget -qO- http://echo/name; i=$((i+1)); done")
        self.assertEqual(set(out.split()), names)
        # The pod's connections went straight to the endpoints at connect()
        # (proxy/socket_lb.h), not through DNAT: the agent counted them.
        self.assertGreaterEqual(self.socket_lb_connections() - before, 40)

    def socket_lb_connections(self):
        node = self.get("nodes")["items"][0]["metadata"]["name"]
        text = self.kubectl("get", "--raw", f"/api/v1/nodes/{node}/proxy/metrics").stdout
        for line in text.splitlines():
            if line.startswith("capstan_proxy_socket_lb_connections_total "):
                return float(line.split()[1])
        self.fail("no capstan_proxy_socket_lb_connections_total in the agent's /metrics")

    def _reachable(self, url):
        try:
            http_get(url, timeout=1)
            return True
        except Exception:
            return False

    def test_b_cluster_dns_from_pods(self):
        self.wait_echo()
        svc = self.get("service", "echo")
        out = self.in_client("nslookup echo.default.svc.cluster.local")
        self.assertIn(svc["spec"]["clusterIP"], out)
        # Headless: the ready pods' addresses.
        pod_ips = {p["status"]["podIP"] for p in self.get("pods", "-l", "app=echo")["items"]}
        # (busybox's nslookup exits non-zero once any search domain misses, so read its output)
        out = self.kubectl("exec", "client", "--", "nslookup", "echo-headless", check=False).stdout
        for pod_ip in pod_ips:
            self.assertIn(pod_ip, out)
        # Unknown names in the cluster domain do not resolve; names outside go upstream (the test's stub).
        missing = self.kubectl("exec", "client", "--", "nslookup", "nothing-here.default.svc.cluster.local",
                               check=False)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn(StubResolver.STUB_ANSWER, self.in_client("nslookup outside.example"))

    def test_c_node_port_and_load_balancer_from_host(self):
        self.wait_echo()
        names = self.ready_names()
        self.kubectl("expose", "deployment", "echo", "--name", "echo-np", "--type", "NodePort", "--port", "80",
                     "--target-port", "8080")
        self.kubectl("expose", "deployment", "echo", "--name", "echo-lb", "--type", "LoadBalancer", "--port", "8081",
                     "--target-port", "8080")
        node = self.get("node", self.server.node_name)
        node_ip = [a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"][0]
        port = self.get("service", "echo-np")["spec"]["ports"][0]["nodePort"]
        url = f"http://{node_ip}:{port}/name"
        wait_until(lambda: self._reachable(url), timeout=20, message="NodePort reachable")
        self.assertEqual(self.spread(url, names), names)

        def lb_ingress():
            ingress = self.get("service", "echo-lb").get("status", {}).get("loadBalancer", {}).get("ingress", [])
            return ingress[0]["ip"] if ingress else None
        wait_until(lambda: lb_ingress() is not None, timeout=20, message="LoadBalancer ingress published")
        lb_url = f"http://{lb_ingress()}:8081/name"
        wait_until(lambda: self._reachable(lb_url), timeout=20, message="LoadBalancer reachable")
        self.assertEqual(self.spread(lb_url, names), names)
        self.kubectl("delete", "service", "echo-np", "echo-lb")

    def test_d_rolling_update_under_load_fails_no_request(self):
        self.wait_echo()
        ip = self.get("service", "echo")["spec"]["clusterIP"]
        wait_until(lambda: self._reachable(f"http://{ip}/name"), timeout=20, message="ClusterIP reachable")
        failures, count = [], [0]
        stop = threading.Event()

        def load():
            while not stop.is_set():
                try:
                    http_get(f"http://{ip}/name", timeout=3)
                    count[0] += 1
                except Exception as e:  # noqa: BLE001 -- every failure counts
                    failures.append(repr(e))
                time.sleep(0.01)
        t = threading.Thread(target=load)
        t.start()
        try:
            old = self.ready_names()
            self.kubectl("rollout", "restart", "deployment/echo")
            self.kubectl("rollout", "status", "deployment/echo", "--timeout=120s", timeout=150)
            wait_until(lambda: len(self.ready_names()) == 3 and not (self.ready_names() & old), timeout=60,
                       message="all replicas replaced")
            time.sleep(1)
        finally:
            stop.set()
            t.join()
        self.assertGreater(count[0], 50)
        self.assertEqual(failures, [], f"{len(failures)} of {count[0] + len(failures)} requests failed")

    def test_e_no_endpoints_refuses_at_once(self):
        self.kubectl("create", "service", "clusterip", "nobody", "--tcp=80:8080")
        ip = self.get("service", "nobody")["spec"]["clusterIP"]

        def refused_at_once():
            start = time.time()
            try:
                socket.create_connection((ip, 80), timeout=2).close()
            except ConnectionRefusedError:
                return time.time() - start < 0.5
            except OSError:
                return False
            return False
        wait_until(refused_at_once, timeout=10, message="connection to a service without endpoints refused at once")
        self.kubectl("delete", "service", "nobody")

    def ingress_get(self, host, path, tls=False, cafile=None):
        """(status, body) of a request to the node's Ingress proxy for `host`."""
        if tls:
            ctx = ssl.create_default_context(cafile=cafile)
            conn = socket.create_connection(("127.0.0.1", INGRESS_HTTPS_PORT), timeout=5)
            conn = ctx.wrap_socket(conn, server_hostname=host)
        else:
            conn = socket.create_connection(("127.0.0.1", INGRESS_HTTP_PORT), timeout=5)
        with conn:
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body.decode().strip()

    def test_f_ingress_routes_two_hosts_to_two_services(self):
        self.wait_echo()
        names = self.ready_names()
        # The TLS secret for hello.example.test: a self-signed certificate made here.
        d = tempfile.mkdtemp(prefix="capstan-ingress-tls-")
        self.addCleanup(shutil.rmtree, d, True)
        crt, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", key,
                        "-out", crt, "-subj", "/CN=hello.example.test",
                        "-addext", "subjectAltName=DNS:hello.example.test"], check=True, capture_output=True)
        self.kubectl("create", "secret", "tls", "hello-tls", "--cert", crt, "--key", key)
        self.kubectl("apply", "-f", "-", input=HELLO)
        wait_until(lambda: self.kubectl("get", "pods", "-l", "app=hello", "-o",
                                        "jsonpath={.items[0].status.containerStatuses[0].ready}",
                                        check=False).stdout == "true", timeout=60, message="hello ready")

        def answer(host, path, **kw):
            try:
                return self.ingress_get(host, path, **kw)
            except OSError as e:
                return (0, repr(e))
        wait_until(lambda: answer("hello.example.test", "/") == (200, "hello"), timeout=30,
                   message="hello.example.test served through the Ingress")
        seen = set()
        for _ in range(60):
            status, body = answer("echo.example.test", "/name")
            self.assertEqual(status, 200, body)
            seen.add(body)
            if seen == names:
                break
        self.assertEqual(seen, names)
        self.assertEqual(answer("echo.example.test", "/other")[0], 404)  # Exact path only
        self.assertEqual(answer("unknown.example.test", "/")[0], 404)
        # HTTPS: the secret's certificate for its host (verified against it), by SNI.
        wait_until(lambda: answer("hello.example.test", "/", tls=True, cafile=crt) == (200, "hello"), timeout=30,
                   message="hello.example.test over HTTPS with its own certificate")
        # The nodes' addresses in the Ingress status.
        node = self.get("node", self.server.node_name)
        node_ip = [a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"][0]
        wait_until(lambda: self.get("ingress", "two-hosts").get("status", {}).get("loadBalancer", {}).get("ingress")
                   == [{"ip": node_ip}], timeout=20, message="Ingress status lists the node address")
        self.assertIn("capstan", self.kubectl("get", "ingressclass").stdout)
        # Scaled to zero: 503 from the proxy at once, not a hang.
        self.kubectl("scale", "deployment", "hello", "--replicas=0")
        wait_until(lambda: answer("hello.example.test", "/")[0] == 503, timeout=30, message="503 without endpoints")
        self.kubectl("delete", "ingress", "two-hosts")
        self.kubectl("delete", "-f", "-", input=HELLO, check=False)
        self.kubectl("delete", "secret", "hello-tls")

    def test_g_session_affinity_and_hairpin(self):
        self.wait_echo()
        # sessionAffinity ClientIP: every request from the host lands on one replica.
        self.kubectl("apply", "-f", "-", input="""
apiVersion: v1
kind: Service
metadata: {name: echo-sticky}
spec:
  selector: {app: echo}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: web}]
""")
        ip = self.get("service", "echo-sticky")["spec"]["clusterIP"]
        wait_until(lambda: self._reachable(f"http://{ip}/name"), timeout=20, message="sticky ClusterIP reachable")
        self.assertEqual(len({http_get(f"http://{ip}/name") for _ in range(30)}), 1)
        # Hairpin: a pod reaching a service whose only endpoint is itself.
        me = sorted(self.ready_names())[0]
        self.kubectl("label", "pod", me, "hairpin=me")
        self.kubectl("apply", "-f", "-", input="""
apiVersion: v1
kind: Service
metadata: {name: echo-self}
spec:
  selector: {app: echo, hairpin: me}
  ports: [{port: 80, targetPort: web}]
""")
        self_ip = self.get("service", "echo-self")["spec"]["clusterIP"]
        # (Debian's busybox 1.35 wget segfaults with -T, on the host too: no -T here)
        wait_until(lambda: self.kubectl("exec", me, "--", "wget", "-qO-", f"http://{self_ip}/name",
                                        check=False).stdout.strip() == me,
                   timeout=30, message="a pod reaches itself through its service")
        self.kubectl("delete", "service", "echo-sticky", "echo-self")

    def test_h_kubernetes_service_leads_to_the_api_server(self):
        # Endpoints and EndpointSlice as kube-apiserver keeps them: the
        # advertise address (by default the node's address, as the server is
        # bound to 0.0.0.0) and the port the server really listens on.
        node = self.get("node", self.server.node_name)
        node_ip = [a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"][0]
        ports = [{"name": "https", "port": self.server.port, "protocol": "TCP"}]
        ep = self.get("endpoints", "kubernetes")
        self.assertEqual(ep["subsets"], [{"addresses": [{"ip": node_ip}], "ports": ports}])
        socket.inet_aton(node_ip)  # IPv4
        eps = self.get("endpointslice", "kubernetes")
        self.assertEqual(eps["metadata"]["labels"], {"kubernetes.io/service-name": "kubernetes"})
        self.assertEqual(eps["addressType"], "IPv4")
        self.assertEqual([e["addresses"] for e in eps["endpoints"]], [[node_ip]])
        self.assertTrue(eps["endpoints"][0]["conditions"]["ready"])
        self.assertEqual(eps["ports"], ports)
        svc = self.get("service", "kubernetes")
        self.assertEqual(svc["spec"]["ports"][0]["targetPort"], self.server.port)

        # A pod finds the API server as in-cluster clients do, from the
        # variables kubelet sets in every container, and a TCP connection
        # there reaches the server (busybox nc: -e runs `true` once
        # connected, exit 0; a refused or timed-out connect exits 1).
        wait_until(lambda: self.kubectl("get", "pod", "client", "-o", "jsonpath={.status.phase}").stdout == "Running",
                   timeout=60, message="client pod running")
        ip = svc["spec"]["clusterIP"]
        env = dict(line.split("=", 1) for line in self.kubectl("exec", "client", "--", "env").stdout.splitlines()
                   if "=" in line)
        self.assertEqual(env.get("KUBERNETES_SERVICE_HOST"), ip)
        self.assertEqual(env.get("KUBERNETES_SERVICE_PORT"), "443")
        self.assertEqual(env.get("KUBERNETES_PORT_443_TCP"), f"tcp://{ip}:443")
        connect = ["sh", "-c", 'nc -w 3 "$KUBERNETES_SERVICE_HOST" "$KUBERNETES_SERVICE_PORT" -e true']
        wait_until(lambda: self.kubectl("exec", "client", "--", *connect, check=False).returncode == 0,
                   timeout=30, message=f"a pod connects to the API server through {ip}:443")


if __name__ == "__main__":
    unittest.main()
