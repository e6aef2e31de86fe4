// bench/observe, dashboard part (run by run.py --dashboard): the dashboard's
// Pods page with N pods in headless Chromium (playwright-core from
// dashboard/node_modules), beside floors measured by plain Node clients in
// the same run. Times are medians (and min..max) in ms.
//
//   list        floor: GET /api/v1/namespaces/NS/pods with the dashboard's
//               bearer token, a new TLS connection each time, until the
//               JSON is parsed (and, apart, until its last byte)
//   first_load  a fresh browser context (no cache, no connections, a new
//               renderer), already logged in (the token in sessionStorage,
//               as api/client.js keeps it), from navigation start to the
//               Pods table's count saying "N pods" with its first page of
//               rows in the DOM (an in-page MutationObserver); with the
//               page's phases (DOMContentLoaded, its own LIST, main-thread
//               long tasks)
//   first_load_empty  the same for a namespace without pods (the page's
//               cost without the data), alternated with first_load
//   reload      the open Pods page reloaded (same tab)
//   watch       floor: a pod force-deleted through the API (the kubeconfig's
//               client certificate, one kept-open connection,
//               gracePeriodSeconds=0): from sending the DELETE until a plain
//               watch stream (the dashboard's token) delivers its DELETED
//   update      the same DELETE: until the pod's row is gone from the open
//               Pods page (in-page MutationObserver; the page's clock
//               matched to Node's by a measured offset)
//
// usage: node dashboard_bench.mjs --url https://127.0.0.1:PORT --kubeconfig PATH
//          --pods N [--loads 11] [--updates 11] [--lists 11] [--namespace default]
// env: CAPSTAN_TOKEN (a --token-auth-file token of the server with rights to
//      read pods; required), CAPSTAN_CHROMIUM (default /usr/bin/chromium)
// Creates the namespace observe-bench-empty and deletes --updates pods of
// --namespace (their controller replaces them). Prints progress on stderr
// and one JSON line of figures on stdout, last. Closes Chromium on exit,
// on failure and on SIGTERM/SIGINT.

import { createRequire } from "node:module";
import fs from "node:fs";
import https from "node:https";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DASHBOARD_DIR = path.resolve(HERE, "..", "..", "dashboard");
const requireDashboard = createRequire(path.join(DASHBOARD_DIR, "package.json"));
const { chromium } = requireDashboard("playwright-core");
const YAML = requireDashboard("yaml");

function parseArgs(argv) {
  const opts = { loads: 11, updates: 11, lists: 11, namespace: "default" };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!(key in opts) && !["url", "kubeconfig", "pods"].includes(key)) throw new Error(`unknown option ${argv[i]}`);
    opts[key] = argv[i + 1];
  }
  for (const k of ["url", "kubeconfig", "pods"]) if (!opts[k]) throw new Error(`--${k} is required`);
  for (const k of ["pods", "loads", "updates", "lists"]) opts[k] = Number(opts[k]);
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const token = process.env.CAPSTAN_TOKEN;
if (!token) throw new Error("CAPSTAN_TOKEN is not set");
const base = new URL(opts.url);
const NS = opts.namespace;
const PODS = `/api/v1/namespaces/${NS}/pods`;

const log = (...a) => console.error("dashboard bench:", ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now(); // epoch ms, sub-ms
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x) => Math.round(x * 10) / 10;
const ratio = (a, b) => Math.round((a / b) * 100) / 100;
const summary = (xs) => ({ median: round(median(xs)), min: round(Math.min(...xs)), max: round(Math.max(...xs)), n: xs.length });

// --- the kubeconfig's CA and admin client certificate
function kubeconfigTls(file) {
  const doc = YAML.parse(fs.readFileSync(file, "utf8"));
  const current = doc["current-context"];
  const ctx = (doc.contexts.find((c) => c.name === current) ?? doc.contexts[0]).context;
  const cluster = doc.clusters.find((c) => c.name === ctx.cluster).cluster;
  const user = doc.users.find((u) => u.name === ctx.user).user;
  const dir = path.dirname(file);
  const read = (data, p) => (data ? Buffer.from(data, "base64") : fs.readFileSync(path.resolve(dir, p)));
  return {
    ca: read(cluster["certificate-authority-data"], cluster["certificate-authority"]),
    cert: read(user["client-certificate-data"], user["client-certificate"]),
    key: read(user["client-key-data"], user["client-key"]),
  };
}
const tls = kubeconfigTls(opts.kubeconfig);

// The writer's one connection, kept open so that a change costs no handshake.
const certAgent = new https.Agent({ keepAlive: true, maxSockets: 1 });

// One request: with the dashboard's token on a new connection (as a fresh
// page would), or with the client certificate on the writer's connection.
function request(method, p, { auth = "token", body } = {}) {
  const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: base.hostname,
        port: base.port,
        method,
        path: p,
        agent: auth === "cert" ? certAgent : false,
        ca: tls.ca,
        ...(auth === "cert" ? { cert: tls.cert, key: tls.key } : {}),
        headers: {
          Accept: "application/json",
          ...(auth === "token" ? { Authorization: `Bearer ${token}` } : {}),
          ...(payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : {}),
        },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload ?? undefined);
  });
}

// --- floor 1: the LIST the Pods page makes, to the parsed JSON
async function measureList() {
  const times = [];
  const bodyTimes = [];
  let bytes = 0;
  let items = 0;
  let rv = "";
  for (let i = 0; i < opts.lists + 1; i++) {
    const t0 = now();
    const res = await request("GET", PODS);
    const tBody = now() - t0;
    if (res.status !== 200) throw new Error(`LIST ${PODS}: ${res.status} ${res.body.toString().slice(0, 200)}`);
    const list = JSON.parse(res.body.toString());
    const t = now() - t0;
    if (i > 0) { // the first one warms the server's and Node's paths
      times.push(t);
      bodyTimes.push(tBody);
    }
    bytes = res.body.length;
    items = list.items.length;
    rv = list.metadata.resourceVersion;
  }
  return { times, bodyTimes, bytes, items, rv };
}

// --- floor 2: a plain watch stream; records when each pod's DELETED arrives
function startWatch(rv) {
  const deleted = new Map(); // name → arrival time
  const waiters = new Map(); // name → resolve
  let lastEvent = now();
  let buf = "";
  let req;
  const opened = new Promise((resolve, reject) => {
    req = https.request(
      {
        host: base.hostname,
        port: base.port,
        path: `${PODS}?watch=1&resourceVersion=${encodeURIComponent(rv)}&allowWatchBookmarks=true`,
        agent: false,
        ca: tls.ca,
        headers: { Accept: "application/json", Authorization: `Bearer ${token}` },
      },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`watch: ${res.statusCode}`));
        resolve();
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          const t = now();
          buf += chunk;
          let nl;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (!line.trim()) continue;
            const ev = JSON.parse(line);
            if (ev.type === "BOOKMARK") continue;
            lastEvent = t;
            if (ev.type === "DELETED") {
              const name = ev.object?.metadata?.name;
              deleted.set(name, t);
              waiters.get(name)?.(t);
            }
          }
        });
      },
    );
    req.on("error", (e) => reject(e));
    req.end();
  });
  return {
    opened,
    quietFor: () => now() - lastEvent,
    deletedAt: (name, timeout) =>
      deleted.has(name)
        ? Promise.resolve(deleted.get(name))
        : new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`watch: no DELETED for ${name} in ${timeout} ms`)), timeout);
            waiters.set(name, (t) => {
              clearTimeout(timer);
              resolve(t);
            });
          }),
    close: () => req?.destroy(),
  };
}

// --- the browser
let browser = null;
let watch = null;
let closing = false;
async function shutdown(code) {
  if (closing) return;
  closing = true;
  watch?.close();
  certAgent.destroy();
  await browser?.close().catch(() => {});
  process.exit(code);
}
process.on("SIGTERM", () => shutdown(143));
process.on("SIGINT", () => shutdown(130));

const pageUrl = new URL("/dashboard/#/pods", base).toString();
const countText = (n) => `${n} ${n === 1 ? "pod" : "pods"}`; // DataTable's count
const wantCount = countText(opts.pods);
const wantRows = Math.min(opts.pods, 100); // DataTable's page size
// A namespace without pods: the same page's first load without the data.
const EMPTY_NS = "observe-bench-empty";

// Runs in the page before its scripts: logged in, namespace chosen, and a
// MutationObserver noting when the table first shows every pod.
function initScript({ token, ns, wantCount, wantRows }) {
  sessionStorage.setItem("capstan.token", token);
  sessionStorage.setItem("capstan.user", "observe-bench");
  sessionStorage.setItem("capstan.namespace", ns);
  const bench = (window.__bench = { loaded: null, gone: null, longTasks: [] });
  // Main-thread tasks over 50 ms (script, layout): where a load's time goes.
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) bench.longTasks.push([e.startTime, e.duration]);
  }).observe({ type: "longtask", buffered: true });
  const check = () => {
    const count = document.querySelector(".table-tools .muted");
    if (!count || count.textContent !== wantCount) return false;
    if (document.querySelectorAll('tbody tr[data-testid^="pod-"]').length !== wantRows) return false;
    bench.loaded = performance.now();
    return true;
  };
  const observer = new MutationObserver(() => check() && observer.disconnect());
  observer.observe(document, { childList: true, subtree: true, characterData: true });
}

async function newPage(empty = false) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
  await context.addInitScript(
    initScript,
    empty ? { token, ns: EMPTY_NS, wantCount: countText(0), wantRows: 0 } : { token, ns: NS, wantCount, wantRows },
  );
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e?.message ?? e)));
  return { context, page, errors };
}

// The page's figures (ms from its navigation start) once the table shows
// every pod: then, DOMContentLoaded, its pods LIST's start and end.
async function loadFigures(page, errors, pods = PODS) {
  await page.waitForFunction(() => window.__bench.loaded !== null, null, { timeout: 120000, polling: 100 }).catch((e) => {
    throw new Error(`${e.message}; page errors: ${errors.slice(-3)}`);
  });
  return page.evaluate((pods) => {
    const list = performance
      .getEntriesByType("resource")
      .find((r) => new URL(r.name).pathname === pods && !new URL(r.name).search);
    const nav = performance.getEntriesByType("navigation")[0];
    const { loaded, longTasks } = window.__bench;
    const end = list?.responseEnd ?? loaded;
    // Long tasks' time after the LIST's last byte, until the table showed it.
    const busy = longTasks.reduce((sum, [start, d]) => sum + Math.max(0, Math.min(start + d, loaded) - Math.max(start, end)), 0);
    return {
      loaded,
      domContentLoaded: nav?.domContentLoadedEventEnd ?? null,
      listStart: list?.startTime ?? null,
      listEnd: list?.responseEnd ?? null,
      longTaskAfterList: busy,
      longTaskTotal: longTasks.reduce((sum, [s, d]) => sum + (s < loaded ? Math.min(d, loaded - s) : 0), 0),
    };
  }, pods);
}

// A fresh context (no cache, no connections, a new renderer) navigated to
// the Pods page; empty: of a namespace without pods.
async function firstLoad(empty = false) {
  const { context, page, errors } = await newPage(empty);
  try {
    await page.goto(pageUrl);
    return await loadFigures(page, errors, empty ? `/api/v1/namespaces/${EMPTY_NS}/pods` : PODS);
  } finally {
    await context.close();
  }
}

// The open Pods page reloaded `n` times (the tab's renderer, connections and
// whatever Chromium keeps across a reload).
async function reloads(n) {
  const { context, page, errors } = await newPage();
  try {
    await page.goto(pageUrl);
    await loadFigures(page, errors);
    const out = [];
    for (let i = 0; i < n; i++) {
      await page.reload();
      out.push(await loadFigures(page, errors));
    }
    return out;
  } finally {
    await context.close();
  }
}

// page clock − Node clock (ms), from the round trip with the smallest delay.
async function clockOffset(page) {
  let best = null;
  for (let i = 0; i < 15; i++) {
    const t0 = now();
    const pt = await page.evaluate(() => performance.timeOrigin + performance.now());
    const t1 = now();
    if (!best || t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: pt - (t0 + t1) / 2 };
  }
  return best;
}

async function settle(page, minQuietMs = 700, timeout = 30000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const shown = await page.evaluate(() => document.querySelector(".table-tools .muted")?.textContent ?? "");
    if (shown === wantCount && watch.quietFor() >= minQuietMs) return;
    if (Date.now() > deadline) throw new Error(`the cluster did not settle: the page shows ${JSON.stringify(shown)}`);
    await sleep(100);
  }
}

async function updates() {
  const { context, page, errors } = await newPage();
  try {
    await page.goto(pageUrl);
    await page.waitForFunction(() => window.__bench.loaded !== null, null, { timeout: 120000, polling: 100 });
    const clock = await clockOffset(page);
    const results = { dashboard: [], watch: [], deleteResponse: [], clock };
    for (let i = 0; i < opts.updates; i++) {
      await settle(page);
      // A pod whose row is on the page now (one from the middle of it).
      const rows = await page.$$eval('tbody tr[data-testid^="pod-"]', (els) => els.map((e) => e.getAttribute("data-testid")));
      const testid = rows[Math.floor(rows.length / 2)];
      const name = testid.slice(`pod-${NS}-`.length);
      await page.evaluate((tid) => {
        window.__bench.gone = null;
        const observer = new MutationObserver(() => {
          if (!document.querySelector(`[data-testid="${tid}"]`)) {
            window.__bench.gone = performance.timeOrigin + performance.now();
            observer.disconnect();
          }
        });
        observer.observe(document.querySelector("tbody"), { childList: true, subtree: true });
      }, testid);
      const seen = watch.deletedAt(name, 30000);
      const t0 = now();
      const res = await request("DELETE", `${PODS}/${name}?gracePeriodSeconds=0`, { auth: "cert" });
      const tResponse = now();
      if (res.status !== 200 && res.status !== 202) throw new Error(`DELETE ${name}: ${res.status} ${res.body}`);
      const tWatch = await seen;
      await page.waitForFunction(() => window.__bench.gone !== null, null, { timeout: 30000, polling: 50 }).catch((e) => {
        throw new Error(`row ${testid} still shown: ${e.message}; page errors: ${errors.slice(-3)}`);
      });
      const tGone = (await page.evaluate(() => window.__bench.gone)) - clock.offset;
      results.deleteResponse.push(tResponse - t0);
      results.watch.push(tWatch - t0);
      results.dashboard.push(tGone - t0);
      log(`update ${i + 1}: ${name} response ${(tResponse - t0).toFixed(1)} ms, watch ${(tWatch - t0).toFixed(1)} ms, row gone ${(tGone - t0).toFixed(1)} ms`);
    }
    if (errors.length) results.pageErrors = errors;
    return results;
  } finally {
    await context.close();
  }
}

async function main() {
  const list = await measureList();
  if (list.items !== opts.pods) throw new Error(`the LIST has ${list.items} pods, not ${opts.pods}`);
  log(`LIST: median ${median(list.times).toFixed(1)} ms parsed (${median(list.bodyTimes).toFixed(1)} ms to its last byte), ${list.bytes} bytes`);

  browser = await chromium.launch({
    executablePath: process.env.CAPSTAN_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // Whatever Chromium itself might want from the internet goes to a closed
    // local port (loopback is never proxied).
    args: ["--no-sandbox", "--proxy-server=http://127.0.0.1:9", "--no-first-run", "--disable-sync"],
  });

  const ns = await request("POST", "/api/v1/namespaces", {
    auth: "cert",
    body: { apiVersion: "v1", kind: "Namespace", metadata: { name: EMPTY_NS } },
  });
  if (ns.status !== 201 && ns.status !== 409) throw new Error(`creating namespace ${EMPTY_NS}: ${ns.status} ${ns.body}`);

  await firstLoad(); // warm-up: Chromium's own first start of a renderer, disk caches
  // Loads with every pod and of the empty namespace, alternating, so that
  // both see the same noise.
  const loads = [];
  const emptyLoads = [];
  for (let i = 0; i < opts.loads; i++) {
    const e = await firstLoad(true);
    emptyLoads.push(e);
    const r = await firstLoad();
    loads.push(r);
    log(`first load ${i + 1}: ${r.loaded.toFixed(1)} ms (DOMContentLoaded ${r.domContentLoaded?.toFixed(1)}, ` +
        `its LIST ${r.listStart?.toFixed(1)}..${r.listEnd?.toFixed(1)}, long tasks ${r.longTaskTotal.toFixed(0)} ms, ` +
        `${r.longTaskAfterList.toFixed(0)} after the LIST); empty namespace ${e.loaded.toFixed(1)} ms`);
  }

  await request("GET", "/version", { auth: "cert" }); // opens the writer's connection
  const warm = await reloads(opts.loads);
  log(`reloads: ${warm.map((r) => r.loaded.toFixed(1)).join(", ")} ms`);

  watch = startWatch(list.rv);
  await watch.opened;
  const upd = await updates();

  const load = summary(loads.map((r) => r.loaded));
  const listFloor = summary(list.times);
  const watchFloor = summary(upd.watch);
  const update = summary(upd.dashboard);
  const out = {
    pods: opts.pods,
    chromium: browser.version(),
    list_ms: listFloor,
    list_bytes: list.bytes,
    list_last_byte_ms: summary(list.bodyTimes),
    first_load_ms: load,
    // medians of the first loads' phases, ms from navigation start
    first_load_phases_ms: {
      dom_content_loaded: round(median(loads.map((r) => r.domContentLoaded))),
      list_start: round(median(loads.map((r) => r.listStart))),
      list_end: round(median(loads.map((r) => r.listEnd))),
      list_duration: round(median(loads.map((r) => r.listEnd - r.listStart))),
      // main-thread long tasks (> 50 ms) until all pods shown; and of those, after the LIST's last byte
      long_tasks: round(median(loads.map((r) => r.longTaskTotal))),
      long_tasks_after_list: round(median(loads.map((r) => r.longTaskAfterList))),
    },
    first_load_vs_list: ratio(load.median, listFloor.median),
    // the same page's first load for a namespace without pods
    first_load_empty_ms: summary(emptyLoads.map((r) => r.loaded)),
    reload_ms: summary(warm.map((r) => r.loaded)),
    delete_response_ms: summary(upd.deleteResponse),
    watch_ms: watchFloor,
    update_ms: update,
    update_vs_watch: ratio(update.median, watchFloor.median),
    clock_offset_uncertainty_ms: round(upd.clock.rtt / 2),
    ...(upd.pageErrors ? { page_errors: upd.pageErrors } : {}),
  };
  return out;
}

let code = 0;
try {
  const out = await main();
  process.stdout.write(JSON.stringify(out) + "\n");
} catch (e) {
  console.error(e?.stack ?? String(e));
  code = 1;
} finally {
  closing = true;
  watch?.close();
  certAgent.destroy();
  await browser?.close().catch(() => {});
}
process.exit(code);
