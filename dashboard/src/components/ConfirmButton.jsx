// A button for a destructive action that asks once more in place (no
// window.confirm: it blocks the page and tests).

import { useState } from "preact/hooks";

export function ConfirmButton({ label, question = "Sure?", onConfirm, testid, danger = true }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  if (!asking) {
    return (
      <button class={danger ? "danger" : ""} data-testid={testid} disabled={busy} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span class="confirm">
      {question}{" "}
      <button
        class={danger ? "danger" : "primary"}
        data-testid={testid && `${testid}-confirm`}
        onClick={async () => {
          setAsking(false);
          setBusy(true);
          await onConfirm();
          setBusy(false);
        }}
      >
        Yes
      </button>
      <button data-testid={testid && `${testid}-cancel`} onClick={() => setAsking(false)}>
        No
      </button>
    </span>
  );
}
