import { runAction, setUnschedulable } from "../api/actions.js";
import { nodeMetrics } from "../api/metrics.js";
import { Nodes } from "../api/resources.js";
import { DataTable } from "../components/DataTable.jsx";
import { age, formatBytes, formatCpu, formatUsage, nodeReady, nodeRoles, parseQuantity } from "../format.js";
import { useNow, useObservable, useResource } from "../hooks.js";

// The latest usage sample of a node, if metrics.k8s.io has one.
export function latestUsage(metrics, node) {
  const samples = metrics.nodes.get(node.metadata?.name ?? "") ?? [];
  return samples[samples.length - 1];
}

export function NodesPage() {
  const nodes = useResource(Nodes);
  const metrics = useObservable(nodeMetrics);
  const now = useNow();
  const usage = (n, field, format) =>
    formatUsage(latestUsage(metrics, n)?.[field], parseQuantity(n.status?.capacity?.[field]), format);
  const columns = [
    { title: "Name", render: (n) => n.metadata?.name },
    {
      title: "Status",
      testid: (n) => `node-status-${n.metadata?.name}`,
      render: (n) => {
        const ready = nodeReady(n);
        return (
          <span class={`status ${ready === "Ready" ? "good" : "bad"}`}>
            {ready}
            {n.spec?.unschedulable ? ",SchedulingDisabled" : ""}
          </span>
        );
      },
    },
    { title: "Roles", render: nodeRoles },
    { title: "CPU", render: (n) => usage(n, "cpu", formatCpu) },
    { title: "Memory", render: (n) => usage(n, "memory", formatBytes) },
    { title: "Version", render: (n) => n.status?.nodeInfo?.kubeletVersion ?? "" },
    {
      title: "Internal IP",
      render: (n) => (n.status?.addresses ?? []).find((a) => a.type === "InternalIP")?.address ?? "<none>",
    },
    { title: "Age", render: (n) => age(n.metadata?.creationTimestamp, now) },
    {
      title: "",
      className: "actions",
      render: (n) => {
        const name = n.metadata?.name ?? "";
        const cordoned = !!n.spec?.unschedulable;
        return (
          <button
            data-testid={`${cordoned ? "uncordon" : "cordon"}-${name}`}
            onClick={() => runAction(`${cordoned ? "Uncordon" : "Cordon"} ${name}`, () => setUnschedulable(name, !cordoned))}
          >
            {cordoned ? "Uncordon" : "Cordon"}
          </button>
        );
      },
    },
  ];
  return (
    <section>
      <h2>Nodes</h2>
      {metrics.available === false && <p class="muted">Node metrics are not available: {metrics.error}</p>}
      <DataTable snap={nodes} columns={columns} noun="nodes" rowTestId={(n) => `node-${n.metadata?.name}`} />
    </section>
  );
}
