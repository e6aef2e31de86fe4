// The cluster at a glance. Pods, deployments, events and alerts are
// watched; nodes and the other workloads are polled (see store.js on the
// browser's connection limit).

import { nodeMetrics } from "../api/metrics.js";
import { Alerts, DaemonSets, Deployments, Events, Jobs, Nodes, Pods, StatefulSets } from "../api/resources.js";
import { Sparkline } from "../components/Sparkline.jsx";
import { formatBytes, formatCpu, formatUsage, nodeReady, parseQuantity, workloadHealth } from "../format.js";
import { useObservable, useResource } from "../hooks.js";
import { href } from "../router.js";
import { namespace } from "../state.js";
import { AlertObject, AlertingUnavailable, Severity, alertOrder, alertRule } from "./Alerts.jsx";
import { EventsTable } from "./EventsTable.jsx";
import { Health } from "./Workloads.jsx";
import { latestUsage } from "./Nodes.jsx";

const POLL_MS = 10000;

export function Overview() {
  const ns = useObservable(namespace);
  const pods = useResource(Pods, { namespace: ns });
  const events = useResource(Events, { namespace: ns });
  return (
    <section>
      <h2>Overview</h2>
      <div class="cards">
        <NodesCard />
        <PodsCard pods={pods} />
        <AlertsCard />
      </div>
      <WorkloadsCard ns={ns} />
      <h3>Recent events</h3>
      <EventsTable snap={events} limit={20} />
    </section>
  );
}

function Card({ title, link, children, testid }) {
  return (
    <div class="card" data-testid={testid}>
      <h3>{link ? <a href={link}>{title}</a> : title}</h3>
      {children}
    </div>
  );
}

function NodesCard() {
  const nodes = useResource(Nodes, { poll: POLL_MS });
  const metrics = useObservable(nodeMetrics);
  return (
    <Card title="Nodes" link={href("nodes")} testid="overview-nodes">
      {metrics.available === false && <p class="muted">Metrics not available: {metrics.error}</p>}
      {nodes.items.map((n) => {
        const name = n.metadata?.name ?? "";
        const samples = metrics.nodes.get(name) ?? [];
        const last = latestUsage(metrics, n);
        const cpuCap = parseQuantity(n.status?.capacity?.cpu);
        const memCap = parseQuantity(n.status?.capacity?.memory);
        const ready = nodeReady(n);
        return (
          <div class="node" data-testid={`overview-node-${name}`}>
            <div class="node-head">
              <strong>{name}</strong> <span class={`status ${ready === "Ready" ? "good" : "bad"}`}>{ready}</span>
              {n.spec?.unschedulable && <span class="status warn">cordoned</span>}
            </div>
            <div class="meter">
              <span class="meter-label">CPU</span>
              <Sparkline values={samples.map((s) => s.cpu)} max={cpuCap} label={`CPU of ${name}`} />
              <span class="meter-value">{formatUsage(last?.cpu, cpuCap, formatCpu)}</span>
            </div>
            <div class="meter">
              <span class="meter-label">Memory</span>
              <Sparkline values={samples.map((s) => s.memory)} max={memCap} label={`Memory of ${name}`} />
              <span class="meter-value">{formatUsage(last?.memory, memCap, formatBytes)}</span>
            </div>
          </div>
        );
      })}
      {nodes.loaded && !nodes.items.length && <p class="muted">No nodes.</p>}
    </Card>
  );
}

const PHASES = ["Running", "Pending", "Succeeded", "Failed", "Unknown"];
const PHASE_TONE = { Running: "good", Pending: "warn", Succeeded: "good", Failed: "bad", Unknown: "bad" };

function PodsCard({ pods }) {
  const counts = Object.fromEntries(PHASES.map((p) => [p, 0]));
  for (const p of pods.items) {
    const phase = p.status?.phase ?? "Unknown";
    counts[phase] = (counts[phase] ?? 0) + 1;
  }
  return (
    <Card title={pods.loaded ? `Pods (${pods.items.length})` : "Pods"} link={href("pods")} testid="overview-pods">
      <div class="phases">
        {Object.entries(counts).map(([phase, n]) => (
          <div class={`phase ${n ? PHASE_TONE[phase] ?? "" : "zero"}`} data-testid={`phase-${phase}`}>
            <div class="phase-count">{n}</div>
            <div class="phase-name">{phase}</div>
          </div>
        ))}
      </div>
    </Card>
  );
}

function AlertsCard() {
  const alerts = useResource(Alerts, { optional: true });
  const firing = alerts.items.filter((a) => a.status?.state === "Firing").sort(alertOrder);
  return (
    <Card title={`Firing alerts (${firing.length})`} link={href("alerts")} testid="overview-alerts">
      {alerts.error?.code === 404 ? (
        <AlertingUnavailable />
      ) : firing.length ? (
        <ul class="plain">
          {firing.slice(0, 10).map((a) => (
            <li data-testid={`overview-alert-${a.metadata?.name}`}>
              <Severity severity={a.spec?.severity} /> <a href={href("alerts", a.metadata?.name ?? "")}>{alertRule(a)}</a>{" "}
              <AlertObject obj={a.spec?.object} />
            </li>
          ))}
          {firing.length > 10 && <li class="muted">and {firing.length - 10} more</li>}
        </ul>
      ) : (
        <p class="muted">{alerts.loaded ? "None firing." : "Loading…"}</p>
      )}
    </Card>
  );
}

// Every workload with its readiness, the unhealthy ones first.
function WorkloadsCard({ ns }) {
  const lists = [
    ["Deployment", useResource(Deployments, { namespace: ns })],
    ["StatefulSet", useResource(StatefulSets, { namespace: ns, poll: POLL_MS })],
    ["DaemonSet", useResource(DaemonSets, { namespace: ns, poll: POLL_MS })],
    ["Job", useResource(Jobs, { namespace: ns, poll: POLL_MS })],
  ];
  const rows = lists.flatMap(([kind, snap]) =>
    snap.items.map((obj) => ({ kind, obj, healthy: workloadHealth(kind, obj).healthy })),
  );
  rows.sort((a, b) => Number(a.healthy) - Number(b.healthy));
  const shown = rows.slice(0, 15);
  return (
    <div class="card wide" data-testid="overview-workloads">
      <h3>
        <a href={href("workloads")}>Workloads</a>{" "}
        <span class="muted">
          {lists.map(([kind, snap]) => {
            const healthy = snap.items.filter((o) => workloadHealth(kind, o).healthy).length;
            return `${kind}s ${healthy}/${snap.items.length} healthy`;
          }).join(" · ")}
        </span>
      </h3>
      <table>
        <thead>
          <tr>
            <th>Kind</th>
            <th>Namespace</th>
            <th>Name</th>
            <th>Ready</th>
          </tr>
        </thead>
        <tbody>
          {shown.map(({ kind, obj }) => (
            <tr data-testid={`workload-${kind.toLowerCase()}-${obj.metadata?.namespace}-${obj.metadata?.name}`}>
              <td>{kind}</td>
              <td>{obj.metadata?.namespace}</td>
              <td>
                <a href={href("workloads", `${kind.toLowerCase()}s`)}>{obj.metadata?.name}</a>
              </td>
              <td>
                <Health kind={kind} obj={obj} />
              </td>
            </tr>
          ))}
          {!rows.length && (
            <tr>
              <td colSpan={4} class="empty">No workloads.</td>
            </tr>
          )}
        </tbody>
      </table>
      {rows.length > shown.length && <p class="muted">and {rows.length - shown.length} more</p>}
    </div>
  );
}
