// The kinds the dashboard shows, and their REST paths.

const core = (resource, namespaced = true) => ({ group: "", version: "v1", resource, namespaced });
const apps = (resource) => ({ group: "apps", version: "v1", resource, namespaced: true });

export const Pods = core("pods");
export const Services = core("services");
export const Events = core("events");
export const Nodes = core("nodes", false);
export const Namespaces = core("namespaces", false);
export const Deployments = apps("deployments");
export const StatefulSets = apps("statefulsets");
export const DaemonSets = apps("daemonsets");
export const Jobs = { group: "batch", version: "v1", resource: "jobs", namespaced: true };
export const CronJobs = { group: "batch", version: "v1", resource: "cronjobs", namespaced: true };
export const EndpointSlices = { group: "discovery.k8s.io", version: "v1", resource: "endpointslices", namespaced: true };
export const NodeMetrics = { group: "metrics.k8s.io", version: "v1beta1", resource: "nodes", namespaced: false };
export const Alerts = { group: "alerting.capstan.io", version: "v1alpha1", resource: "alerts", namespaced: false };
export const AlertRules = { group: "alerting.capstan.io", version: "v1alpha1", resource: "alertrules", namespaced: false };

const root = (r) => (r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`);
const seg = encodeURIComponent;

// The collection: all namespaces when `ns` is empty.
export function listPath(r, ns = "") {
  return r.namespaced && ns ? `${root(r)}/namespaces/${seg(ns)}/${r.resource}` : `${root(r)}/${r.resource}`;
}

export function objectPath(r, ns, name, subresource = "") {
  return `${listPath(r, ns)}/${seg(name)}${subresource ? "/" + subresource : ""}`;
}

// "?a=1&b=2" from an object, leaving out empty values.
export function query(params) {
  const parts = Object.entries(params ?? {})
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => `${seg(k)}=${seg(String(v))}`);
  return parts.length ? "?" + parts.join("&") : "";
}
