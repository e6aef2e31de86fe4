#!/usr/bin/env python3
"""bench/observe: what observing a 1,000-pod cluster costs, beside floors
measured in the same run (a benchmark, not a test: it asserts nothing).

  scrape     GET /metrics and /metrics/cluster-state (every series capstan
             serves for the cluster), median of --repeat, time and bytes;
             floor: GET of the same pods as a JSON LIST (served from the
             same watch cache, similar bytes), so the ratio is what the
             Prometheus rendering costs over serving the objects.
  dashboard  (with --dashboard: node, Chromium and the dashboard's npm tree
             installed) dashboard_bench.mjs: the dashboard's first load of
             the Pods page with every pod, floor: the same pods LIST fetched
             by Node (and the page's load for an empty namespace); and the
             latency from a pod's deletion through the API to its row
             leaving the table, floor: the same deletion seen by a plain
             watch client. The dashboard logs in with a token of a
             --token-auth-file written into the temporary dir.

A control plane (`capstan server --disable-agent`) and one hollow agent
(`capstan agent --hollow`) run --pods pods of one Deployment on --nodes
nodes. Everything runs on loopback in temporary dirs under the build dir,
stopped by PID at the end. Figures go to stdout and, as JSON, to
build/bench/observe.json.

Usage: bench/observe/run.py [--pods 1000] [--nodes 10] [--repeat 7] [--dashboard]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "e2e"))
os.environ.setdefault("CAPSTAN_SOURCE_DIR", SOURCE_DIR)

from harness import BUILD_DIR, CAPSTAN, KUBECTL_NEWEST, LoggedProcess, Server, wait_until  # noqa: E402


class ControlPlane(Server):
    with_agent = True  # controllers and scheduler on

    def __init__(self, data_dir, token_file):
        # token_file: the dashboard logs in with a bearer token of it.
        super().__init__(data_dir=data_dir, extra_args=["--disable-agent", "--log-level", "warn",
                                                        "--token-auth-file", token_file])


class Hollow(LoggedProcess):
    stop_timeout = 30

    def __init__(self, server, nodes, data_dir):
        os.makedirs(data_dir, exist_ok=True)
        self.log_path = os.path.join(data_dir, "hollow.log")
        with open(os.path.join(server.data_dir, "token")) as f:
            token = f.read().strip()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [CAPSTAN, "--log-level", "warn", "agent", "--hollow", "--hollow-nodes", str(nodes), "--server", server.url,
             "--token", token, "--node-name", "hollow", "--data-dir", data_dir],
            stdout=self.log, stderr=subprocess.STDOUT)


def git(*args):
    p = subprocess.run(["git", "-C", SOURCE_DIR, *args], capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else ""


def timed_get(server, path, repeat):
    times, size = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        status, body, _ = server.request("GET", path, timeout=60)
        times.append(time.perf_counter() - t0)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:200]}")
        size = len(body.encode())
    return {"median_ms": statistics.median(times) * 1000, "bytes": size}


def run_dashboard_bench(server, token, pods):
    """dashboard_bench.mjs against server; its JSON line. Its progress goes
    to stderr as it runs. On a timeout or an interrupt it gets SIGTERM (it
    closes Chromium on it) before anything harsher."""
    script = os.path.join(HERE, "dashboard_bench.mjs")
    proc = subprocess.Popen(["node", script, "--url", server.url, "--kubeconfig", server.kubeconfig,
                             "--pods", str(pods)], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, CAPSTAN_TOKEN=token))
    try:
        out, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"dashboard bench failed ({proc.returncode}): {out}")
    return json.loads(out.strip().splitlines()[-1])


def print_dashboard(d):
    print(f"dashboard ({d['chromium']}), {d['pods']} pods     median ms   min..max   vs floor")

    def row(label, r, floor=None):
        ratio = f"{r['median'] / floor['median']:>9.2f}x" if floor else ""
        print(f"{label:<38}{r['median']:>9.1f}  {r['min']:>6.1f}..{r['max']:<7.1f}{ratio}")
    row("first load of #/pods, all pods shown", d["first_load_ms"], d["list_ms"])
    row("  same, namespace without pods", d["first_load_empty_ms"])
    row("reload of the open Pods page", d["reload_ms"], d["list_ms"])
    row("floor: LIST pods by Node, parsed", d["list_ms"])
    row("update: deleted pod's row gone", d["update_ms"], d["watch_ms"])
    row("floor: DELETED by a plain watch", d["watch_ms"])
    row("(the DELETE's own response)", d["delete_response_ms"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--dashboard", action="store_true", help="also measure the dashboard (needs chromium)")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="observe-bench.", dir=BUILD_DIR)
    server = hollow = None
    results = {"pods": args.pods, "nodes": args.nodes, "date": time.strftime("%Y-%m-%d %H:%M %Z"),
               "cpus": os.cpu_count(), "commit": git("rev-parse", "--short", "HEAD"),
               "tree_dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    try:
        token = "observe-" + os.urandom(16).hex()
        token_file = os.path.join(work, "tokens.csv")
        with open(token_file, "w") as f:
            f.write(f'{token},observe-bench,observe-bench-uid,"system:masters"\n')
        server = ControlPlane(os.path.join(work, "server"), token_file)
        os.makedirs(server.data_dir, exist_ok=True)
        server.start(timeout=60)
        hollow = Hollow(server, args.nodes, os.path.join(work, "hollow"))
        env = dict(os.environ, KUBECONFIG=server.kubeconfig)
        subprocess.run([KUBECTL_NEWEST, "create", "deployment", "fleet", "--image=capstan.test/busybox:1",
                        f"--replicas={args.pods}"], env=env, check=True, capture_output=True)

        def running():
            status, body, _ = server.request("GET", "/api/v1/namespaces/default/pods", timeout=30)
            return status == 200 and sum(p.get("status", {}).get("phase") == "Running"
                                         for p in json.loads(body)["items"]) >= args.pods
        t0 = time.time()
        wait_until(running, timeout=600, interval=1, message=f"{args.pods} pods Running")
        results["all_running_s"] = time.time() - t0

        results["scrape"] = {
            "metrics": timed_get(server, "/metrics", args.repeat),
            "cluster_state": timed_get(server, "/metrics/cluster-state", args.repeat),
            "floor_pod_list": timed_get(server, "/api/v1/namespaces/default/pods", args.repeat),
        }
        s = results["scrape"]
        print(f"observe bench: {args.pods} pods on {args.nodes} hollow nodes (all Running after "
              f"{results['all_running_s']:.0f} s)")
        print(f"{'what':<34}{'median ms':>11}{'bytes':>12}{'vs floor':>10}")
        floor = s["floor_pod_list"]["median_ms"]
        for name, label in (("metrics", "GET /metrics"), ("cluster_state", "GET /metrics/cluster-state"),
                            ("floor_pod_list", "floor: GET pods (JSON LIST)")):
            r = s[name]
            print(f"{label:<34}{r['median_ms']:>11.1f}{r['bytes']:>12,}{r['median_ms'] / floor:>9.2f}x")
        both = s["metrics"]["median_ms"] + s["cluster_state"]["median_ms"]
        print(f"{'full scrape (both paths)':<34}{both:>11.1f}{s['metrics']['bytes'] + s['cluster_state']['bytes']:>12,}"
              f"{both / floor:>9.2f}x")

        if args.dashboard:
            results["dashboard"] = run_dashboard_bench(server, token, args.pods)
            print_dashboard(results["dashboard"])
    finally:
        if hollow:
            hollow.kill(signal.SIGTERM)
        if server:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    out = os.environ.get("BENCH_JSON", os.path.join(BUILD_DIR, "bench", "observe.json"))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"figures: {out}")


if __name__ == "__main__":
    main()
