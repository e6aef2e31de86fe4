import { DataTable } from "../components/DataTable.jsx";
import { age, eventTime } from "../format.js";
import { useNow } from "../hooks.js";
import { href } from "../router.js";

const newestFirst = (a, b) => (eventTime(a) < eventTime(b) ? 1 : eventTime(a) > eventTime(b) ? -1 : 0);

// Events, newest first; `limit` shows only the newest few.
export function EventsTable({ snap, showObject = true, limit = 0 }) {
  const now = useNow();
  let items = [...snap.items].sort(newestFirst);
  if (limit) items = items.slice(0, limit);
  const columns = [
    { title: "Last seen", render: (e) => age(eventTime(e), now) },
    { title: "Type", render: (e) => <span class={`status ${e.type === "Warning" ? "bad" : "good"}`}>{e.type}</span> },
    { title: "Reason", render: (e) => e.reason },
    showObject && { title: "Object", render: (e) => <EventObject obj={e.involvedObject} /> },
    { title: "Count", className: "num", render: (e) => e.series?.count ?? e.count ?? 1 },
    { title: "Message", className: "message", render: (e) => e.message ?? e.note },
  ].filter(Boolean);
  return (
    <DataTable
      snap={{ ...snap, items }}
      columns={columns}
      noun="events"
      testid="events"
      filterable={!limit}
      rowTestId={(e) => `event-${e.metadata?.name}`}
    />
  );
}

function EventObject({ obj }) {
  if (!obj) return null;
  const text = `${obj.kind ?? ""}/${obj.name ?? ""}`;
  if (obj.kind === "Pod" && obj.namespace && obj.name) return <a href={href("pods", obj.namespace, obj.name)}>{text}</a>;
  return <span>{text}</span>;
}
