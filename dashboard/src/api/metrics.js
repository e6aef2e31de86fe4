// Node usage over time: metrics.k8s.io has only the current sample, so the
// dashboard polls it while logged in and keeps the last samples per node.

import { get } from "./client.js";
import { NodeMetrics, listPath } from "./resources.js";
import { parseQuantity } from "../format.js";
import { observable } from "../state.js";

export const POLL_MS = 10000;
export const SAMPLES = 30;

// { available: null (not asked yet) | true | false, error, nodes: Map
// name → [{ t, cpu (cores), memory (bytes) }] }, replaced on every poll.
export const nodeMetrics = observable({ available: null, error: "", nodes: new Map() });

export function startNodeMetrics() {
  let timer = null;
  let stopped = false;
  async function poll() {
    const previous = nodeMetrics.get();
    try {
      const list = await get(listPath(NodeMetrics));
      const nodes = new Map();
      const t = Date.now();
      for (const m of list?.items ?? []) {
        const name = m.metadata?.name ?? "";
        const sample = { t, cpu: parseQuantity(m.usage?.cpu), memory: parseQuantity(m.usage?.memory) };
        nodes.set(name, [...(previous.nodes.get(name) ?? []), sample].slice(-SAMPLES));
      }
      if (!stopped) nodeMetrics.set({ available: true, error: "", nodes });
    } catch (e) {
      // Shown where the numbers would be, not in the banner: a cluster may
      // simply not serve metrics.
      if (!stopped) nodeMetrics.set({ ...previous, available: false, error: e?.message ?? String(e) });
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }
  poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
