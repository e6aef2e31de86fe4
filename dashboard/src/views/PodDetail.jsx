import { useState } from "preact/hooks";
import { deletePod, runAction } from "../api/actions.js";
import { Events, Pods } from "../api/resources.js";
import { ConfirmButton } from "../components/ConfirmButton.jsx";
import { Tabs } from "../components/Tabs.jsx";
import { YamlView } from "../components/YamlView.jsx";
import { age, formatRestarts } from "../format.js";
import { useNow, useResource } from "../hooks.js";
import { href } from "../router.js";
import { EventsTable } from "./EventsTable.jsx";
import { PodLogs } from "./PodLogs.jsx";
import { StatusWord, statusOf } from "./Pods.jsx";

export function PodDetail({ ns, name }) {
  const snap = useResource(Pods, { namespace: ns, params: { fieldSelector: `metadata.name=${name}` } });
  const [tab, setTab] = useState("logs");
  const now = useNow();
  const pod = snap.items[0];
  const title = (
    <h2>
      <a href={href("pods")}>Pods</a> / {ns} / {name}
    </h2>
  );
  if (!pod) {
    return (
      <section>
        {title}
        <p class="muted">{snap.loaded ? "This pod does not exist (any more)." : "Loading…"}</p>
      </section>
    );
  }

  const st = statusOf(pod);
  const containers = [
    ...(pod.spec?.initContainers ?? []).map((c) => ({ ...c, init: true })),
    ...(pod.spec?.containers ?? []),
  ];
  const containerStatus = new Map(
    [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].map((s) => [s.name, s]),
  );
  const restartKeys = {};
  for (const c of containers) {
    const s = containerStatus.get(c.name);
    restartKeys[c.name] = `${s?.restartCount ?? 0} ${Object.keys(s?.state ?? {}).join()}`;
  }

  return (
    <section>
      {title}
      <div class="summary">
        <Field label="Status"><StatusWord reason={st.reason} /></Field>
        <Field label="Ready">{`${st.ready}/${st.total}`}</Field>
        <Field label="Restarts">{formatRestarts(st, now)}</Field>
        <Field label="Node">{pod.spec?.nodeName ?? "<none>"}</Field>
        <Field label="IP">{pod.status?.podIP ?? "<none>"}</Field>
        <Field label="QoS">{pod.status?.qosClass ?? ""}</Field>
        <Field label="Age">{age(pod.metadata?.creationTimestamp, now)}</Field>
        <ConfirmButton
          label="Delete"
          question="Delete pod?"
          testid="delete-pod"
          onConfirm={() => runAction(`Delete pod ${name}`, () => deletePod(ns, name))}
        />
      </div>

      <h3>Containers</h3>
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Image</th>
            <th>State</th>
            <th>Ready</th>
            <th class="num">Restarts</th>
          </tr>
        </thead>
        <tbody>
          {containers.map((c) => {
            const s = containerStatus.get(c.name);
            return (
              <tr data-testid={`container-${c.name}`}>
                <td>
                  {c.name}
                  {c.init && <span class="tag">init</span>}
                </td>
                <td class="mono">{c.image}</td>
                <td>
                  <ContainerState state={s?.state} now={now} />
                  {s?.lastState?.terminated && (
                    <div class="muted">
                      last: <ContainerState state={s.lastState} now={now} />
                    </div>
                  )}
                </td>
                <td>{s?.ready ? "yes" : "no"}</td>
                <td class="num">{s?.restartCount ?? 0}</td>
              </tr>
            );
          })}
        </tbody>
      </table>

      <Tabs
        current={tab}
        onSelect={setTab}
        tabs={[
          { id: "logs", label: "Logs" },
          { id: "events", label: "Events" },
          { id: "yaml", label: "YAML" },
        ]}
      />
      {tab === "logs" && (
        <PodLogs
          ns={ns}
          name={name}
          containers={[...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].map((c) => c.name)}
          restartKeys={restartKeys}
        />
      )}
      {tab === "events" && <PodEvents ns={ns} name={name} />}
      {tab === "yaml" && <YamlView obj={pod} apiVersion="v1" kind="Pod" />}
    </section>
  );
}

function PodEvents({ ns, name }) {
  const events = useResource(Events, {
    namespace: ns,
    params: { fieldSelector: `involvedObject.name=${name},involvedObject.kind=Pod` },
  });
  return <EventsTable snap={events} showObject={false} />;
}

function Field({ label, children }) {
  return (
    <div class="field">
      <div class="field-label">{label}</div>
      <div>{children}</div>
    </div>
  );
}

function ContainerState({ state, now }) {
  if (state?.running) return <span>Running since {age(state.running.startedAt, now)} ago</span>;
  if (state?.waiting) {
    return (
      <span title={state.waiting.message ?? ""}>
        Waiting: <StatusWord reason={state.waiting.reason ?? "Waiting"} />
      </span>
    );
  }
  if (state?.terminated) {
    const t = state.terminated;
    return (
      <span title={t.message ?? ""}>
        Terminated: {t.reason ?? "Unknown"} (exit code {t.exitCode ?? "?"}
        {t.finishedAt ? `, ${age(t.finishedAt, now)} ago` : ""})
      </span>
    );
  }
  return <span class="muted">Unknown</span>;
}
