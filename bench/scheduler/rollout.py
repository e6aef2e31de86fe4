#!/usr/bin/env python3
"""bench/scheduler/rollout.py: a 1,000-replica Deployment from create to
every pod Running on 100 hollow nodes (issue 5's target: under 10 s), beside
a floor measured in the same run on the same cluster: the same number of
pods created directly by a client with spec.nodeName already set (no
ReplicaSet controller, no scheduler), spread round-robin over the nodes, to
Running. The ratio is what the controllers and the scheduler add.

A control plane (`capstan server --disable-agent`) and one hollow agent
process (`capstan agent --hollow --hollow-nodes N`), on loopback, temporary
dirs, stopped by PID at the end. Running is read from a watch on pods, so
the clock stops at the status write that makes the last pod Running.

Usage: bench/scheduler/rollout.py [--replicas 1000] [--nodes 100] [--rounds 3]
"""
import argparse
import http.client
import json
import os
import signal
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "e2e"))
os.environ.setdefault("CAPSTAN_SOURCE_DIR", SOURCE_DIR)

from harness import BUILD_DIR, WatchStream, wait_until  # noqa: E402
from test_hollow import ControlPlane, HollowAgent  # noqa: E402

NS = "default"


class RunningCounter:
    """Follows a watch on pods with `label` and records when `want` of them are Running."""

    def __init__(self, server, label, want):
        status, body, _ = server.request("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector={label}")
        rv = json.loads(body)["metadata"]["resourceVersion"]
        self.stream = WatchStream(server, f"/api/v1/namespaces/{NS}/pods?watch=1&labelSelector={label}"
                                          f"&resourceVersion={rv}")
        self.want, self.running, self.done_at = want, set(), None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.done_at is None:
            ev = self.stream.next_event(timeout=300)
            if ev is None:
                return
            pod = ev["object"]
            name = pod["metadata"]["name"]
            if ev["type"] != "DELETED" and pod.get("status", {}).get("phase") == "Running":
                self.running.add(name)
            else:
                self.running.discard(name)
            if len(self.running) >= self.want:
                self.done_at = time.perf_counter()

    def wait(self, timeout):
        self.thread.join(timeout)
        self.stream.close()
        if self.done_at is None:
            raise RuntimeError(f"only {len(self.running)} of {self.want} pods Running after {timeout} s")
        return self.done_at


def delete_all(server, label):
    server.request("DELETE", f"/api/v1/namespaces/{NS}/pods?labelSelector={label}&gracePeriodSeconds=0")
    wait_until(lambda: not json.loads(server.request("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector={label}")[1])
               ["items"], timeout=120, interval=0.5, message="pods gone")


def deployment_round(server, replicas, i):
    label = f"app=roll{i}"
    counter = RunningCounter(server, label, replicas)
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"roll{i}"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": f"roll{i}"}},
                     "template": {"metadata": {"labels": {"app": f"roll{i}"}},
                                  "spec": {"containers": [{"name": "c", "image": "capstan.test/none:1"}]}}}}
    t0 = time.perf_counter()
    status, text, _ = server.request("POST", f"/apis/apps/v1/namespaces/{NS}/deployments", body)
    if status != 201:
        raise RuntimeError(f"create deployment: {status} {text[:200]}")
    took = counter.wait(300) - t0
    server.request("DELETE", f"/apis/apps/v1/namespaces/{NS}/deployments/roll{i}",
                   {"propagationPolicy": "Background"})
    delete_all(server, label)
    return took


def direct_round(server, replicas, nodes, i):
    label = f"direct=d{i}"
    counter = RunningCounter(server, label, replicas)

    # Keep-alive connections, one per client thread, as the in-process
    # ReplicaSet controller does not pay a TLS handshake per pod either.
    local = threading.local()

    def create(k):
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.ssl_context())
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"d{i}-{k}", "labels": {"direct": f"d{i}"}},
                "spec": {"nodeName": nodes[k % len(nodes)],
                         "containers": [{"name": "c", "image": "capstan.test/none:1"}]}}
        local.conn.request("POST", f"/api/v1/namespaces/{NS}/pods", json.dumps(body),
                           {"Content-Type": "application/json"})
        r = local.conn.getresponse()
        text = r.read()
        if r.status != 201:
            raise RuntimeError(f"create pod: {r.status} {text[:200]}")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(create, range(replicas)))
    took = counter.wait(300) - t0
    delete_all(server, label)
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicas", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    server = ControlPlane()
    hollow = None
    results = {"replicas": args.replicas, "nodes": args.nodes, "deployment_s": [], "direct_s": []}
    try:
        server.start(timeout=60)
        hollow = HollowAgent(server, args.nodes)

        def ready_nodes():
            items = json.loads(server.request("GET", "/api/v1/nodes")[1])["items"]
            return [n["metadata"]["name"] for n in items
                    if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))]
        wait_until(lambda: len(ready_nodes()) >= args.nodes, timeout=120, interval=0.5, message="hollow nodes Ready")
        nodes = sorted(ready_nodes())
        for i in range(args.rounds):  # interleaved, so drift in the machine's load hits both
            results["deployment_s"].append(deployment_round(server, args.replicas, i))
            results["direct_s"].append(direct_round(server, args.replicas, nodes, i))
    finally:
        if hollow:
            hollow.cleanup()
        server.cleanup()
    dep, direct = statistics.median(results["deployment_s"]), statistics.median(results["direct_s"])
    print(f"rollout bench: {args.replicas} replicas on {args.nodes} hollow nodes, median of {args.rounds}")
    print(f"  Deployment create -> all Running: {dep:.2f} s  (rounds: "
          + ", ".join(f"{x:.2f}" for x in results["deployment_s"]) + ")")
    print(f"  floor, pods created bound -> all Running: {direct:.2f} s  (rounds: "
          + ", ".join(f"{x:.2f}" for x in results["direct_s"]) + ")")
    print(f"  ratio {dep / direct:.2f}x; target: Deployment under 10 s")
    out = os.environ.get("BENCH_JSON", os.path.join(BUILD_DIR, "bench", "rollout.json"))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
