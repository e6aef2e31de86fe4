// Headless Chromium for test_dashboard.py, driven by playwright-core from
// dashboard/node_modules: one JSON command per line on stdin, one JSON
// answer per line on stdout ({"ok": true, "value": ...} or {"ok": false,
// "error": "..."}). The test keeps all the logic; this file only acts.
//
// usage: node dashboard_browser.mjs DASHBOARD_SOURCE_DIR
// env: CAPSTAN_CHROMIUM (default /usr/bin/chromium), CAPSTAN_CHROMIUM_ARGS
// (more switches, space-separated: e.g. --log-net-log=FILE to debug)

import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";

const dashboardDir = process.argv[2];
if (!dashboardDir) {
  console.error("usage: node dashboard_browser.mjs DASHBOARD_SOURCE_DIR");
  process.exit(2);
}
const { chromium } = createRequire(path.join(path.resolve(dashboardDir), "package.json"))("playwright-core");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function isLoopback(hostname) {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

const browser = await chromium.launch({
  executablePath: process.env.CAPSTAN_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // Tests run as root; and whatever Chromium itself might want from the
  // internet goes to a closed local port (loopback is never proxied).
  args: [
    "--no-sandbox",
    "--proxy-server=http://127.0.0.1:9",
    "--no-first-run",
    "--disable-sync",
    ...(process.env.CAPSTAN_CHROMIUM_ARGS ?? "").split(" ").filter(Boolean),
  ],
});

// Everything the page did that the test checks at the end.
const report = { consoleErrors: [], pageErrors: [], foreignRequests: [], failedResponses: [] };
let page;

async function openPage() {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
  context.on("request", (req) => {
    const url = new URL(req.url());
    if (url.protocol === "data:" || url.protocol === "blob:" || url.protocol === "about:") return;
    if (!isLoopback(url.hostname)) report.foreignRequests.push(req.url());
  });
  context.on("response", (res) => {
    if (res.status() >= 400) report.failedResponses.push({ url: res.url(), status: res.status() });
  });
  page = await context.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error") report.consoleErrors.push({ text: msg.text(), url: msg.location()?.url ?? "" });
  });
  page.on("pageerror", (e) => report.pageErrors.push(String(e?.stack ?? e)));
}

const byTestId = (testid) => page.getByTestId(testid).first();

// Waits until the element's text holds `text` (a substring) or `line` (a
// whole line); returns the text.
async function waitText({ testid, text, line, timeout = 30000 }) {
  const deadline = Date.now() + timeout;
  let last = "";
  for (;;) {
    try {
      last = await byTestId(testid).innerText({ timeout: 1000 });
      if (text !== undefined && last.includes(text)) return last;
      if (line !== undefined && last.split("\n").some((l) => l.trim() === line)) return last;
    } catch {
      // Not there yet.
    }
    if (Date.now() > deadline) {
      throw new Error(`${testid}: waited ${timeout} ms for ${JSON.stringify(text ?? line)}; its text was ${JSON.stringify(last.slice(-400))}`);
    }
    await sleep(200);
  }
}

// A navigation Chromium aborts because this machine's interfaces changed
// (tests running beside this one add a veth per pod) is tried again.
async function gotoSteadily(url) {
  for (let attempt = 1; ; attempt++) {
    try {
      await page.goto(url);
      return page.url();
    } catch (e) {
      if (attempt >= 5 || !String(e).includes("ERR_NETWORK_CHANGED")) throw e;
      await sleep(200);
    }
  }
}

const commands = {
  goto: ({ url }) => gotoSteadily(url),
  hash: ({ hash }) => page.evaluate((h) => { location.hash = h; }, hash),
  click: ({ testid, timeout = 30000 }) => byTestId(testid).click({ timeout }),
  fill: ({ testid, value, timeout = 30000 }) => byTestId(testid).fill(String(value), { timeout }),
  select: ({ testid, value, timeout = 30000 }) => byTestId(testid).selectOption(String(value), { timeout }),
  text: ({ testid, timeout = 30000 }) => byTestId(testid).innerText({ timeout }),
  // The text if the element is there now, else "".
  textIfAny: async ({ testid }) => ((await page.getByTestId(testid).count()) ? byTestId(testid).innerText() : ""),
  waitText,
  // state: "visible" or "detached".
  waitFor: ({ testid, state = "visible", timeout = 30000 }) => byTestId(testid).waitFor({ state, timeout }),
  testids: ({ prefix }) =>
    page.$$eval(`[data-testid^="${prefix}"]`, (els) => els.map((e) => e.getAttribute("data-testid"))),
  screenshot: ({ path: file }) => page.screenshot({ path: file, fullPage: true }).then(() => file),
  report: () => report,
  version: () => browser.version(),
};

function answer(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

let closing = false;
async function close(code = 0) {
  if (closing) return;
  closing = true;
  await browser.close().catch(() => {});
  process.exit(code);
}
process.on("SIGTERM", () => close(1));
process.on("SIGINT", () => close(1));

await openPage();
answer({ ok: true, value: "ready" });

const input = readline.createInterface({ input: process.stdin });
for await (const line of input) {
  if (!line.trim()) continue;
  let request;
  try {
    request = JSON.parse(line);
  } catch (e) {
    answer({ ok: false, error: `bad command: ${e.message}` });
    continue;
  }
  if (request.cmd === "close") {
    answer({ ok: true });
    break;
  }
  const fn = commands[request.cmd];
  try {
    if (!fn) throw new Error(`unknown command ${request.cmd}`);
    const value = await fn(request);
    answer({ ok: true, value: value ?? null });
  } catch (e) {
    answer({ ok: false, error: String(e?.message ?? e) });
  }
}
await close(0);
