import assert from "node:assert/strict";
import { test } from "node:test";
import {
  age,
  formatBytes,
  formatCpu,
  humanDuration,
  nodeRoles,
  parseQuantity,
  podStatus,
  servicePorts,
  workloadHealth,
} from "../src/format.js";

test("durations read as kubectl prints them", () => {
  const cases = [
    [0, "0s"], [59, "59s"], [119, "119s"], [120, "2m"], [190, "3m10s"], [600, "10m"], [179 * 60, "179m"],
    [3 * 3600, "3h"], [7 * 3600 + 60 * 5, "7h5m"], [30 * 3600, "30h"], [3 * 86400 + 3600, "3d1h"],
    [10 * 86400, "10d"], [3 * 365 * 86400, "3y"], [9 * 365 * 86400, "9y"],
  ];
  for (const [seconds, text] of cases) assert.equal(humanDuration(seconds), text, `${seconds}s`);
  assert.equal(age(undefined), "<unknown>");
  assert.equal(age("2024-01-01T00:00:00Z", Date.parse("2024-01-01T00:01:30Z")), "90s");
});

test("quantities", () => {
  assert.equal(parseQuantity("250m"), 0.25);
  assert.equal(parseQuantity("2"), 2);
  assert.equal(parseQuantity("1500000n"), 0.0015);
  assert.equal(parseQuantity("1Gi"), 2 ** 30);
  assert.equal(parseQuantity("128974848"), 128974848);
  assert.equal(parseQuantity("1e3"), 1000);
  assert.equal(parseQuantity(3), 3);
  assert.ok(Number.isNaN(parseQuantity("lots")));
  assert.ok(Number.isNaN(parseQuantity(undefined)));
  assert.equal(formatCpu(0.25), "250m");
  assert.equal(formatCpu(2), "2");
  assert.equal(formatBytes(512 * 1024), "512Ki");
  assert.equal(formatBytes(1.5 * 2 ** 30), "1.5Gi");
  assert.equal(formatBytes(123 * 2 ** 20), "123Mi");
});

const running = (name, restarts = 0) => ({
  name, ready: true, restartCount: restarts, state: { running: { startedAt: "2024-01-01T00:00:00Z" } },
});

test("pod status as kubectl get pods shows it", () => {
  assert.deepEqual(podStatus({}), { reason: "Unknown", ready: 0, total: 0, restarts: 0, lastRestart: null });
  const pod = {
    spec: { containers: [{ name: "a" }, { name: "b" }] },
    status: { phase: "Running", containerStatuses: [running("a"), running("b", 2)] },
  };
  assert.deepEqual(podStatus(pod), { reason: "Running", ready: 2, total: 2, restarts: 2, lastRestart: null });

  const crashing = {
    spec: { containers: [{ name: "a" }] },
    status: {
      phase: "Running",
      containerStatuses: [{
        name: "a", ready: false, restartCount: 4,
        state: { waiting: { reason: "CrashLoopBackOff" } },
        lastState: { terminated: { exitCode: 1, reason: "Error", finishedAt: "2024-01-01T00:05:00Z" } },
      }],
    },
  };
  const s = podStatus(crashing);
  assert.equal(s.reason, "CrashLoopBackOff");
  assert.equal(`${s.ready}/${s.total}`, "0/1");
  assert.equal(s.restarts, 4);
  assert.equal(s.lastRestart, "2024-01-01T00:05:00Z");

  const init = {
    spec: { initContainers: [{ name: "i1" }, { name: "i2" }], containers: [{ name: "a" }] },
    status: {
      phase: "Pending",
      initContainerStatuses: [
        { name: "i1", state: { terminated: { exitCode: 0 } } },
        { name: "i2", state: { running: {} } },
      ],
      containerStatuses: [{ name: "a", state: { waiting: { reason: "PodInitializing" } } }],
    },
  };
  assert.equal(podStatus(init).reason, "Init:1/2");

  const initFailed = structuredClone(init);
  initFailed.status.initContainerStatuses[1].state = { terminated: { exitCode: 3 } };
  assert.equal(podStatus(initFailed).reason, "Init:ExitCode:3");

  const exited = { spec: { containers: [{ name: "a" }] }, status: { phase: "Running", containerStatuses: [{ name: "a", state: { terminated: { exitCode: 0, reason: "Completed" } } }] } };
  assert.equal(podStatus(exited).reason, "Completed");

  const deleting = { ...pod, metadata: { deletionTimestamp: "2024-01-01T00:00:00Z" } };
  assert.equal(podStatus(deleting).reason, "Terminating");

  const evicted = { spec: { containers: [{ name: "a" }] }, status: { phase: "Failed", reason: "Evicted" } };
  assert.equal(podStatus(evicted).reason, "Evicted");

  // A sidecar (restartable init container) counts among the containers.
  const sidecar = {
    spec: { initContainers: [{ name: "s", restartPolicy: "Always" }], containers: [{ name: "a" }] },
    status: {
      phase: "Running",
      conditions: [{ type: "Initialized", status: "True" }],
      initContainerStatuses: [{ ...running("s", 1), started: true }],
      containerStatuses: [running("a")],
    },
  };
  assert.deepEqual(podStatus(sidecar), { reason: "Running", ready: 2, total: 2, restarts: 1, lastRestart: null });
});

test("tables' other columns", () => {
  assert.equal(servicePorts({ spec: { ports: [{ port: 80 }, { port: 443, nodePort: 30443, protocol: "TCP" }] } }), "80/TCP,443:30443/TCP");
  assert.equal(servicePorts({}), "<none>");
  assert.equal(nodeRoles({ metadata: { labels: { "node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": "" } } }), "control-plane,master");
  assert.equal(nodeRoles({}), "<none>");
  assert.deepEqual(workloadHealth("Deployment", { spec: { replicas: 2 }, status: { readyReplicas: 1 } }), { ready: 1, desired: 2, healthy: false, text: "1/2" });
  assert.equal(workloadHealth("Deployment", { spec: { replicas: 0 } }).healthy, true);
  assert.equal(workloadHealth("Job", { status: { conditions: [{ type: "Failed", status: "True" }] } }).text, "Failed");
});
