import { Namespaces } from "../api/resources.js";
import { DataTable } from "../components/DataTable.jsx";
import { age } from "../format.js";
import { useNow, useResource } from "../hooks.js";
import { namespace } from "../state.js";

export function NamespacesPage() {
  const list = useResource(Namespaces);
  const now = useNow();
  const columns = [
    {
      title: "Name",
      render: (n) => (
        <a href="#/pods" onClick={() => namespace.set(n.metadata?.name ?? "")} title="Show this namespace's pods">
          {n.metadata?.name}
        </a>
      ),
    },
    {
      title: "Status",
      render: (n) => (
        <span class={`status ${n.status?.phase === "Terminating" ? "warn" : "good"}`}>{n.status?.phase ?? "Active"}</span>
      ),
    },
    { title: "Age", render: (n) => age(n.metadata?.creationTimestamp, now) },
  ];
  return (
    <section>
      <h2>Namespaces</h2>
      <DataTable snap={list} columns={columns} noun="namespaces" rowTestId={(n) => `namespace-${n.metadata?.name}`} />
    </section>
  );
}
