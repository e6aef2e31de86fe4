import { useEffect } from "preact/hooks";
import { session } from "./api/client.js";
import { startNodeMetrics } from "./api/metrics.js";
import { Layout } from "./components/Layout.jsx";
import { useObservable } from "./hooks.js";
import { route } from "./router.js";
import { AlertDetail, AlertsPage } from "./views/Alerts.jsx";
import { Login } from "./views/Login.jsx";
import { NamespacesPage } from "./views/Namespaces.jsx";
import { NodesPage } from "./views/Nodes.jsx";
import { Overview } from "./views/Overview.jsx";
import { PodDetail } from "./views/PodDetail.jsx";
import { PodsPage } from "./views/Pods.jsx";
import { ServiceDetail, ServicesPage } from "./views/Services.jsx";
import { Workloads } from "./views/Workloads.jsx";

export function App() {
  const current = useObservable(session);
  return current ? <Dashboard user={current.user} /> : <Login />;
}

function Dashboard({ user }) {
  const [page = "overview", a, b] = useObservable(route);
  // Node usage history accumulates for the whole session, whatever page is open.
  useEffect(() => startNodeMetrics(), []);
  return (
    <Layout user={user} page={page}>
      <Page page={page} a={a} b={b} />
    </Layout>
  );
}

function Page({ page, a, b }) {
  switch (page) {
    case "overview":
      return <Overview />;
    case "workloads":
      return <Workloads kind={a} />;
    case "pods":
      return a && b ? <PodDetail key={`${a}/${b}`} ns={a} name={b} /> : <PodsPage />;
    case "services":
      return a && b ? <ServiceDetail key={`${a}/${b}`} ns={a} name={b} /> : <ServicesPage />;
    case "nodes":
      return <NodesPage />;
    case "namespaces":
      return <NamespacesPage />;
    case "alerts":
      return a ? <AlertDetail key={a} name={a} /> : <AlertsPage />;
    default:
      return (
        <section>
          <h2>Not found</h2>
          <p>
            There is no page “{page}”. <a href="#/overview">Overview</a>
          </p>
        </section>
      );
  }
}
