import assert from "node:assert/strict";
import { test } from "node:test";
import { lineBatches } from "../src/api/lines.js";
import { applyEvent, byNamespaceAndName, keyOf } from "../src/api/objects.js";

const pod = (ns, name, rv) => ({ metadata: { namespace: ns, name, resourceVersion: rv } });

test("watch events keep a keyed set", () => {
  const map = new Map();
  assert.equal(applyEvent(map, { type: "ADDED", object: pod("a", "x", "5") }), "5");
  assert.equal(applyEvent(map, { type: "ADDED", object: pod("b", "x", "6") }), "6");
  assert.equal(applyEvent(map, { type: "MODIFIED", object: pod("a", "x", "7") }), "7");
  assert.equal(map.get("a/x").metadata.resourceVersion, "7");
  assert.equal(applyEvent(map, { type: "BOOKMARK", object: { metadata: { resourceVersion: "9" } } }), "9");
  assert.equal(map.size, 2);
  assert.equal(applyEvent(map, { type: "DELETED", object: pod("b", "x", "10") }), "10");
  assert.deepEqual([...map.keys()], ["a/x"]);
  assert.equal(applyEvent(map, { type: "SOMETHING" }), null);
  assert.equal(keyOf({ metadata: { name: "node-1" } }), "node-1");
  assert.equal(keyOf(undefined), "");
});

test("objects sort by namespace, then name", () => {
  const sorted = [pod("b", "a"), pod("a", "z"), pod("a", "b"), { metadata: { name: "cluster" } }].sort(byNamespaceAndName);
  assert.deepEqual(sorted.map(keyOf), ["cluster", "a/b", "a/z", "b/a"]);
});

function streamOf(chunks) {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(typeof c === "string" ? encoder.encode(c) : c);
      controller.close();
    },
  });
}

test("a streamed body splits into lines across chunks", async () => {
  const euro = new TextEncoder().encode("€"); // three bytes, split across two chunks
  const body = streamOf(['{"type":"ADDED"}\n{"ty', 'pe":"MODIFIED"}\n', "partial ", euro.slice(0, 1), euro.slice(1), "\nlast"]);
  const batches = [];
  for await (const lines of lineBatches(body)) batches.push(lines);
  assert.deepEqual(batches, [['{"type":"ADDED"}'], ['{"type":"MODIFIED"}'], ["partial €"], ["last"]]);
});

test("leaving the loop early cancels the body", async () => {
  let cancelled = false;
  const body = new ReadableStream({
    pull(controller) {
      controller.enqueue(new TextEncoder().encode("line\n"));
    },
    cancel() {
      cancelled = true;
    },
  });
  for await (const lines of lineBatches(body)) {
    assert.deepEqual(lines, ["line"]);
    break;
  }
  assert.ok(cancelled);
});
