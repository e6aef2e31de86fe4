import { useState } from "preact/hooks";
import { describeError, login, loginMessage } from "../api/client.js";
import { Logo } from "../components/Layout.jsx";
import { useObservable } from "../hooks.js";

// Asks for a bearer token (one of the server's --token-auth-file) and
// checks it with a SelfSubjectReview before keeping it.
export function Login() {
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const message = useObservable(loginMessage);

  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      await login(token.trim());
    } catch (err) {
      setError(err?.code === 401 ? "The server did not accept this token." : describeError(err));
      setBusy(false);
    }
  }

  return (
    <div class="login">
      <form class="login-box" onSubmit={submit}>
        <h1>
          <Logo /> capstan
        </h1>
        <p class="muted">Log in with a bearer token from the server's token file.</p>
        {message && <p class="notice">{message}</p>}
        <label for="token">Token</label>
        <input
          id="token"
          type="password"
          autocomplete="off"
          autofocus
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          data-testid="token-input"
        />
        {error && (
          <p class="error" data-testid="login-error">
            {error}
          </p>
        )}
        <button class="primary" type="submit" disabled={busy || !token.trim()} data-testid="login-button">
          {busy ? "Checking…" : "Log in"}
        </button>
      </form>
    </div>
  );
}
