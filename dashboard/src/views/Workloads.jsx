import { useState } from "preact/hooks";
import { restartDeployment, runAction, scaleDeployment } from "../api/actions.js";
import { CronJobs, DaemonSets, Deployments, Jobs, StatefulSets } from "../api/resources.js";
import { ConfirmButton } from "../components/ConfirmButton.jsx";
import { DataTable } from "../components/DataTable.jsx";
import { Tabs } from "../components/Tabs.jsx";
import { age, humanDuration, workloadHealth } from "../format.js";
import { useNow, useObservable, useResource } from "../hooks.js";
import { href } from "../router.js";
import { namespace } from "../state.js";

const id = (o) => `${o.metadata?.namespace}-${o.metadata?.name}`;
const nameColumn = { title: "Name", render: (o) => o.metadata?.name };
const namespaceColumn = { title: "Namespace", render: (o) => o.metadata?.namespace };
const num = (v) => v ?? 0;

// One kind at a time: each list is a watch, and watches share the
// browser's six connections to the server.
const KINDS = {
  deployments: { label: "Deployments", resource: Deployments, columns: deploymentColumns },
  statefulsets: { label: "StatefulSets", resource: StatefulSets, columns: statefulSetColumns },
  daemonsets: { label: "DaemonSets", resource: DaemonSets, columns: daemonSetColumns },
  jobs: { label: "Jobs", resource: Jobs, columns: jobColumns },
  cronjobs: { label: "CronJobs", resource: CronJobs, columns: cronJobColumns },
};

export function Workloads({ kind = "deployments" }) {
  const k = KINDS[kind] ?? KINDS.deployments;
  const current = KINDS[kind] ? kind : "deployments";
  const ns = useObservable(namespace);
  const snap = useResource(k.resource, { namespace: ns });
  const now = useNow();
  return (
    <section>
      <h2>Workloads</h2>
      <Tabs current={current} tabs={Object.entries(KINDS).map(([id, v]) => ({ id, label: v.label, href: href("workloads", id) }))} />
      <DataTable
        key={current}
        snap={snap}
        columns={k.columns(now)}
        noun={k.label.toLowerCase()}
        rowTestId={(o) => `${k.resource.resource.replace(/s$/, "")}-${id(o)}`}
      />
    </section>
  );
}

function deploymentColumns(now) {
  return [
    nameColumn,
    namespaceColumn,
    {
      title: "Ready",
      testid: (d) => `deployment-ready-${id(d)}`,
      render: (d) => <Health kind="Deployment" obj={d} />,
    },
    { title: "Up-to-date", className: "num", render: (d) => num(d.status?.updatedReplicas) },
    { title: "Available", className: "num", render: (d) => num(d.status?.availableReplicas) },
    { title: "Age", render: (d) => age(d.metadata?.creationTimestamp, now) },
    { title: "", className: "actions", render: (d) => <DeploymentActions deployment={d} /> },
  ];
}

function DeploymentActions({ deployment }) {
  const { namespace: ns, name } = deployment.metadata ?? {};
  const [editing, setEditing] = useState(false);
  const [replicas, setReplicas] = useState(0);
  if (editing) {
    const apply = async (e) => {
      e.preventDefault();
      if (await runAction(`Scale ${name}`, () => scaleDeployment(ns, name, replicas))) setEditing(false);
    };
    return (
      <form class="inline" onSubmit={apply}>
        <input
          type="number"
          min="0"
          class="replicas"
          value={replicas}
          onInput={(e) => setReplicas(parseInt(e.currentTarget.value, 10) || 0)}
          data-testid="scale-input"
          aria-label="Replicas"
        />
        <button class="primary" type="submit" data-testid="scale-apply">
          Scale
        </button>
        <button type="button" onClick={() => setEditing(false)} data-testid="scale-cancel">
          Cancel
        </button>
      </form>
    );
  }
  return (
    <span class="inline">
      <button
        data-testid={`scale-${ns}-${name}`}
        onClick={() => {
          setReplicas(deployment.spec?.replicas ?? 1);
          setEditing(true);
        }}
      >
        Scale
      </button>
      <ConfirmButton
        label="Restart"
        question="Restart all pods?"
        danger={false}
        testid={`restart-${ns}-${name}`}
        onConfirm={() => runAction(`Restart ${name}`, () => restartDeployment(ns, name))}
      />
    </span>
  );
}

function statefulSetColumns(now) {
  return [
    nameColumn,
    namespaceColumn,
    { title: "Ready", render: (s) => <Health kind="StatefulSet" obj={s} /> },
    { title: "Age", render: (s) => age(s.metadata?.creationTimestamp, now) },
  ];
}

function daemonSetColumns(now) {
  return [
    nameColumn,
    namespaceColumn,
    { title: "Desired", className: "num", render: (d) => num(d.status?.desiredNumberScheduled) },
    { title: "Current", className: "num", render: (d) => num(d.status?.currentNumberScheduled) },
    { title: "Ready", render: (d) => <Health kind="DaemonSet" obj={d} /> },
    { title: "Up-to-date", className: "num", render: (d) => num(d.status?.updatedNumberScheduled) },
    { title: "Available", className: "num", render: (d) => num(d.status?.numberAvailable) },
    { title: "Age", render: (d) => age(d.metadata?.creationTimestamp, now) },
  ];
}

function jobColumns(now) {
  const duration = (j) => {
    const start = Date.parse(j.status?.startTime ?? "");
    if (Number.isNaN(start)) return "";
    const end = Date.parse(j.status?.completionTime ?? "");
    return humanDuration(((Number.isNaN(end) ? now : end) - start) / 1000);
  };
  return [
    nameColumn,
    namespaceColumn,
    { title: "Completions", render: (j) => <Health kind="Job" obj={j} /> },
    { title: "Active", className: "num", render: (j) => num(j.status?.active) },
    { title: "Duration", render: duration },
    { title: "Age", render: (j) => age(j.metadata?.creationTimestamp, now) },
  ];
}

function cronJobColumns(now) {
  return [
    nameColumn,
    namespaceColumn,
    { title: "Schedule", className: "mono", render: (c) => c.spec?.schedule },
    { title: "Suspend", render: (c) => (c.spec?.suspend ? "True" : "False") },
    { title: "Active", className: "num", render: (c) => (c.status?.active ?? []).length },
    {
      title: "Last schedule",
      render: (c) => (c.status?.lastScheduleTime ? `${age(c.status.lastScheduleTime, now)} ago` : "<none>"),
    },
    { title: "Age", render: (c) => age(c.metadata?.creationTimestamp, now) },
  ];
}

export function Health({ kind, obj }) {
  const h = workloadHealth(kind, obj);
  return <span class={`status ${h.healthy ? "good" : "warn"}`}>{h.text}</span>;
}
