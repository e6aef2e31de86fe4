// Live object sets: a ResourceStore lists a collection, then watches it from
// the list's resourceVersion and applies each event, so views always render
// the server's current state without polling. Listeners hear of changes at
// most once per animation frame, so a burst of events (a thousand pods
// starting) costs one render.
//
// Browsers allow six HTTP/1.1 connections per server and every watch holds
// one, so a view watches only what it shows live and polls the rest
// (options.poll); stores are shared by key and stopped shortly after their
// last view lets go.

import { ApiError, describeError, get, open } from "./client.js";
import { lineBatches } from "./lines.js";
import { applyEvent, byNamespaceAndName, keyOf } from "./objects.js";
import { query } from "./resources.js";
import { clearError, reportError } from "../state.js";

const MAX_RETRY_MS = 30000;

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export class ResourceStore {
  // path: a collection path; params: its query (selectors); options:
  // poll (ms: list that often instead of watching), optional (a 404, the
  // server not serving this API, is the view's to show, not the banner's),
  // label (names it in the banner).
  constructor(path, params = {}, { poll = 0, optional = false, label = "" } = {}) {
    this.path = path;
    this.params = params;
    this.poll = poll;
    this.optional = optional;
    this.label = label || path.split("/").pop();
    this.key = storeKey(path, params, poll);
    this.items = new Map();
    this.loaded = false;
    this.error = null;
    this.version = 0;
    this.listeners = new Set();
    this.notifying = false;
    this.snap = null;
    this.abort = null;
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  start() {
    if (this.abort) return;
    this.abort = new AbortController();
    this.run(this.abort.signal);
  }

  stop() {
    this.abort?.abort();
    this.abort = null;
    clearError(this.key);
  }

  // What views render: the objects sorted by namespace and name, whether
  // the first list has arrived, and the last error (null once recovered).
  // The same object until the next change.
  snapshot() {
    if (this.snap?.version !== this.version) {
      const items = [...this.items.values()].sort(byNamespaceAndName);
      this.snap = { version: this.version, loaded: this.loaded, error: this.error, items };
    }
    return this.snap;
  }

  changed() {
    this.version++;
    if (this.notifying) return;
    this.notifying = true;
    requestAnimationFrame(() => {
      this.notifying = false;
      for (const fn of [...this.listeners]) fn();
    });
  }

  setError(e) {
    if (!e && !this.error) return;
    this.error = e;
    this.changed();
    if (!e || (this.optional && e.code === 404)) clearError(this.key);
    else reportError(this.key, `${this.label}: ${describeError(e)}`);
  }

  async run(signal) {
    let retry = 1000;
    while (!signal.aborted) {
      try {
        let rv = await this.list(signal);
        this.setError(null);
        retry = 1000;
        if (this.poll) {
          await sleep(this.poll, signal);
          continue;
        }
        while (rv !== null && !signal.aborted) rv = await this.watch(rv, signal);
      } catch (e) {
        if (signal.aborted) return;
        this.setError(e);
        // A resource the server does not serve is not coming back soon.
        await sleep(e?.code === 404 ? MAX_RETRY_MS : retry, signal);
        retry = Math.min(retry * 2, MAX_RETRY_MS);
      }
    }
  }

  async list(signal) {
    const list = await get(this.path + query(this.params), { signal });
    const items = new Map();
    for (const obj of list?.items ?? []) items.set(keyOf(obj), obj);
    this.items = items;
    this.loaded = true;
    this.changed();
    return list?.metadata?.resourceVersion || "0";
  }

  // Watches from `rv` until the server ends the stream. Returns the
  // resourceVersion to resume from, or null when `rv` is too old (410
  // Gone: the caller lists again). Other errors throw.
  async watch(rv, signal) {
    const started = Date.now();
    const params = { ...this.params, watch: "1", resourceVersion: rv, allowWatchBookmarks: "true" };
    let res;
    try {
      res = await open("GET", this.path + query(params), { signal });
    } catch (e) {
      if (e?.code === 410) return null;
      throw e;
    }
    for await (const lines of lineBatches(res.body)) {
      let changed = false;
      for (const line of lines) {
        if (!line.trim()) continue;
        const event = JSON.parse(line);
        if (event.type === "ERROR") {
          const status = event.object ?? {};
          if (status.code === 410) return null;
          throw new ApiError(status.code ?? 500, status.message || "watch failed", status.reason ?? "");
        }
        rv = applyEvent(this.items, event) ?? rv;
        changed ||= event.type !== "BOOKMARK";
      }
      if (changed) this.changed();
    }
    // Servers end watches after a while; one that keeps ending at once
    // must not become a busy loop.
    if (Date.now() - started < 1000) await sleep(1000, signal);
    return rv;
  }
}

function storeKey(path, params, poll) {
  return (poll ? `poll ${poll} ` : "") + path + query(params);
}

const stores = new Map(); // key → { store, refs, timer }

// A started store for the collection, shared with other views that want
// the same one. Each acquire needs a release.
export function acquireStore(path, params, options = {}) {
  const key = storeKey(path, params, options.poll);
  let entry = stores.get(key);
  if (!entry) {
    entry = { store: new ResourceStore(path, params, options), refs: 0, timer: null };
    stores.set(key, entry);
    entry.store.start();
  }
  clearTimeout(entry.timer);
  entry.refs++;
  return entry.store;
}

export function releaseStore(store) {
  const entry = stores.get(store.key);
  if (!entry || --entry.refs > 0) return;
  // The next view often wants the same collection: keep it for a moment
  // rather than list again.
  entry.timer = setTimeout(() => {
    stores.delete(store.key);
    store.stop();
  }, 300);
}
