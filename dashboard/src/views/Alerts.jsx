// capstan's own alerts (alerting.capstan.io/v1alpha1): Alert objects exist
// while a rule matches; AlertRules say what is checked.

import { useState } from "preact/hooks";
import { AlertRules, Alerts } from "../api/resources.js";
import { DataTable } from "../components/DataTable.jsx";
import { age } from "../format.js";
import { useNow, useResource } from "../hooks.js";
import { href } from "../router.js";

const STATE_ORDER = { Firing: 0, Pending: 1, Resolved: 2 };
const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 };
const rank = (order, v) => order[v] ?? 9;

// Firing before pending, critical before warning, then by name.
export function alertOrder(a, b) {
  return (
    rank(STATE_ORDER, a.status?.state) - rank(STATE_ORDER, b.status?.state) ||
    rank(SEVERITY_ORDER, a.spec?.severity) - rank(SEVERITY_ORDER, b.spec?.severity) ||
    ((a.metadata?.name ?? "") < (b.metadata?.name ?? "") ? -1 : 1)
  );
}

export const alertRule = (a) => a.spec?.rule ?? a.metadata?.labels?.["alerting.capstan.io/rule"] ?? "";

// Since when the alert is in its state.
export const alertSince = (a) =>
  a.status?.state === "Resolved" ? a.status?.resolvedAt : a.status?.state === "Firing" ? (a.status?.firedAt ?? a.status?.activeAt) : a.status?.activeAt;

export function AlertingUnavailable() {
  return (
    <p class="muted" data-testid="alerting-unavailable">
      Alerting is not available on this server.
    </p>
  );
}

export function AlertState({ state }) {
  const tone = state === "Firing" ? "bad" : state === "Pending" ? "warn" : "good";
  return <span class={`status ${tone}`}>{state ?? "Unknown"}</span>;
}

export function Severity({ severity }) {
  return <span class={`severity ${severity ?? ""}`}>{severity ?? ""}</span>;
}

export function AlertObject({ obj }) {
  if (!obj) return null;
  const where = obj.namespace ? `${obj.namespace}/${obj.name ?? ""}` : (obj.name ?? "");
  const text = `${obj.kind ?? ""} ${where}`;
  if (obj.kind === "Pod" && obj.namespace && obj.name) {
    return <a href={href("pods", obj.namespace, obj.name)}>{text}</a>;
  }
  return <span>{text}</span>;
}

export function AlertsPage() {
  const alerts = useResource(Alerts, { optional: true });
  const rules = useResource(AlertRules, { optional: true });
  const [showResolved, setShowResolved] = useState(false);
  const now = useNow();
  if (alerts.error?.code === 404) {
    return (
      <section>
        <h2>Alerts</h2>
        <AlertingUnavailable />
      </section>
    );
  }
  const shown = showResolved ? alerts.items : alerts.items.filter((a) => a.status?.state !== "Resolved");
  const alertColumns = [
    { title: "State", render: (a) => <AlertState state={a.status?.state} /> },
    { title: "Severity", render: (a) => <Severity severity={a.spec?.severity} /> },
    {
      title: "Rule",
      render: (a) => (
        <a href={href("alerts", a.metadata?.name ?? "")} data-testid={`alert-link-${a.metadata?.name}`}>
          {alertRule(a)}
        </a>
      ),
    },
    { title: "Object", render: (a) => <AlertObject obj={a.spec?.object} /> },
    { title: "Summary", className: "message", render: (a) => a.spec?.summary ?? "" },
    { title: "Since", render: (a) => (alertSince(a) ? age(alertSince(a), now) : "") },
  ];
  const ruleColumns = [
    { title: "Name", render: (r) => r.metadata?.name },
    { title: "Check", render: (r) => r.spec?.check ?? "" },
    { title: "For", render: (r) => r.spec?.for ?? "" },
    { title: "Severity", render: (r) => <Severity severity={r.spec?.severity} /> },
    { title: "Threshold", className: "num", render: (r) => r.spec?.threshold ?? "" },
    { title: "Disabled", render: (r) => (r.spec?.disabled ? "yes" : "no") },
    { title: "Firing", className: "num", render: (r) => r.status?.firing ?? 0 },
    { title: "Pending", className: "num", render: (r) => r.status?.pending ?? 0 },
  ];
  return (
    <section>
      <h2>Alerts</h2>
      <div class="table-tools">
        <label>
          <input type="checkbox" checked={showResolved} onChange={(e) => setShowResolved(e.currentTarget.checked)} /> Show
          resolved
        </label>
      </div>
      <DataTable
        snap={{ ...alerts, items: shown }}
        columns={alertColumns}
        sort={alertOrder}
        noun="alerts"
        rowTestId={(a) => `alert-${a.metadata?.name}`}
      />
      <h3>Rules</h3>
      <DataTable snap={rules} columns={ruleColumns} noun="rules" rowTestId={(r) => `alertrule-${r.metadata?.name}`} />
    </section>
  );
}

export function AlertDetail({ name }) {
  const snap = useResource(Alerts, { params: { fieldSelector: `metadata.name=${name}` }, optional: true });
  const now = useNow();
  const alert = snap.items[0];
  const title = (
    <h2>
      <a href={href("alerts")}>Alerts</a> / {name}
    </h2>
  );
  if (snap.error?.code === 404) {
    return (
      <section>
        {title}
        <AlertingUnavailable />
      </section>
    );
  }
  if (!alert) {
    return (
      <section>
        {title}
        <p class="muted">{snap.loaded ? "This alert is no longer active." : "Loading…"}</p>
      </section>
    );
  }
  const st = alert.status ?? {};
  const rows = [
    ["State", <AlertState state={st.state} />],
    ["Severity", <Severity severity={alert.spec?.severity} />],
    ["Rule", alertRule(alert)],
    ["Check", alert.spec?.check ?? ""],
    ["Object", <AlertObject obj={alert.spec?.object} />],
    ["Summary", alert.spec?.summary ?? ""],
    ["Value", st.value ?? ""],
    ["Message", st.message ?? ""],
    ["Active since", st.activeAt ? `${st.activeAt} (${age(st.activeAt, now)} ago)` : ""],
    ["Fired at", st.firedAt ?? ""],
    ["Resolved at", st.resolvedAt ?? ""],
  ];
  return (
    <section data-testid="alert-detail">
      {title}
      <table class="details">
        <tbody>
          {rows
            .filter(([, v]) => v !== "")
            .map(([k, v]) => (
              <tr>
                <th>{k}</th>
                <td>{v}</td>
              </tr>
            ))}
        </tbody>
      </table>
      <h3>Runbook</h3>
      <pre class="runbook" data-testid="runbook">
        {alert.spec?.runbook || "(no runbook)"}
      </pre>
    </section>
  );
}
