// Tiny observable values shared across views (session, namespace, errors).
// Views read them through useObservable (hooks.js).

export function observable(initial) {
  let value = initial;
  const listeners = new Set();
  return {
    get: () => value,
    set(next) {
      if (next === value) return;
      value = next;
      for (const fn of [...listeners]) fn(value);
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}

// The namespace the views show: "" for all namespaces. Kept per tab.
const NAMESPACE_KEY = "capstan.namespace";
export const namespace = observable(sessionStorage.getItem(NAMESPACE_KEY) ?? "");
namespace.subscribe((ns) => sessionStorage.setItem(NAMESPACE_KEY, ns));

// Errors shown in the banner, keyed so that a failing watch shows one entry
// (cleared when it recovers) and an action's error replaces the previous one.
export const errors = observable([]);

export function reportError(key, message) {
  const rest = errors.get().filter((e) => e.key !== key);
  errors.set([...rest, { key, message }]);
}

export function clearError(key) {
  const list = errors.get();
  if (list.some((e) => e.key === key)) errors.set(list.filter((e) => e.key !== key));
}
