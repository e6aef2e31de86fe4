// Hooks that connect views to observables, live stores and the clock.

import { useEffect, useState } from "preact/hooks";
import { acquireStore, releaseStore } from "./api/store.js";
import { listPath, query } from "./api/resources.js";

export function useObservable(obs) {
  const [value, setValue] = useState(() => obs.get());
  useEffect(() => {
    // Values may be functions: always set them through an updater.
    setValue(() => obs.get());
    return obs.subscribe((v) => setValue(() => v));
  }, [obs]);
  return value;
}

const NOT_LOADED = { version: -1, loaded: false, error: null, items: [] };

// The live objects of a resource (see store.js): { loaded, error, items }.
// namespace "" means all namespaces; params holds selectors; poll lists
// every `poll` ms instead of watching; optional keeps a 404 out of the
// banner; enabled=false asks for nothing.
export function useResource(resource, { namespace = "", params = null, poll = 0, optional = false, enabled = true } = {}) {
  const path = enabled ? listPath(resource, namespace) : "";
  const key = path && `${poll} ${path}${query(params)}`;
  const [state, setState] = useState({ key: "", snap: NOT_LOADED });
  useEffect(() => {
    if (!path) return undefined;
    const store = acquireStore(path, params ?? {}, { poll, optional, label: resource.resource });
    const update = () => setState({ key, snap: store.snapshot() });
    update();
    const unsubscribe = store.subscribe(update);
    return () => {
      unsubscribe();
      releaseStore(store);
    };
  }, [key]);
  return state.key === key ? state.snap : NOT_LOADED;
}

// The current time, refreshed every `ms`: for columns such as AGE.
export function useNow(ms = 5000) {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}
