// Keyed object sets as a watch maintains them. Pure functions: the store
// (store.js) owns the maps; objects are never mutated after they arrive.

export function keyOf(obj) {
  const m = obj?.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name}` : (m.name ?? "");
}

// Applies one watch event to `map` (key → object). Returns the event's
// resourceVersion, or null for an event that carries none. ERROR events are
// the caller's to handle.
export function applyEvent(map, event) {
  const obj = event?.object;
  const rv = obj?.metadata?.resourceVersion ?? null;
  switch (event?.type) {
    case "ADDED":
    case "MODIFIED":
      map.set(keyOf(obj), obj);
      return rv;
    case "DELETED":
      map.delete(keyOf(obj));
      return rv;
    case "BOOKMARK":
      return rv;
    default:
      return null;
  }
}

// Namespace, then name: the order kubectl lists in.
export function byNamespaceAndName(a, b) {
  const am = a.metadata ?? {};
  const bm = b.metadata ?? {};
  const an = am.namespace ?? "";
  const bn = bm.namespace ?? "";
  if (an !== bn) return an < bn ? -1 : 1;
  const ax = am.name ?? "";
  const bx = bm.name ?? "";
  return ax < bx ? -1 : ax > bx ? 1 : 0;
}
