// The frame around every page: header (namespace, user, logout), the left
// navigation and the error banner.

import { logout } from "../api/client.js";
import { Namespaces } from "../api/resources.js";
import { useObservable, useResource } from "../hooks.js";
import { clearError, errors, namespace } from "../state.js";

const PAGES = [
  ["overview", "Overview"],
  ["workloads", "Workloads"],
  ["pods", "Pods"],
  ["services", "Services"],
  ["nodes", "Nodes"],
  ["namespaces", "Namespaces"],
  ["alerts", "Alerts"],
];

export function Layout({ user, page, children }) {
  return (
    <div class="layout">
      <header class="topbar">
        <a class="brand" href="#/overview">
          <Logo /> capstan
        </a>
        <NamespaceSelect />
        <span class="spacer" />
        <span class="user" data-testid="username" title="Logged in as">
          {user || "(unknown user)"}
        </span>
        <button data-testid="logout" onClick={() => logout()}>
          Log out
        </button>
      </header>
      <nav class="sidenav">
        {PAGES.map(([id, label]) => (
          <a href={`#/${id}`} class={page === id ? "active" : ""} data-testid={`nav-${id}`}>
            {label}
          </a>
        ))}
      </nav>
      <main class="content">
        <Banner />
        {children}
      </main>
    </div>
  );
}

function NamespaceSelect() {
  const ns = useObservable(namespace);
  // Namespaces come and go rarely: a poll keeps a connection free for watches.
  const list = useResource(Namespaces, { poll: 30000 });
  const names = list.items.map((n) => n.metadata?.name).filter(Boolean);
  if (ns && !names.includes(ns)) names.unshift(ns);
  return (
    <select
      class="namespace-select"
      data-testid="namespace-select"
      value={ns}
      onChange={(e) => namespace.set(e.currentTarget.value)}
      aria-label="Namespace"
    >
      <option value="">All namespaces</option>
      {names.map((n) => (
        <option value={n}>{n}</option>
      ))}
    </select>
  );
}

function Banner() {
  const list = useObservable(errors);
  if (!list.length) return null;
  return (
    <div class="banner" role="alert" data-testid="error-banner">
      {list.map((e) => (
        <div class="banner-line">
          <span>{e.message}</span>
          <button class="link" onClick={() => clearError(e.key)} aria-label="Dismiss">
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

// A capstan (a winch drum), drawn inline: the page loads nothing else.
export function Logo() {
  return (
    <svg width="20" height="20" viewBox="0 0 20 20" aria-hidden="true" class="logo">
      <rect x="4" y="3" width="12" height="3" rx="1" />
      <rect x="6" y="6" width="8" height="8" />
      <rect x="4" y="14" width="12" height="3" rx="1" />
    </svg>
  );
}
