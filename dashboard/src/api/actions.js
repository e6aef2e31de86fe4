// The changes the dashboard makes, as kubectl makes them.

import { describeError, send } from "./client.js";
import { Deployments, Nodes, Pods, objectPath } from "./resources.js";
import { clearError, reportError } from "../state.js";

const MERGE = "application/merge-patch+json";
const STRATEGIC = "application/strategic-merge-patch+json";

// Runs an action; its error goes to the banner. Returns whether it worked.
export async function runAction(label, fn) {
  try {
    await fn();
    clearError("action");
    return true;
  } catch (e) {
    reportError("action", `${label}: ${describeError(e)}`);
    return false;
  }
}

// kubectl scale: the scale subresource.
export function scaleDeployment(ns, name, replicas) {
  return send("PATCH", objectPath(Deployments, ns, name, "scale"), {
    body: { spec: { replicas } },
    contentType: MERGE,
  });
}

// kubectl rollout restart: a new pod template annotation rolls every pod.
export function restartDeployment(ns, name) {
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  return send("PATCH", objectPath(Deployments, ns, name), {
    body: { spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": now } } } } },
    contentType: STRATEGIC,
  });
}

export function deletePod(ns, name) {
  return send("DELETE", objectPath(Pods, ns, name));
}

// kubectl cordon / uncordon.
export function setUnschedulable(name, unschedulable) {
  return send("PATCH", objectPath(Nodes, "", name), {
    body: { spec: { unschedulable: unschedulable ? true : null } },
    contentType: MERGE,
  });
}
