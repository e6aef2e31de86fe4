// A container's log, followed live: the last 500 lines, then every line as
// the server streams it (GET .../log?follow=true), appended once per frame.

import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { ApiError, describeError, open } from "../api/client.js";
import { lineBatches } from "../api/lines.js";
import { Pods, objectPath, query } from "../api/resources.js";

const TAIL_LINES = 500;
const KEEP_LINES = 5000;

// containers: the pod's container names; restartKeys: name → a string that
// changes when that container (re)starts or stops, to follow the new one.
export function PodLogs({ ns, name, containers, restartKeys }) {
  const [container, setContainer] = useState(containers[0] ?? "");
  const [text, setText] = useState("");
  const [state, setState] = useState("");
  const [attempt, setAttempt] = useState(0);
  const pre = useRef(null);
  const atBottom = useRef(true);
  const restartKey = restartKeys[container] ?? "";

  useEffect(() => {
    if (!container) return undefined;
    const abort = new AbortController();
    let retry = 0;
    let lines = [];
    let frame = 0;
    const flush = () => {
      frame = 0;
      setText(lines.join("\n"));
    };
    setText("");
    setState("connecting");
    (async () => {
      try {
        const path = objectPath(Pods, ns, name, "log") + query({ follow: "true", container, tailLines: TAIL_LINES });
        const res = await open("GET", path, { signal: abort.signal, accept: "text/plain, */*" });
        setState("streaming");
        for await (const batch of lineBatches(res.body)) {
          lines = lines.concat(batch);
          if (lines.length > KEEP_LINES) lines = lines.slice(-KEEP_LINES);
          frame ||= requestAnimationFrame(flush);
        }
        flush();
        setState("ended");
      } catch (e) {
        if (abort.signal.aborted) return;
        setState(`error: ${describeError(e)}`);
        // The server's answers (e.g. "container ... is waiting to start")
        // hold until the container's state changes, which starts a new
        // stream; a lost connection is worth another try.
        if (!(e instanceof ApiError)) retry = setTimeout(() => setAttempt((n) => n + 1), 2000);
      }
    })();
    return () => {
      abort.abort();
      cancelAnimationFrame(frame);
      clearTimeout(retry);
    };
  }, [ns, name, container, restartKey, attempt]);

  // Stay at the end while the reader is there; leave them alone otherwise.
  useLayoutEffect(() => {
    if (pre.current && atBottom.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text]);

  return (
    <div class="logs">
      <div class="table-tools">
        <label>
          Container{" "}
          <select value={container} onChange={(e) => setContainer(e.currentTarget.value)} data-testid="log-container">
            {containers.map((c) => (
              <option value={c}>{c}</option>
            ))}
          </select>
        </label>
        <span class="muted" data-testid="log-state">
          {state === "streaming" ? "● live" : state === "ended" ? "stream ended" : state}
        </span>
      </div>
      <pre
        ref={pre}
        class="log-pane"
        data-testid="logs"
        onScroll={(e) => {
          const el = e.currentTarget;
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {text}
      </pre>
    </div>
  );
}
