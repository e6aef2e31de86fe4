import { deletePod, runAction } from "../api/actions.js";
import { Pods } from "../api/resources.js";
import { ConfirmButton } from "../components/ConfirmButton.jsx";
import { DataTable } from "../components/DataTable.jsx";
import { age, formatRestarts, podStatus, podTone } from "../format.js";
import { useNow, useObservable, useResource } from "../hooks.js";
import { href } from "../router.js";
import { namespace } from "../state.js";

const id = (pod) => `${pod.metadata?.namespace}-${pod.metadata?.name}`;

// Objects from a store never change, so their derived status can be kept.
const statuses = new WeakMap();
export function statusOf(pod) {
  let s = statuses.get(pod);
  if (!s) statuses.set(pod, (s = podStatus(pod)));
  return s;
}

export function PodsPage() {
  const ns = useObservable(namespace);
  const pods = useResource(Pods, { namespace: ns });
  const now = useNow();
  const columns = [
    {
      title: "Name",
      render: (p) => (
        <a href={href("pods", p.metadata?.namespace ?? "", p.metadata?.name ?? "")} data-testid={`pod-link-${id(p)}`}>
          {p.metadata?.name}
        </a>
      ),
    },
    { title: "Namespace", render: (p) => p.metadata?.namespace },
    { title: "Ready", render: (p) => `${statusOf(p).ready}/${statusOf(p).total}` },
    {
      title: "Status",
      testid: (p) => `pod-status-${id(p)}`,
      render: (p) => <StatusWord reason={statusOf(p).reason} />,
    },
    { title: "Restarts", className: "num", render: (p) => formatRestarts(statusOf(p), now) },
    { title: "Node", render: (p) => p.spec?.nodeName ?? "<none>" },
    { title: "IP", render: (p) => p.status?.podIP ?? "<none>" },
    { title: "Age", render: (p) => age(p.metadata?.creationTimestamp, now) },
    {
      title: "",
      className: "actions",
      render: (p) => (
        <ConfirmButton
          label="Delete"
          question="Delete pod?"
          testid={`delete-pod-${id(p)}`}
          onConfirm={() => runAction(`Delete pod ${p.metadata?.name}`, () => deletePod(p.metadata.namespace, p.metadata.name))}
        />
      ),
    },
  ];
  return (
    <section>
      <h2>Pods</h2>
      <DataTable snap={pods} columns={columns} noun="pods" rowTestId={(p) => `pod-${id(p)}`} />
    </section>
  );
}

export function StatusWord({ reason }) {
  return <span class={`status ${podTone(reason)}`}>{reason}</span>;
}
