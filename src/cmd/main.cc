// capstan: one binary, a few roles (server now; agent, image, snapshot to come).
// Flag parsing and wiring only.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "agent/agent.h"
#include "agent/runtime/image_store.h"
#include "api/registry.h"
#include "apiserver/api_server.h"
#include "client/https_transport.h"
#include "cmd/allocator.h"
#include "cmd/config_file.h"
#include "common/duration.h"
#include "common/log.h"
#include "common/pki.h"
#include "controllers/manager.h"
#include "metrics/component_metrics.h"
#include "scheduler/service/scheduler_service.h"

namespace {

struct ServerRoles {
  bool disable_agent = false;
  capstan::agent::AgentOptions agent;
  bool disable_controller_manager = false;
  bool disable_scheduler = false;
  capstan::controllers::ControllerOptions controllers;
};

// A Go duration as kube-controller-manager's flags take it ("15s", "1m30s",
// "500ms"); a bare number is seconds. The CLI11 validator's message on error.
std::string parseFlagDuration(const std::string& text, std::chrono::milliseconds& out) {
  bool bare = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  auto d = capstan::parseGoDuration(bare ? text + "s" : text);
  if (!d) return "invalid duration \"" + text + "\" (use e.g. 30s, 5m, 1h30m)";
  out = *d;
  return "";
}

void addDurationOption(CLI::App* app, const std::string& name, std::chrono::milliseconds& target,
                       const std::string& help) {
  app->add_option_function<std::string>(
         name,
         [&target](const std::string& v) {
           if (auto err = parseFlagDuration(v, target); !err.empty()) throw CLI::ValidationError(err);
         },
         help + fmt::format(" (default {}s)", target.count() / 1000.0));
}

// This server's name in leader-election Leases: stable across restarts of
// the same server (host and data dir), so a restarted leader resumes at once.
std::string leaderIdentity(const std::string& data_dir) {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return fmt::format("{}_{:08x}", host, std::hash<std::string>{}(data_dir) & 0xffffffffu);
}

std::string readToken(const std::string& data_dir) {
  std::ifstream f(data_dir + "/token");
  std::string t;
  std::getline(f, t);
  return t;
}

std::string hostName() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return host;
}

int runImage(const std::string& verb, const std::string& data_dir, const std::string& file, const std::string& name) {
  using namespace capstan;
  auto store = agent::runtime::ImageStore::open(data_dir + "/images");
  if (!store) {
    std::fprintf(stderr, "%s\n", store.status().message().c_str());
    return 1;
  }
  if (verb == "import") {
    auto r = (*store)->importArchive(file, name.empty() ? std::nullopt : std::optional<std::string>(name));
    if (!r) {
      std::fprintf(stderr, "import failed: %s\n", r.status().message().c_str());
      return 1;
    }
    for (const auto& img : *r)
      for (const auto& n : img.names) std::printf("imported %s %s\n", n.c_str(), img.id.c_str());
    return 0;
  }
  if (verb == "ls") {
    std::printf("%-60s %-20s %s\n", "IMAGE", "ID", "SIZE");
    for (const auto& img : (*store)->list())
      for (const auto& n : img.names)
        std::printf("%-60s %-20s %llu\n", n.c_str(), img.id.substr(7, 12).c_str(), (unsigned long long)img.size);
    return 0;
  }
  auto st = (*store)->remove(file);
  if (!st) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    return 1;
  }
  return 0;
}

// The flags of a node agent, the same for `server` (its embedded agent) and `agent`.
void addAgentFlags(CLI::App* app, capstan::agent::AgentOptions& ao) {
  ao.node_name = hostName();
  app->add_option("--node-name", ao.node_name, "This node's name")->capture_default_str();
  app->add_option("--node-ip", ao.node_ip, "This node's InternalIP (default: first non-loopback IPv4)");
  app->add_option("--kubelet-port", ao.kubelet_port, "Port of the agent's API (logs, exec); 0 picks a free one")
      ->capture_default_str();
  app->add_option("--cni-bridge", ao.cni_bridge, "Linux bridge of the pod network")->capture_default_str();
  app->add_flag("--isolate-pod-network", ao.isolate_pod_network,
                "Drop traffic forwarded from pods to anything beyond this machine (tests)");
  app->add_option("--cluster-domain", ao.dns.cluster_domain, "Cluster domain")->capture_default_str();
  app->add_option("--cluster-dns-port", ao.dns_port, "Port the node's DNS server listens on (at the pod bridge's address)")
      ->capture_default_str();
  app->add_option("--dns-upstream", ao.dns_upstreams,
                  "Resolver (ip:port) for names outside the cluster (default: the nameservers of /etc/resolv.conf)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app->add_option("--proxy-mode", ao.proxy_mode,
                  "How the service proxy programs the kernel: auto (nftables when the kernel has it), nftables or "
                  "iptables")
      ->check(CLI::IsMember({"auto", "nftables", "iptables"}))
      ->capture_default_str();
  app->add_option("--proxy-socket-lb", ao.proxy_socket_lb,
                  "Send ClusterIP TCP connections of this node's pods straight to an endpoint at connect() (a BPF "
                  "program on the cgroup2 root), with the nftables rules behind it")
      ->capture_default_str();
  app->add_option("--insecure-registry", ao.insecure_registries, "Registry host:port spoken to over plain HTTP")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app->add_option("--container-log-max-size", ao.container_log_max_bytes,
                  "Bytes a container's log file may reach before it is rotated (kubelet's containerLogMaxSize)")
      ->capture_default_str();
  app->add_option("--container-log-max-files", ao.container_log_max_files,
                  "Log files kept per container, the current one included (2-10)")
      ->check(CLI::Range(2, 10))
      ->capture_default_str();
  app->add_option("--prepare-restarts", ao.prepare_restarts,
                  "Create each running container's next attempt ahead of time, so that a crash restarts it in "
                  "milliseconds (one more waiting process, mount and cgroup per container)")
      ->capture_default_str();
  app->add_option("--pod-max-pids", ao.pod_max_pids,
                  "Processes each container may run at once (pids cgroup); -1: unlimited")
      ->capture_default_str();
  app->add_option("--image-gc-high-threshold", ao.image_gc_high_threshold,
                  "Percent of the image filesystem used above which unused images are removed (100: never)")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  app->add_option("--image-gc-low-threshold", ao.image_gc_low_threshold,
                  "Percent of the image filesystem used that image garbage collection frees down to")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  addDurationOption(app, "--image-gc-period", ao.image_gc_period, "How often image garbage collection runs");
  addDurationOption(app, "--minimum-image-ttl-duration", ao.image_minimum_ttl,
                    "How long an unused image is kept after it was first seen before it may be removed");
  ao.ingress_http_port = 80;
  ao.ingress_https_port = 443;
  app->add_option("--ingress-http-port", ao.ingress_http_port,
                  "Port of the built-in Ingress proxy for HTTP; -1 serves none, 0 picks a free one")
      ->capture_default_str();
  app->add_option("--ingress-https-port", ao.ingress_https_port,
                  "Port of the built-in Ingress proxy for HTTPS; -1 serves none, 0 picks a free one")
      ->capture_default_str();
  app->add_flag_callback(
      "--disable-ingress", [&ao] { ao.ingress_http_port = ao.ingress_https_port = -1; },
      "Run no Ingress proxy on this node (as k3s' --disable traefik)");
}

sigset_t blockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // threads started later inherit the mask
  return set;
}

// Joins the server at `url`: fetches its CA, checks it against the hash in
// the join token, then talks HTTPS verified by that CA.
int runAgent(const std::string& url, capstan::agent::AgentOptions ao, int hollow_nodes) {
  using namespace capstan;
  sigset_t set = blockStopSignals();
  auto token = pki::JoinToken::parse(ao.token);
  auto ca = client::fetchUnverified(url + "/cacerts", std::chrono::seconds(10));
  if (!ca) {
    LOG_ERROR("cannot reach the server", "server", url, "error", ca.status().message());
    return 1;
  }
  if (token.ca_hash.empty()) {
    LOG_WARN("the join token carries no CA hash: trusting the CA the server sent (use the full token from the server's <data-dir>/token)");
  } else if (pki::sha256Hex(*ca) != token.ca_hash) {
    LOG_ERROR("the server's CA does not match the join token; refusing to join", "server", url);
    return 1;
  }
  std::error_code ec;
  std::filesystem::create_directories(ao.data_dir + "/agent", ec);
  std::string ca_file = ao.data_dir + "/agent/server-ca.crt";
  std::ofstream(ca_file) << *ca;
  auto transport = client::makeHttpsTransport(
      {.server = url, .ca_file = ca_file, .bearer_token = ao.token, .user_agent = "capstan-agent/" + ao.node_name});
  if (!transport) {
    LOG_ERROR("cannot start the API client", "error", transport.status().message());
    return 1;
  }
  auto a = ao.hollow ? agent::startHollowNodes(ao, hollow_nodes, *transport) : agent::Agent::start(ao, *transport);
  if (!a) {
    LOG_ERROR("node agent failed to start", "error", a.status().message());
    return 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  LOG_INFO("shutting down", "signal", sig);
  (*a)->stop();
  return 0;
}

int runServer(const capstan::apiserver::ApiServerOptions& opts, const ServerRoles& roles) {
  using namespace capstan;
  sigset_t set = blockStopSignals();
  keepFreedMemoryLonger();
  auto server = apiserver::ApiServer::start(opts);
  if (!server) {
    LOG_ERROR("server failed to start", "error", server.status().message());
    return 1;
  }
  apiserver::ApiServer& api = **server;
  const api::Registry registry = api::Registry::builtin();
  std::string identity = leaderIdentity(opts.data_dir);
  std::unique_ptr<controllers::Manager> manager;
  if (!roles.disable_controller_manager) {
    controllers::ManagerOptions mo;
    mo.identity = identity;
    mo.controllers = roles.controllers;
    mo.controllers.cluster_cidr = opts.cluster_cidr;
    mo.controllers.root_ca_pem = api.caPem();
    mo.queue_metrics = metrics::workQueueMetrics(api.metricsRegistry());
    manager = std::make_unique<controllers::Manager>(
        api.inProcessTransport({"system:kube-controller-manager", "", {"system:masters", "system:authenticated"}}), registry, mo);
    manager->start();
  }
  std::unique_ptr<scheduler::SchedulerService> sched;
  if (!roles.disable_scheduler) {
    scheduler::ServiceOptions so;
    so.identity = identity;
    so.metrics = metrics::schedulerMetrics(api.metricsRegistry());
    sched = std::make_unique<scheduler::SchedulerService>(
        api.inProcessTransport({"system:kube-scheduler", "", {"system:masters", "system:authenticated"}}), so);
    sched->start();
  }
  std::unique_ptr<agent::Agent> node_agent;
  if (!roles.disable_agent) {
    agent::AgentOptions ao = roles.agent;
    ao.data_dir = opts.data_dir;
    ao.dns.cluster_dns = opts.cluster_dns;
    ao.cluster_cidr = opts.cluster_cidr;
    ao.control_plane = true;
    ao.token = readToken(opts.data_dir);
    auto a = agent::Agent::start(ao, api.inProcessTransport({"system:node:" + ao.node_name, "", {"system:nodes"}}));
    if (!a) {
      LOG_ERROR("node agent failed to start", "error", a.status().message());
      if (sched) sched->stop();
      if (manager) manager->stop();
      (*server)->stop();
      return 1;
    }
    node_agent = std::move(*a);
  }
  std::fprintf(stderr,
               "\ncapstan is running. Point kubectl at it:\n\n  export KUBECONFIG=%s\n  kubectl get namespaces\n\n",
               (*server)->kubeconfigPath().c_str());
  int sig = 0;
  sigwait(&set, &sig);
  LOG_INFO("shutting down", "signal", sig);
  if (node_agent) node_agent->stop();
  if (sched) sched->stop();
  if (manager) manager->stop();
  (*server)->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace capstan;
  CLI::App app{"capstan: a container orchestrator that speaks the Kubernetes API, in one small binary"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "Log level: debug, info, warn, error")->capture_default_str();
  app.fallthrough();  // --log-level may also follow the subcommand

  // A flag given twice (config file, then command line) takes the last value.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  apiserver::ApiServerOptions opts;
  opts.data_dir = "/var/lib/capstan";
  ServerRoles roles;
  std::chrono::milliseconds hpa_downscale = roles.controllers.hpa_downscale_stabilization;
  auto* server = app.add_subcommand("server", "Run the API server (and, later, controllers, scheduler and a node agent)");
  // k3s style: `capstan server --config FILE`, flag names as YAML keys
  // (expanded into flags before parsing; see config_file.h).
  std::string config_file;
  server->add_option("-c,--config", config_file, "Read flags from a YAML file (flag names as keys); later flags win");
  server->add_option("-d,--data-dir", opts.data_dir, "Folder to hold state")->capture_default_str();
  server->add_option("--https-listen-port", opts.port, "HTTPS listen port (0 picks a free one)")->capture_default_str();
  server->add_option("--bind-address", opts.bind_address, "Address to listen on")->capture_default_str();
  server->add_option("--advertise-address", opts.advertise_address,
                     "IPv4 address pods reach the API server at, in the endpoints of the kubernetes Service (default: "
                     "--bind-address, or the first non-loopback IPv4 address when that is 0.0.0.0 or loopback)");
  server->add_option("--write-kubeconfig,-o", opts.write_kubeconfig,
                     "Also write the admin kubeconfig to this path (it is always at <data-dir>/kubeconfig.yaml)");
  server->add_option("--tls-san", opts.tls_sans, "Additional host name or IP as a Subject Alternative Name in the serving certificate")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  server->add_option("-t,--token", opts.token, "Shared secret used to join agents (generated into <data-dir>/token when empty)");
  server->add_option("--token-auth-file", opts.token_auth_file, "CSV file of bearer tokens: token,user,uid,\"group1,group2\"");
  server->add_option("--dashboard-dir", opts.dashboard_dir,
                     "Serve /dashboard/ from this directory (a `npm run build` output) instead of the compiled-in files");
  server->add_flag("--disable-agent", roles.disable_agent, "Do not run a node agent in this process")->capture_default_str();
  server->add_flag("--disable-controller-manager", roles.disable_controller_manager, "Do not run the controllers")
      ->capture_default_str();
  server->add_flag("--disable-scheduler", roles.disable_scheduler, "Do not run the scheduler")->capture_default_str();
  server->add_option("--datastore-endpoint", opts.datastore_endpoint,
                     "Store: sqlite://PATH (default <data-dir>/db/state.db) or memory:// (not durable)");
  server->add_option("--cluster-cidr", opts.cluster_cidr, "IPv4 network CIDR for pod IPs")->capture_default_str();
  server->add_option("--service-cidr", opts.service_cidr, "IPv4 network CIDR for service IPs")->capture_default_str();
  server->add_option("--default-not-ready-toleration-seconds", opts.default_not_ready_toleration_seconds,
                     "tolerationSeconds of the not-ready:NoExecute toleration added to pods without one")
      ->capture_default_str();
  server->add_option("--default-unreachable-toleration-seconds", opts.default_unreachable_toleration_seconds,
                     "tolerationSeconds of the unreachable:NoExecute toleration added to pods without one")
      ->capture_default_str();
  server->add_option("--watch-cache-window", opts.watch_window, "Recent events kept for resuming watches")->capture_default_str();
  server->add_option("--threads", opts.threads, "HTTP I/O threads")->capture_default_str();
  addDurationOption(server, "--horizontal-pod-autoscaler-sync-period", roles.controllers.hpa_sync_period,
                    "How often each HorizontalPodAutoscaler is reconciled");
  addDurationOption(server, "--horizontal-pod-autoscaler-downscale-stabilization", hpa_downscale,
                    "How far back the HPA looks for higher recommendations before scaling down");
  addDurationOption(server, "--alert-evaluation-interval", roles.controllers.alert_evaluation_interval,
                    "How often the built-in alert rules (AlertRules) are evaluated");
  server->add_option("--horizontal-pod-autoscaler-tolerance", roles.controllers.hpa_tolerance,
                     "Minimum change (from 1.0) in the desired-to-actual metrics ratio for the HPA to scale")
      ->capture_default_str();
  addAgentFlags(server, roles.agent);
  server->add_option("--cluster-dns", opts.cluster_dns,
                     "Cluster DNS address (the kube-dns Service's ClusterIP; default: the tenth address of --service-cidr)");

  // capstan agent: a node joining a server over HTTPS.
  auto* agent_cmd = app.add_subcommand("agent", "Run a node agent that joins a server");
  agent::AgentOptions agent_opts;
  agent_opts.data_dir = "/var/lib/capstan-agent";
  agent_opts.node_name = hostName();
  std::string server_url;
  bool agent_cleanup = false;
  agent_cmd->add_option("-s,--server", server_url, "The server to join, https://host:port (required)");
  agent_cmd->add_option("-t,--token", agent_opts.token, "The join token (the server's <data-dir>/token; required)");
  agent_cmd->add_flag("--cleanup", agent_cleanup,
                      "Remove every container, pod network, service-proxy rule and cgroup this node's agent made, "
                      "then exit (as kube-proxy --cleanup; the same as `capstan cleanup`)");
  agent_cmd->add_option("-d,--data-dir", agent_opts.data_dir, "Folder to hold state")->capture_default_str();
  addAgentFlags(agent_cmd, agent_opts);
  agent_cmd->add_option("--cluster-cidr", agent_opts.cluster_cidr, "IPv4 network CIDR of the cluster's pods")
      ->capture_default_str();
  int hollow_nodes = 1;
  agent_cmd->add_flag("--hollow", agent_opts.hollow,
                      "Run hollow nodes: registered and leased, pods reported Running without containers (scale tests)");
  agent_cmd->add_option("--hollow-nodes", hollow_nodes, "How many hollow nodes this process simulates (<node-name>-<i>)")
      ->capture_default_str();
  agent_cmd->add_option("--cluster-dns", agent_opts.dns.cluster_dns,
                        "Cluster DNS address in pods' resolv.conf (default: the kube-dns Service's ClusterIP)");

  // capstan cleanup: what the node agent of --data-dir/--node-name made.
  auto* cleanup = app.add_subcommand("cleanup", "Remove every container, pod network and rule of this node's agent");
  agent::AgentOptions cleanup_opts;
  cleanup_opts.data_dir = "/var/lib/capstan";
  cleanup_opts.node_name = hostName();
  cleanup->add_option("-d,--data-dir", cleanup_opts.data_dir, "The node's data dir")->capture_default_str();
  cleanup->add_option("--node-name", cleanup_opts.node_name, "The node's name")->capture_default_str();
  cleanup->add_option("--cni-bridge", cleanup_opts.cni_bridge, "The pod bridge")->capture_default_str();
  cleanup->add_flag("--isolate-pod-network", cleanup_opts.isolate_pod_network,
                    "Accepted for older scripts; the rules are found by their comments whatever the agent ran with");

  // capstan image import|ls|rm
  auto* image = app.add_subcommand("image", "Manage the node's image store");
  image->require_subcommand(1);
  std::string image_dir = "/var/lib/capstan", image_file, image_name;
  auto* imp = image->add_subcommand("import", "Load an OCI archive, OCI layout dir or docker save tarball");
  imp->add_option("file", image_file, "Archive or directory")->required();
  imp->add_option("--name", image_name, "Name to give the (first) image");
  auto* ls = image->add_subcommand("ls", "List images");
  auto* rm = image->add_subcommand("rm", "Remove an image name");
  rm->add_option("name", image_file, "Image name")->required();
  for (auto* sc : {imp, ls, rm}) sc->add_option("-d,--data-dir", image_dir, "The node's data dir")->capture_default_str();

  auto args = cmd::expandConfigFlags(argc, argv);
  if (!args) {
    std::fprintf(stderr, "%s\n", args.status().message().c_str());
    return 2;
  }
  std::vector<std::string> reversed(args->rbegin(), args->rend() - 1);  // CLI11 wants them reversed, without argv[0]
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (log_level == "debug") log::setLevel(log::Level::kDebug);
  else if (log_level == "warn") log::setLevel(log::Level::kWarn);
  else if (log_level == "error") log::setLevel(log::Level::kError);

  if (server->parsed()) {
    roles.controllers.hpa_downscale_stabilization =
        std::chrono::duration_cast<std::chrono::seconds>(hpa_downscale);
    return runServer(opts, roles);
  }
  if (agent_cmd->parsed() && !agent_cleanup) {
    if (server_url.empty() || agent_opts.token.empty()) {
      std::fprintf(stderr, "agent: --server and --token are required\n");
      return 2;
    }
    return runAgent(server_url, agent_opts, hollow_nodes);
  }
  if (cleanup->parsed() || agent_cleanup) {
    auto st = agent::cleanupNode(agent_cleanup ? agent_opts : cleanup_opts);
    if (!st) {
      std::fprintf(stderr, "cleanup: %s\n", st.message().c_str());
      return 1;
    }
    return 0;
  }
  if (imp->parsed()) return runImage("import", image_dir, image_file, image_name);
  if (ls->parsed()) return runImage("ls", image_dir, "", "");
  if (rm->parsed()) return runImage("rm", image_dir, image_file, "");
  return 0;
}
