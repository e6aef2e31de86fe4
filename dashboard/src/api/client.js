// The API client: the session's bearer token, JSON requests and their errors.
// Every request goes to this origin's Kubernetes API with
// `Authorization: Bearer TOKEN`; a 401 ends the session (back to login).

import { errors, observable } from "../state.js";

const TOKEN_KEY = "capstan.token";
const USER_KEY = "capstan.user";

// { token, user } while logged in, null otherwise. The token lives in
// sessionStorage: it survives a reload but not the tab.
export const session = observable(readSession());

function readSession() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { token, user: sessionStorage.getItem(USER_KEY) ?? "" } : null;
}

// Why the last session ended (shown on the login page).
export const loginMessage = observable("");

export class ApiError extends Error {
  constructor(code, message, reason = "") {
    super(message);
    this.code = code;
    this.reason = reason;
  }
}

export function logout(message = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
  loginMessage.set(message);
  errors.set([]);
  session.set(null);
}

const SELF_SUBJECT_REVIEW = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

// Checks `token` with a SelfSubjectReview and starts a session as its user.
export async function login(token) {
  const review = await send("POST", SELF_SUBJECT_REVIEW, {
    token,
    body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
  });
  const user = review?.status?.userInfo?.username ?? "";
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(USER_KEY, user);
  loginMessage.set("");
  session.set({ token, user });
  return user;
}

// The raw fetch Response for `path` (2xx only; other statuses throw
// ApiError). Streams (watches, logs) read its body themselves.
export async function open(method, path, { token, body, contentType, signal, accept } = {}) {
  const auth = token ?? session.get()?.token;
  const headers = { Accept: accept ?? "application/json" };
  if (auth) headers.Authorization = `Bearer ${auth}`;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = contentType ?? "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  const request = () => fetch(path, { method, headers, body: payload, signal, cache: "no-store" });
  let res;
  try {
    res = await request();
  } catch (e) {
    // The browser fails requests in flight when its network changes (Wi-Fi,
    // VPN): a read is worth one more try before it becomes an error.
    if (method !== "GET" || signal?.aborted) throw e;
    res = await request();
  }
  if (res.ok) return res;
  const err = await errorOf(res);
  // A login attempt's 401 is a wrong token, not an expired session.
  if (res.status === 401 && !token) logout("Your session has ended: log in again.");
  throw err;
}

// A request whose answer is JSON (or empty).
export async function send(method, path, options = {}) {
  const res = await open(method, path, options);
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, options) => send("GET", path, options);

// The Status object's message, as kubectl shows it.
async function errorOf(res) {
  let text = "";
  try {
    text = await res.text();
    const status = JSON.parse(text);
    if (status && status.kind === "Status") {
      return new ApiError(res.status, status.message || status.reason || res.statusText, status.reason ?? "");
    }
  } catch {
    // Not JSON: fall through to the text.
  }
  return new ApiError(res.status, (text.trim() || res.statusText || "request failed").slice(0, 500));
}

// Short error text for the banner.
export function describeError(e) {
  if (e instanceof ApiError) return `${e.message} (${e.code})`;
  return e?.message || String(e);
}
