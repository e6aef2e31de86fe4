// How objects read in tables: kubectl's column logic, in plain functions
// of the object (missing fields give "" or "<none>", never an exception).

// kubectl's duration.HumanDuration: "45s", "3m10s", "5h", "12d", "2y30d".
export function humanDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  const h = Math.floor(s / 3600);
  const d = Math.floor(s / 86400);
  const y = Math.floor(d / 365);
  if (s < 120) return `${s}s`;
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  if (m < 180) return `${m}m`;
  if (h < 8) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  if (h < 48) return `${h}h`;
  if (h < 24 * 8) return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
  if (h < 24 * 365 * 2) return `${d}d`;
  if (y < 8) return d % 365 ? `${y}y${d % 365}d` : `${y}y`;
  return `${y}y`;
}

// Age of an RFC 3339 timestamp at `now` (ms); "<unknown>" without one.
export function age(timestamp, now = Date.now()) {
  const t = Date.parse(timestamp ?? "");
  if (Number.isNaN(t)) return "<unknown>";
  return humanDuration((now - t) / 1000);
}

const SUFFIX = {
  n: 1e-9, u: 1e-6, m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

// A resource.Quantity ("250m", "1Gi", "1e3", 2) as a number; NaN if it is not one.
export function parseQuantity(q) {
  if (typeof q === "number") return q;
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$/.exec(String(q ?? "").trim());
  if (!m || !(m[2] in SUFFIX)) return NaN;
  return parseFloat(m[1]) * SUFFIX[m[2]];
}

// Cores as kubectl top prints them: "250m", or "2" for whole cores.
export function formatCpu(cores) {
  if (!Number.isFinite(cores)) return "";
  const milli = Math.round(cores * 1000);
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

// Bytes in binary units: "512Ki", "123Mi", "1.5Gi".
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "";
  const units = ["", "Ki", "Mi", "Gi", "Ti", "Pi"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = v >= 10 || i === 0 ? 0 : 1;
  return `${v.toFixed(digits).replace(/\.0$/, "")}${units[i]}`;
}

export function percent(part, whole) {
  return Number.isFinite(part) && whole > 0 ? `${Math.round((100 * part) / whole)}%` : "";
}

// "350m / 2 (17%)"; the capacity alone before the first usage sample.
export function formatUsage(used, capacity, format) {
  if (used === undefined) return format(capacity);
  return `${format(used)} / ${format(capacity)} (${percent(used, capacity)})`;
}

function conditionTrue(obj, type) {
  return (obj?.status?.conditions ?? []).some((c) => c.type === type && c.status === "True");
}

// The STATUS, READY and RESTARTS columns of `kubectl get pods`
// (printPod in kubectl's printers): e.g. "CrashLoopBackOff" from a waiting
// container's reason, "Init:0/1", "Terminating".
export function podStatus(pod) {
  const spec = pod?.spec ?? {};
  const status = pod?.status ?? {};
  let reason = status.reason || status.phase || "Unknown";
  let restarts = 0;
  let lastRestart = null;
  let sidecarRestarts = 0;
  let sidecarLastRestart = null;
  const later = (a, b) => (a && (!b || a > b) ? a : b);

  const sidecars = new Set((spec.initContainers ?? []).filter((c) => c.restartPolicy === "Always").map((c) => c.name));
  const total = (spec.containers ?? []).length + sidecars.size;
  let ready = 0;
  let initializing = false;
  const initStatuses = status.initContainerStatuses ?? [];
  for (let i = 0; i < initStatuses.length; i++) {
    const cs = initStatuses[i];
    const finished = cs.lastState?.terminated?.finishedAt;
    restarts += cs.restartCount ?? 0;
    lastRestart = later(finished, lastRestart);
    if (sidecars.has(cs.name)) {
      sidecarRestarts += cs.restartCount ?? 0;
      sidecarLastRestart = later(finished, sidecarLastRestart);
    }
    const term = cs.state?.terminated;
    const wait = cs.state?.waiting;
    if (term && term.exitCode === 0) continue;
    if (sidecars.has(cs.name) && cs.started) {
      if (cs.ready) ready++;
      continue;
    }
    if (term) {
      reason = term.reason ? `Init:${term.reason}`
        : term.signal ? `Init:Signal:${term.signal}` : `Init:ExitCode:${term.exitCode ?? 0}`;
    } else if (wait?.reason && wait.reason !== "PodInitializing") {
      reason = `Init:${wait.reason}`;
    } else {
      reason = `Init:${i}/${(spec.initContainers ?? []).length}`;
    }
    initializing = true;
    break;
  }

  if (!initializing || conditionTrue(pod, "Initialized")) {
    restarts = sidecarRestarts;
    lastRestart = sidecarLastRestart;
    let running = false;
    const statuses = status.containerStatuses ?? [];
    for (let i = statuses.length - 1; i >= 0; i--) {
      const cs = statuses[i];
      restarts += cs.restartCount ?? 0;
      lastRestart = later(cs.lastState?.terminated?.finishedAt, lastRestart);
      const term = cs.state?.terminated;
      const wait = cs.state?.waiting;
      if (wait?.reason) reason = wait.reason;
      else if (term?.reason) reason = term.reason;
      else if (term) reason = term.signal ? `Signal:${term.signal}` : `ExitCode:${term.exitCode ?? 0}`;
      else if (cs.ready && cs.state?.running) {
        running = true;
        ready++;
      }
    }
    if (reason === "Completed" && running) reason = conditionTrue(pod, "Ready") ? "Running" : "NotReady";
  }

  const deleting = pod?.metadata?.deletionTimestamp;
  if (deleting && status.reason === "NodeLost") reason = "Unknown";
  else if (deleting) reason = "Terminating";

  return { reason, ready, total, restarts, lastRestart };
}

// The RESTARTS column: "3 (45s ago)".
export function formatRestarts({ restarts, lastRestart }, now = Date.now()) {
  return restarts && lastRestart ? `${restarts} (${age(lastRestart, now)} ago)` : String(restarts);
}

// A status word's colour class: good, warn, bad or neutral.
export function podTone(reason) {
  if (reason === "Running" || reason === "Completed" || reason === "Succeeded") return "good";
  if (/BackOff|Err|Fail|Invalid|OOM|Unknown|Signal|ExitCode|Evicted/.test(reason)) return "bad";
  return "warn";
}

export function nodeReady(node) {
  const c = (node?.status?.conditions ?? []).find((x) => x.type === "Ready");
  return c?.status === "True" ? "Ready" : c?.status === "False" ? "NotReady" : "Unknown";
}

// kubectl's ROLES column from node-role.kubernetes.io/* labels.
export function nodeRoles(node) {
  const roles = Object.keys(node?.metadata?.labels ?? {})
    .filter((k) => k.startsWith("node-role.kubernetes.io/"))
    .map((k) => k.slice("node-role.kubernetes.io/".length))
    .filter(Boolean);
  const kubernetesRole = node?.metadata?.labels?.["kubernetes.io/role"];
  if (kubernetesRole) roles.push(kubernetesRole);
  return roles.length ? [...new Set(roles)].sort().join(",") : "<none>";
}

// When an event last happened: series, lastTimestamp, eventTime, creation.
export function eventTime(ev) {
  return ev?.series?.lastObservedTime || ev?.lastTimestamp || ev?.eventTime || ev?.metadata?.creationTimestamp || "";
}

// The PORT(S) column of `kubectl get services`: "80/TCP,443:30443/TCP".
export function servicePorts(svc) {
  const ports = svc?.spec?.ports ?? [];
  if (!ports.length) return "<none>";
  return ports
    .map((p) => `${p.port}${p.nodePort ? ":" + p.nodePort : ""}/${p.protocol ?? "TCP"}`)
    .join(",");
}

// The EXTERNAL-IP column.
export function serviceExternalIp(svc) {
  const spec = svc?.spec ?? {};
  const ingress = (svc?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip || i.hostname).filter(Boolean);
  const external = spec.externalIPs ?? [];
  switch (spec.type) {
    case "LoadBalancer":
      return [...ingress, ...external].join(",") || "<pending>";
    case "ExternalName":
      return spec.externalName ?? "";
    default:
      return external.length ? external.join(",") : "<none>";
  }
}

// A workload's readiness: [ready, desired] and whether that is healthy.
export function workloadHealth(kind, obj) {
  const st = obj?.status ?? {};
  const spec = obj?.spec ?? {};
  let ready = 0;
  let desired = 0;
  switch (kind) {
    case "Deployment":
    case "StatefulSet":
      ready = st.readyReplicas ?? 0;
      desired = spec.replicas ?? 1;
      break;
    case "DaemonSet":
      ready = st.numberReady ?? 0;
      desired = st.desiredNumberScheduled ?? 0;
      break;
    case "Job": {
      ready = st.succeeded ?? 0;
      desired = spec.completions ?? 1;
      const failed = (st.conditions ?? []).some((c) => c.type === "Failed" && c.status === "True");
      return { ready, desired, healthy: !failed, text: failed ? "Failed" : `${ready}/${desired}` };
    }
    default:
      break;
  }
  return { ready, desired, healthy: ready >= desired, text: `${ready}/${desired}` };
}

// Objects whose name contains `filter` (case-insensitive).
export function filterByName(items, filter) {
  const f = filter.trim().toLowerCase();
  if (!f) return items;
  return items.filter((o) => (o?.metadata?.name ?? "").toLowerCase().includes(f));
}
