import { EndpointSlices, Services } from "../api/resources.js";
import { DataTable } from "../components/DataTable.jsx";
import { YamlView } from "../components/YamlView.jsx";
import { age, serviceExternalIp, servicePorts } from "../format.js";
import { useNow, useObservable, useResource } from "../hooks.js";
import { href } from "../router.js";
import { namespace } from "../state.js";

const id = (o) => `${o.metadata?.namespace}-${o.metadata?.name}`;

export function ServicesPage() {
  const ns = useObservable(namespace);
  const services = useResource(Services, { namespace: ns });
  const now = useNow();
  const columns = [
    {
      title: "Name",
      render: (s) => (
        <a href={href("services", s.metadata?.namespace ?? "", s.metadata?.name ?? "")} data-testid={`service-link-${id(s)}`}>
          {s.metadata?.name}
        </a>
      ),
    },
    { title: "Namespace", render: (s) => s.metadata?.namespace },
    { title: "Type", render: (s) => s.spec?.type ?? "ClusterIP" },
    { title: "Cluster IP", render: (s) => s.spec?.clusterIP ?? "<none>" },
    { title: "External IP", render: serviceExternalIp },
    { title: "Ports", className: "mono", render: servicePorts },
    { title: "Age", render: (s) => age(s.metadata?.creationTimestamp, now) },
  ];
  return (
    <section>
      <h2>Services</h2>
      <DataTable snap={services} columns={columns} noun="services" rowTestId={(s) => `service-${id(s)}`} />
    </section>
  );
}

export function ServiceDetail({ ns, name }) {
  const snap = useResource(Services, { namespace: ns, params: { fieldSelector: `metadata.name=${name}` } });
  const slices = useResource(EndpointSlices, {
    namespace: ns,
    params: { labelSelector: `kubernetes.io/service-name=${name}` },
  });
  const svc = snap.items[0];
  const endpoints = slices.items.flatMap((slice) =>
    (slice.endpoints ?? []).flatMap((ep) =>
      (ep.addresses ?? []).map((address) => ({ address, ep, slice })),
    ),
  );
  const ready = endpoints.filter(({ ep }) => ep.conditions?.ready !== false);
  return (
    <section>
      <h2>
        <a href={href("services")}>Services</a> / {ns} / {name}
      </h2>
      {!svc ? (
        <p class="muted">{snap.loaded ? "This service does not exist (any more)." : "Loading…"}</p>
      ) : (
        <div class="summary">
          <div class="field"><div class="field-label">Type</div>{svc.spec?.type ?? "ClusterIP"}</div>
          <div class="field"><div class="field-label">Cluster IP</div>{svc.spec?.clusterIP ?? "<none>"}</div>
          <div class="field"><div class="field-label">External IP</div>{serviceExternalIp(svc)}</div>
          <div class="field"><div class="field-label">Ports</div>{servicePorts(svc)}</div>
          <div class="field"><div class="field-label">Ready endpoints</div><span data-testid="ready-endpoints">{ready.length}</span></div>
        </div>
      )}
      <h3>Endpoints</h3>
      <table>
        <thead>
          <tr>
            <th>Address</th>
            <th>Ready</th>
            <th>Target</th>
            <th>Node</th>
            <th>Ports</th>
            <th>Slice</th>
          </tr>
        </thead>
        <tbody>
          {endpoints.map(({ address, ep, slice }) => (
            <tr data-testid={`endpoint-${address}`}>
              <td class="mono">{address}</td>
              <td>
                <span class={`status ${ep.conditions?.ready === false ? "warn" : "good"}`}>
                  {ep.conditions?.ready === false ? "not ready" : "ready"}
                </span>
              </td>
              <td>
                {ep.targetRef?.kind === "Pod" ? (
                  <a href={href("pods", ep.targetRef.namespace ?? ns, ep.targetRef.name ?? "")}>{ep.targetRef.name}</a>
                ) : (
                  ep.targetRef?.name ?? ""
                )}
              </td>
              <td>{ep.nodeName ?? ""}</td>
              <td class="mono">{(slice.ports ?? []).map((p) => `${p.name ? p.name + ":" : ""}${p.port}/${p.protocol ?? "TCP"}`).join(", ")}</td>
              <td>{slice.metadata?.name}</td>
            </tr>
          ))}
          {slices.loaded && endpoints.length === 0 && (
            <tr>
              <td class="empty" colSpan={6}>No endpoints.</td>
            </tr>
          )}
        </tbody>
      </table>
      {svc && (
        <>
          <h3>YAML</h3>
          <YamlView obj={svc} apiVersion="v1" kind="Service" />
        </>
      )}
    </section>
  );
}
