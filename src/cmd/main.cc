// capstan: one binary, a few roles (server now; agent, image, snapshot to come).
// Flag parsing and wiring only.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>

#include <unistd.h>

#include <functional>

#include "api/registry.h"
#include "apiserver/api_server.h"
#include "cmd/config_file.h"
#include "common/log.h"
#include "controllers/manager.h"
#include "scheduler/service/scheduler_service.h"

namespace {

struct ServerRoles {
  bool disable_agent = false;
  bool disable_controller_manager = false;
  bool disable_scheduler = false;
};

// This server's name in leader-election Leases: stable across restarts of
// the same server (host and data dir), so a restarted leader resumes at once.
std::string leaderIdentity(const std::string& data_dir) {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return fmt::format("{}_{:08x}", host, std::hash<std::string>{}(data_dir) & 0xffffffffu);
}

int runServer(const capstan::apiserver::ApiServerOptions& opts, const ServerRoles& roles) {
  using namespace capstan;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // threads started below inherit the mask

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
    mo.controllers.cluster_cidr = opts.cluster_cidr;
    manager = std::make_unique<controllers::Manager>(
        api.inProcessTransport({"system:kube-controller-manager", "", {"system:authenticated"}}), registry, mo);
    manager->start();
  }
  std::unique_ptr<scheduler::SchedulerService> sched;
  if (!roles.disable_scheduler) {
    scheduler::ServiceOptions so;
    so.identity = identity;
    sched = std::make_unique<scheduler::SchedulerService>(
        api.inProcessTransport({"system:kube-scheduler", "", {"system:authenticated"}}), so);
    sched->start();
  }
  if (!roles.disable_agent) {
    LOG_WARN("the node agent is not built yet; running the control plane only (as with --disable-agent)");
  }
  std::fprintf(stderr,
               "\ncapstan is running. Point kubectl at it:\n\n  export KUBECONFIG=%s\n  kubectl get namespaces\n\n",
               (*server)->kubeconfigPath().c_str());
  int sig = 0;
  sigwait(&set, &sig);
  LOG_INFO("shutting down", "signal", sig);
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
  auto* server = app.add_subcommand("server", "Run the API server (and, later, controllers, scheduler and a node agent)");
  // k3s style: `capstan server --config FILE`, flag names as YAML keys
  // (expanded into flags before parsing; see config_file.h).
  std::string config_file;
  server->add_option("-c,--config", config_file, "Read flags from a YAML file (flag names as keys); later flags win");
  server->add_option("-d,--data-dir", opts.data_dir, "Folder to hold state")->capture_default_str();
  server->add_option("--https-listen-port", opts.port, "HTTPS listen port (0 picks a free one)")->capture_default_str();
  server->add_option("--bind-address", opts.bind_address, "Address to listen on")->capture_default_str();
  server->add_option("--write-kubeconfig,-o", opts.write_kubeconfig,
                     "Also write the admin kubeconfig to this path (it is always at <data-dir>/kubeconfig.yaml)");
  server->add_option("--tls-san", opts.tls_sans, "Additional host name or IP as a Subject Alternative Name in the serving certificate")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  server->add_option("-t,--token", opts.token, "Shared secret used to join agents (generated into <data-dir>/token when empty)");
  server->add_option("--token-auth-file", opts.token_auth_file, "CSV file of bearer tokens: token,user,uid,\"group1,group2\"");
  server->add_flag("--disable-agent", roles.disable_agent, "Do not run a node agent in this process")->capture_default_str();
  server->add_flag("--disable-controller-manager", roles.disable_controller_manager, "Do not run the controllers")
      ->capture_default_str();
  server->add_flag("--disable-scheduler", roles.disable_scheduler, "Do not run the scheduler")->capture_default_str();
  server->add_option("--datastore-endpoint", opts.datastore_endpoint,
                     "Store: sqlite://PATH (default <data-dir>/db/state.db) or memory:// (not durable)");
  server->add_option("--cluster-cidr", opts.cluster_cidr, "IPv4 network CIDR for pod IPs")->capture_default_str();
  server->add_option("--service-cidr", opts.service_cidr, "IPv4 network CIDR for service IPs")->capture_default_str();
  server->add_option("--watch-cache-window", opts.watch_window, "Recent events kept for resuming watches")->capture_default_str();
  server->add_option("--threads", opts.threads, "HTTP I/O threads")->capture_default_str();

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

  if (server->parsed()) return runServer(opts, roles);
  return 0;
}
