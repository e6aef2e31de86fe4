#pragma once
// Private to the agent: the pieces behind Agent (agent.cc wires them).

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "agent/agent.h"
#include "agent/container_config.h"
#include "agent/image_gc.h"
#include "agent/network/network.h"
#include "agent/node_conditions.h"
#include "agent/pod_volumes.h"
#include "agent/prober.h"
#include "agent/runtime/image_store.h"
#include "agent/runtime/runtime.h"
#include "agent/streaming/kubelet_server.h"
#include "client/client.h"
#include "client/event_recorder.h"
#include "client/informer.h"
#include "client/work_queue.h"
#include "dns/dns_server.h"
#include "ingress/ingress_controller.h"
#include "proxy/service_proxy.h"
#include "proxy/socket_lb.h"

namespace capstan::agent {

using client::ObjectPtr;

// The nftables table of this node's service proxy.
std::string proxyTable(const std::string& node_name);

// Where a node keeps its files. `run` holds the state of processes, which
// no reboot keeps: a tmpfs (the agent mounts one when /run is on disk).
// `data` is --data-dir, on the node's disk: images, writable layers, logs,
// disk-backed emptyDirs.
struct NodePaths {
  explicit NodePaths(const AgentOptions& opts) : run("/run/capstan/" + opts.node_name), data(opts.data_dir) {}
  std::string run;
  std::string data;

  std::string runtimeState() const { return run + "/runtime"; }
  std::string crunRoot() const { return run + "/crun"; }
  std::string netns() const { return run + "/netns"; }
  // host-local's reservations: no pod outlives a reboot, so neither do they.
  std::string ipam() const { return run + "/cni/ipam"; }
  std::string layers() const { return data + "/containers/layers"; }
  std::string podsState() const { return run + "/pods"; }
  std::string podsData() const { return data + "/pods"; }
  PodDirs pod(const std::string& uid) const { return {podsState() + "/" + uid, podsData() + "/" + uid}; }
};

// Container labels: how a container finds its pod again after an agent
// restart (and how the kubelet API finds containers for logs and exec).
inline constexpr const char* kLabelNamespace = "io.kubernetes.pod.namespace";
inline constexpr const char* kLabelPodName = "io.kubernetes.pod.name";
inline constexpr const char* kLabelPodUid = "io.kubernetes.pod.uid";
inline constexpr const char* kLabelContainer = "io.kubernetes.container.name";
inline constexpr const char* kLabelAttempt = "io.kubernetes.container.attempt";
inline constexpr const char* kLabelInit = "io.capstan.container.init";
inline constexpr const char* kLabelImage = "io.capstan.container.image";
inline constexpr const char* kLabelImageId = "io.capstan.container.image-id";

// One container of a pod as the runtime knows it, newest attempt first.
struct ContainerRecord {
  runtime::ContainerStatus status;
  int attempt = 0;
};

// The CrashLoopBackOff state of one container (in memory only: an agent
// restart starts the backoff afresh, as kubelet's does).
struct Backoff {
  std::chrono::milliseconds delay{0};
  std::chrono::steady_clock::time_point next_start{};
};

// Node registration, Lease renewal and node conditions (node_status.cc).
class NodeReporter {
 public:
  // `events` records kubelet's node events (Starting, NodeReady, ...).
  NodeReporter(const client::Client& client, client::EventRecorder& events, const AgentOptions& opts,
               std::string runtime_version, int kubelet_port);
  ~NodeReporter();
  // Registers (or updates) the Node; returns its podCIDR once the
  // controller manager has assigned one (waits up to `timeout`).
  Result<std::string> registerAndWaitForCidr(std::chrono::milliseconds timeout);
  void start();
  void stop();
  const std::string& nodeIp() const { return node_ip_; }

 private:
  void run();
  // The status to report now; records the events of changed conditions.
  // Called by registration, then only by the reporter thread.
  Json nodeStatus();
  Status renewLease();
  Status updateStatus();
  // What kubelet's node events refer to: the Node, with its name as uid.
  Json nodeRef() const;

  const client::Client& client_;
  client::EventRecorder& events_;
  AgentOptions opts_;
  NodeConditions conditions_;
  std::string runtime_version_;
  int kubelet_port_;
  std::string node_ip_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

class AgentImpl final : public Agent {
 public:
  AgentImpl(const AgentOptions& opts, std::shared_ptr<client::Transport> transport);
  ~AgentImpl() override;
  Status init();
  void stop() override;

  // pod_worker.cc
  Status syncPod(const std::string& key);

 private:
  friend class PodSync;
  void worker();
  void runPodWorker(const std::string& key, const std::string& operation);
  void startTerminator(const std::string& key, const std::string& operation);
  Prober::Hooks proberHooks();
  Status startNodeServices(const std::string& pod_cidr);
  Status publishDnsEndpoint(const std::string& address, int port);
  Status startIngress();
  std::vector<ContainerRecord> containersOf(const std::string& ns, const std::string& name) const;
  Status teardownPod(const std::string& ns, const std::string& name, const std::string& keep_uid,
                     std::chrono::milliseconds grace);
  // Stops a container as kubelet's killContainer does (lifecycle.cc): a
  // Killing event (`message`, or "Stopping container NAME"), its preStop
  // hook, SIGTERM, SIGKILL after what is left of `grace`.
  Result<runtime::ContainerStatus> killContainer(const runtime::ContainerStatus& c, std::chrono::milliseconds grace,
                                                 const std::string& message = "");
  ObjectLookup lookup() const;
  // A service-account token bound to the pod, from the TokenRequest API,
  // reused until 80 % of its life has passed (kubelet's token manager); the
  // pod is synced again then, so its projected file is renewed in time.
  Result<std::string> serviceAccountToken(const Json& pod, const std::string& audience, int64_t expiration_seconds) const;
  PodDirs podDirs(const std::string& uid) const { return paths_.pod(uid); }
  std::string logPath(const Json& pod, const std::string& container, int attempt) const;

  AgentOptions opts_;
  NodePaths paths_;
  client::Client client_;
  client::EventRecorder events_;
  std::unique_ptr<runtime::ImageStore> images_;
  std::unique_ptr<runtime::Runtime> runtime_;
  // Before network_, which registers its sandboxes' namespaces here.
  std::unique_ptr<proxy::SocketLoadBalancer> socket_lb_;
  std::unique_ptr<network::Network> network_;
  std::unique_ptr<streaming::KubeletServer> kubelet_;
  std::unique_ptr<NodeReporter> node_;
  std::unique_ptr<ImageGc> image_gc_;
  std::unique_ptr<Prober> prober_;
  // Cluster-wide caches for node services (DNS; the service proxy).
  std::unique_ptr<client::InformerFactory> cluster_informers_;
  client::Informer* services_ = nullptr;  // of cluster_informers_: containers' service variables
  std::unique_ptr<dns::DnsServer> dns_;
  std::unique_ptr<proxy::ServiceProxy> proxy_;
  std::unique_ptr<ingress::IngressController> ingress_;
  std::unique_ptr<client::Informer> pods_;
  std::unique_ptr<client::Informer> config_maps_;
  std::unique_ptr<client::Informer> secrets_;
  mutable client::WorkQueue queue_;  // thread-safe; the token lookup schedules renewals from const code
  std::vector<std::thread> workers_;
  // Pods being torn down, each on a thread of its own while it waits out
  // its grace period (kubelet's pod workers are one goroutine per pod), so
  // that terminations hold none of the workers that start pods. Keyed by a
  // serial; finished ones are joined at the next start and at stop().
  std::mutex terminators_mu_;
  std::map<uint64_t, std::thread> terminators_;
  std::vector<uint64_t> finished_terminators_;
  uint64_t next_terminator_ = 0;

  struct IssuedToken {
    std::string token;
    std::chrono::system_clock::time_point renew_at;
    std::chrono::system_clock::time_point expires_at;
  };
  mutable std::mutex tokens_mu_;
  mutable std::map<std::string, IssuedToken> tokens_;  // "<pod uid>/<audience>/<seconds>"

  mutable std::mutex mu_;  // guards backoff_, image_backoff_
  std::map<std::string, Backoff> backoff_;  // "<uid>/<container>"
  std::map<std::string, Backoff> image_backoff_;  // "<uid>/<container>": ImagePullBackOff

  // The kubelet's operation metrics (served on the kubelet API's /metrics)
  // and their bookkeeping in agent.cc: when each pod UID was first seen,
  // until its status first says Running (kubelet_pod_start_duration_seconds),
  // and each pod key's last synced UID and spec (the pod worker's
  // create/update/sync/kill). Both guarded by mu_.
  std::shared_ptr<stats::KubeletMetrics> metrics_ = std::make_shared<stats::KubeletMetrics>();
  std::map<std::string, std::chrono::steady_clock::time_point> first_seen_;
  std::map<std::string, std::pair<std::string, size_t>> synced_specs_;
  void notePodSeen(const Json& pod);
  void observePodRunning(const std::string& uid);
  std::string podWorkerOperation(const std::string& key);
};

}  // namespace capstan::agent
