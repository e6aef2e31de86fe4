#!/usr/bin/env python3
"""bench/pod-start/agent_idle.py: the node agent's own CPU and memory while
idle with --pods running pods, measured apart from the control plane (issue
4's target: under 1 % of a core and under 40 MiB), beside the same figures
of the `capstan server` process in the same run (its control plane, and its
own agent with no pods).

A server with its agent (tests/e2e/cluster.py's NodeServer: own bridge,
ranges, --isolate-pod-network) and a standalone `capstan agent` joining it
(AgentNode); a Deployment of --pods busybox sleepers pinned to the joined
node. After every pod is Running, both processes are sampled over --seconds:
CPU from /proc/PID/stat, RSS and PSS from /proc/PID/smaps_rollup; the shims
(one capstan-shim process per container) separately. Everything is
removed at the end by the harness's cleanup (pods, `capstan agent
--cleanup`, the server). Needs root.

Usage: /usr/bin/python3 bench/pod-start/agent_idle.py [--pods 100] [--seconds 20]
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "e2e"))
os.environ.setdefault("CAPSTAN_SOURCE_DIR", SOURCE_DIR)

from cluster import IMAGE, AgentNode, NodeServer  # noqa: E402
from harness import BUILD_DIR, KUBECTL_NEWEST, wait_until  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def memory_kib(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                out[key.lower()] = int(rest.split()[0])
    return out


def shims_of(node_name):
    """The agent's container shims: capstan-shim processes (their own small
    program, spawned and detached) whose bundles are under the node's run
    dir."""
    marker = f"/run/capstan/{node_name}/".encode()
    out = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"capstan-shim") and any(marker in a for a in argv):
            out.append(int(p))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    server = NodeServer()
    agent = None
    try:
        server.start()
        agent = AgentNode(server).start()
        env = dict(os.environ, KUBECONFIG=server.kubeconfig)

        def kubectl(*a, **kw):
            return subprocess.run([KUBECTL_NEWEST, *a], env=env, capture_output=True, text=True, check=True, **kw)
        kubectl("apply", "-f", "-", input=f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: idle}}
spec:
  replicas: {args.pods}
  selector: {{matchLabels: {{app: idle}}}}
  template:
    metadata: {{labels: {{app: idle}}}}
    spec:
      nodeSelector: {{kubernetes.io/hostname: {agent.node_name}}}
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: {IMAGE}
        imagePullPolicy: Never
        command: ["/bin/sleep", "100000"]
""")

        def running():
            pods = json.loads(kubectl("get", "pods", "-l", "app=idle", "-o", "json").stdout)["items"]
            return sum(p.get("status", {}).get("phase") == "Running" for p in pods) >= args.pods
        t0 = time.time()
        wait_until(running, timeout=900, interval=2, message=f"{args.pods} pods Running")
        started = time.time() - t0
        time.sleep(5)  # let the start-up settle (status writes, probes of nothing)
        procs = {"agent": agent.proc.pid, "server": server.proc.pid}
        cpu0 = {k: cpu_seconds(p) for k, p in procs.items()}
        w0 = time.monotonic()
        time.sleep(args.seconds)
        wall = time.monotonic() - w0
        result = {"pods": args.pods, "all_running_s": round(started, 1), "seconds": args.seconds}
        for k, p in procs.items():
            m = memory_kib(p)
            result[k] = {"cpu_percent_of_a_core": round(100 * (cpu_seconds(p) - cpu0[k]) / wall, 2),
                         "rss_mib": round(m["rss"] / 1024, 1), "pss_mib": round(m["pss"] / 1024, 1)}
        shims = [memory_kib(c) for c in shims_of(agent.node_name)]
        result["agent_shims"] = {"count": len(shims), "pss_mib_total": round(sum(s["pss"] for s in shims) / 1024, 1)}
    finally:
        if agent:
            subprocess.run([KUBECTL_NEWEST, "delete", "deployment", "idle", "--wait=false"],
                           env=dict(os.environ, KUBECONFIG=server.kubeconfig), capture_output=True)
            agent.cleanup()
        server.cleanup()
    print(f"agent idle bench: {args.pods} pods on a joined `capstan agent` (all Running after "
          f"{result['all_running_s']} s), sampled {args.seconds:.0f} s")
    for k, label in (("agent", "capstan agent (its pods)"), ("server", "capstan server (control plane + empty agent)")):
        r = result[k]
        print(f"  {label:<46} CPU {r['cpu_percent_of_a_core']:5.2f} % of a core   RSS {r['rss_mib']:6.1f} MiB"
              f"   PSS {r['pss_mib']:6.1f} MiB")
    print(f"  shims under the agent: {result['agent_shims']['count']}, PSS {result['agent_shims']['pss_mib_total']} MiB")
    print("  targets (agent): under 1 % of a core, under 40 MiB")
    out = os.environ.get("BENCH_JSON", os.path.join(BUILD_DIR, "bench", "agent_idle.json"))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
