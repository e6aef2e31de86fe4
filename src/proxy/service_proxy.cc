#include "proxy/service_proxy.h"

#include <cctype>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/log.h"
#include "proxy/conntrack.h"
#include "proxy/iptables.h"
#include "proxy/load_balancer_status.h"
#include "proxy/nft_elements.h"
#include "proxy/nftables.h"
#include "proxy/rule_generator.h"
#include "proxy/service_model.h"
#include "proxy/socket_lb.h"

namespace capstan::proxy {
namespace {

using client::ObjectPtr;
using std::chrono::milliseconds;

constexpr const char* kSliceIndex = "capstan.proxy/service";
constexpr milliseconds kRetryMin{100};
constexpr milliseconds kRetryMax{10000};
constexpr milliseconds kReleaseNftablesAfter{2000};

bool validTable(const std::string& t) {
  if (t.empty() || t.size() > 64 || !(std::isalpha(static_cast<unsigned char>(t[0])) || t[0] == '_'))
    return false;
  for (char c : t)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

bool validCidr(const std::string& c) {
  auto slash = c.find('/');
  if (slash == std::string::npos || !isIpv4(c.substr(0, slash))) return false;
  const std::string bits = c.substr(slash + 1);
  if (bits.empty() || bits.size() > 2 || bits.find_first_not_of("0123456789") != std::string::npos)
    return false;
  return std::stoi(bits) <= 32;
}

// The service an endpoint slice belongs to, "ns/name", or "".
std::string sliceServiceKey(const Json& slice) {
  std::string svc = getString(objectAt(objectAt(slice, "metadata"), "labels"), kServiceNameLabel);
  return svc.empty() ? "" : client::namespaceOf(slice) + "/" + svc;
}

// What handlers record for the sync thread. Shared with the handlers, so
// that events arriving after the proxy is gone touch only this.
struct Pending {
  std::mutex mu;  // guards everything below
  std::condition_variable cv;
  std::set<std::string> dirty;  // service keys
  bool nodes_changed = false;
  bool stopping = false;
  uint64_t requested = 0;  // bumped by every event

  void mark(const std::string& key) {
    if (key.empty()) return;
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      dirty.insert(key);
      ++requested;
    }
    cv.notify_all();
  }
  void markNodes() {
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      nodes_changed = true;
      ++requested;
    }
    cv.notify_all();
  }
};

class ServiceProxyImpl final : public ServiceProxy {
 public:
  ServiceProxyImpl(ProxyOptions options, const client::Client& client, client::InformerFactory& informers)
      : options_(std::move(options)),
        clock_(options_.clock ? *options_.clock : SystemClock::instance()),
        client_(client),
        services_(informers.get(client::res::kServices)),
        slices_(informers.get(client::res::kEndpointSlices)),
        nodes_(informers.get(client::res::kNodes)),
        generator_({options_.table, options_.cluster_cidr, options_.node_name}),
        pending_(std::make_shared<Pending>()) {}

  ~ServiceProxyImpl() override { stop(false).ignore(); }

  Status begin() {
    slices_.addIndex(kSliceIndex, [](const Json& s) {
      std::string key = sliceServiceKey(s);
      return key.empty() ? std::vector<std::string>{} : std::vector<std::string>{key};
    });
    auto p = pending_;
    services_.addHandlers({[p](const ObjectPtr& o) { p->mark(client::keyOf(*o)); },
                           [p](const ObjectPtr&, const ObjectPtr& o) { p->mark(client::keyOf(*o)); },
                           [p](const ObjectPtr& o) { p->mark(client::keyOf(*o)); }});
    slices_.addHandlers({[p](const ObjectPtr& o) { p->mark(sliceServiceKey(*o)); },
                         [p](const ObjectPtr& old_obj, const ObjectPtr& o) {
                           p->mark(sliceServiceKey(*old_obj));
                           p->mark(sliceServiceKey(*o));
                         },
                         [p](const ObjectPtr& o) { p->mark(sliceServiceKey(*o)); }});
    nodes_.addHandlers({[p](const ObjectPtr&) { p->markNodes(); },
                        [p](const ObjectPtr& old_obj, const ObjectPtr& o) {
                          // Heartbeats change status conditions only: skip them.
                          if (arrayAt(objectAt(*old_obj, "status"), "addresses") !=
                              arrayAt(objectAt(*o, "status"), "addresses"))
                            p->markNodes();
                        },
                        [p](const ObjectPtr&) { p->markNodes(); }});
    std::promise<Status> ready;
    auto started = ready.get_future();
    thread_ = std::thread([this, ready = std::move(ready)]() mutable { run(ready); });
    Status st = started.get();
    if (!st) {
      thread_.join();
      return st;
    }
    return Status::ok();
  }

  Status stop(bool remove_rules) override {
    {
      std::lock_guard lock(pending_->mu);
      pending_->stopping = true;
    }
    pending_->cv.notify_all();
    if (thread_.joinable()) thread_.join();
    if (!remove_rules) return Status::ok();
    return cleanup(options_.table, options_.netns, options_.iptables_tool);
  }

  uint64_t syncCount() const override {
    std::lock_guard lock(stats_mu_);
    return sync_count_;
  }
  std::chrono::microseconds lastSyncDuration() const override {
    std::lock_guard lock(stats_mu_);
    return last_duration_;
  }
  bool lastSyncWasFull() const override {
    std::lock_guard lock(stats_mu_);
    return last_full_;
  }
  Status lastSyncStatus() const override {
    std::lock_guard lock(stats_mu_);
    return last_status_;
  }
  ProxyMode mode() const override { return mode_; }
  bool waitForSync(milliseconds timeout) const override {
    uint64_t want;
    {
      std::lock_guard lock(pending_->mu);
      want = pending_->requested;
    }
    std::unique_lock lock(stats_mu_);
    return synced_cv_.wait_for(lock, timeout, [&] { return sync_count_ > 0 && applied_ >= want; });
  }

 private:
  // nftables: the context, the table a previous run left serving (if
  // any) and the nfnetlink socket. An error means the kernel does not
  // answer nftables.
  Status openNftables() {
    auto nft = Nftables::open();
    if (!nft) return nft.status();
    auto base = (*nft)->hasTable(options_.table);
    if (!base) return base.status();
    auto alternate = (*nft)->hasTable(alternateTable(options_.table));
    if (!alternate) return alternate.status();
    nft_ = std::move(*nft);
    if (*base)
      live_table_ = options_.table;
    else if (*alternate)
      live_table_ = alternateTable(options_.table);
    // Element-only changes skip libnftables; without the socket they take
    // the text path like everything else.
    auto elements = NftElements::open();
    if (elements)
      elements_ = std::move(*elements);
    else
      LOG_WARN("service proxy: no nfnetlink socket, element changes go through nft text", "error",
               elements.status().message());
    return Status::ok();
  }

  // nftables when the mode allows and the kernel answers, else iptables.
  Status openRules() {
    if (options_.mode != ProxyMode::kIptables) {
      Status st = openNftables();
      if (st) {
        mode_ = ProxyMode::kNftables;
        return st;
      }
      if (options_.mode == ProxyMode::kNftables) return st;
      LOG_WARN("service proxy: nftables not usable, using iptables", "error", st.message());
    }
    IptablesOptions io;
    io.prefix = iptablesPrefix(options_.table);
    io.cluster_cidr = options_.cluster_cidr;
    io.node_name = options_.node_name;
    auto ipt = Iptables::open(io, options_.iptables_tool);
    if (!ipt) return ipt.status();
    iptables_ = std::move(*ipt);
    mode_ = ProxyMode::kIptables;
    LOG_INFO("service proxy: iptables mode", "tool", options_.iptables_tool, "chains", io.prefix + "-*");
    return Status::ok();
  }

  void run(std::promise<Status>& ready) {
    Status st = enterNetworkNamespace(options_.netns);
    if (st) st = openRules();
    if (st) {
      auto ct = Conntrack::open();
      if (ct)
        conntrack_ = std::move(*ct);
      else
        LOG_WARN("service proxy: no conntrack handle, stale UDP flows are left to time out", "error",
                 ct.status().message());
    }
    ready.set_value(st);
    if (!st) return;
    for (auto* inf : {&services_, &slices_, &nodes_})
      while (!inf->waitForSync(milliseconds(100)))
        if (stopping()) return;

    bool full = true;
    auto next_full = clock_.monotonic() + options_.full_resync_period;
    milliseconds retry = kRetryMin;
    while (true) {
      std::set<std::string> keys;
      bool nodes_changed = false;
      uint64_t snapshot;
      {
        std::unique_lock lock(pending_->mu);
        auto work = [&] {
          return pending_->stopping || full || !pending_->dirty.empty() || pending_->nodes_changed ||
                 (options_.full_resync_period.count() > 0 && clock_.monotonic() >= next_full);
        };
        while (!work()) {
          // Quiet for a while: libnftables' cache of the namespace's whole
          // ruleset goes (most of an idle proxy's heap); the next change
          // refills it.
          if (nft_ && nft_->holdsContext()) {
            auto quiet = kReleaseNftablesAfter;
            if (options_.full_resync_period.count() > 0)
              quiet =
                  std::min(quiet, std::chrono::duration_cast<milliseconds>(next_full - clock_.monotonic()));
            if (pending_->cv.wait_for(lock, std::max(quiet, milliseconds(0)), work)) break;
            if (quiet == kReleaseNftablesAfter) {
              lock.unlock();  // freeing the cache takes a while; changes may come meanwhile
              nft_->release();
              lock.lock();
            }
            continue;
          }
          if (options_.full_resync_period.count() > 0)
            pending_->cv.wait_for(lock, next_full - clock_.monotonic());
          else
            pending_->cv.wait(lock);
        }
        if (options_.coalesce.count() > 0 && !pending_->stopping)
          pending_->cv.wait_for(lock, options_.coalesce, [&] { return pending_->stopping; });
        if (pending_->stopping) return;
        keys.swap(pending_->dirty);
        nodes_changed = std::exchange(pending_->nodes_changed, false);
        snapshot = pending_->requested;
      }
      if (options_.full_resync_period.count() > 0 && clock_.monotonic() >= next_full) full = true;

      Status st = syncOnce(full, keys, nodes_changed);
      if (st) {
        if (full) next_full = clock_.monotonic() + options_.full_resync_period;
        full = false;
        retry = kRetryMin;
        std::lock_guard lock(stats_mu_);
        applied_ = snapshot;
        synced_cv_.notify_all();
        continue;
      }
      LOG_WARN("service proxy sync failed; full resync next", "table", options_.table, "full", full, "error",
               st.message());
      generator_.invalidate();
      full = true;
      std::unique_lock lock(pending_->mu);
      pending_->cv.wait_for(lock, retry, [&] { return pending_->stopping; });
      retry = std::min(retry * 2, kRetryMax);
    }
  }

  // After the rules changed: removes the conntrack entries of UDP flows
  // that go to an endpoint a service no longer has, and of flows a service
  // rejected while it had no endpoint (kube-proxy's conntrack cleanup).
  void forgetStaleUdpFlows(const std::map<std::string, const ServiceInfo*>& changed) {
    std::set<UdpFlow> stale;
    for (const auto& [key, info] : changed) {
      std::vector<UdpPort> now;
      if (info)
        for (const auto& p : info->ports) {
          if (p.protocol != "udp") continue;
          UdpPort u{{info->cluster_ip}, p.port, p.node_port, {}};
          u.addresses.insert(u.addresses.end(), info->external_ips.begin(), info->external_ips.end());
          for (const auto& e : p.endpoints) u.endpoints.insert(e.ip);
          now.push_back(std::move(u));
        }
      auto before = udp_programmed_.find(key);
      if (before != udp_programmed_.end()) {
        for (const auto& old : before->second) {
          const UdpPort* cur = nullptr;
          for (const auto& u : now)
            if (u.port == old.port) cur = &u;
          auto flows = [&](const std::string& endpoint) {
            for (const auto& a : old.addresses) stale.insert({a, old.port, endpoint});
            if (old.node_port) stale.insert({"", old.node_port, endpoint});
          };
          for (const auto& ep : old.endpoints)
            if (!cur || !cur->endpoints.count(ep)) flows(ep);
          if (old.endpoints.empty() && cur && !cur->endpoints.empty()) flows("");
        }
      }
      if (now.empty())
        udp_programmed_.erase(key);
      else
        udp_programmed_[key] = std::move(now);
    }
    if (stale.empty() || !conntrack_) return;
    auto removed = conntrack_->remove({stale.begin(), stale.end()});
    if (!removed)
      LOG_WARN("service proxy: conntrack cleanup failed", "error", removed.status().message());
    else if (*removed > 0)
      LOG_DEBUG("service proxy: stale UDP flows removed", "entries", *removed);
  }

  bool stopping() {
    std::lock_guard lock(pending_->mu);
    return pending_->stopping;
  }

  NodeContext nodeContext() const {
    NodeContext node{options_.node_name, options_.node_ips};
    if (node.node_ips.empty() && !options_.node_name.empty()) {
      if (auto self = nodes_.get(options_.node_name)) {
        for (const auto& a : arrayAt(objectAt(*self, "status"), "addresses")) {
          std::string type = getString(a, "type"), ip = getString(a, "address");
          if ((type == "InternalIP" || type == "ExternalIP") && isIpv4(ip)) node.node_ips.push_back(ip);
        }
      }
    }
    return node;
  }

  ServiceInfo infoOf(const Json& service, const NodeContext& node) const {
    auto slices = slices_.byIndex(kSliceIndex, client::keyOf(service));
    std::vector<const Json*> ptrs;
    ptrs.reserve(slices.size());
    for (const auto& s : slices) ptrs.push_back(s.get());
    return serviceInfoOf(service, ptrs, node);
  }

  // A full sync by elements_: the services built into the table that is
  // not live (dormant), then one batch that wakes it and deletes the live
  // one (RuleGenerator::planFullSync). Element additions are most of a
  // full sync, and nft's parser is most of their cost. `text` gets the
  // nft text that was run.
  Status switchToNewTable(const std::map<std::string, ServiceInfo>& services, std::string& text) {
    const std::string alternate = alternateTable(options_.table);
    // Nothing live (a first start): build the usual name.
    std::string into = live_table_ == options_.table ? alternate : options_.table;
    // With nothing live, the alternate is the one replaced: the plan's
    // skeleton creates its tables, so that deleting them cannot fail.
    FullSyncPlan p;
    Status st = planAndApplyFullSync(*nft_, *elements_, generator_, services, into,
                                     into == options_.table ? alternate : options_.table, p);
    text = p.skeleton + p.text;
    if (st.code() == Code::kInvalid) {
      // An element the encoder does not know: the whole text in one
      // transaction on the live table instead.
      LOG_WARN("service proxy: element change not encodable, using nft text", "error", st.message());
      return replaceLiveTable(services, text);
    }
    if (!st) {
      // The dormant table is replaced by the next attempt.
      generator_.retarget(live_table_.empty() ? options_.table : live_table_);
      return st;
    }
    live_table_ = p.table;
    return st;
  }

  // A full sync as one nft text that replaces the live table (the usual
  // name when none is) in place; the other name is deleted.
  Status replaceLiveTable(const std::map<std::string, ServiceInfo>& services, std::string& text) {
    generator_.retarget(live_table_.empty() ? options_.table : live_table_);
    const std::string& other =
        generator_.table() == options_.table ? alternateTable(options_.table) : options_.table;
    text = generator_.fullSync(services) + RuleGenerator::deleteTableText(other);
    Status st = nft_->run(text);
    if (st) live_table_ = generator_.table();
    return st;
  }

  // One sync: a transaction for the changed services (or all of them),
  // then the LoadBalancer statuses they need.
  Status syncOnce(bool full, std::set<std::string>& keys, bool nodes_changed) {
    auto t0 = clock_.monotonic();
    NodeContext node = nodeContext();
    if (node.node_ips != last_node_ips_) full = true;  // every LoadBalancer service moves
    if (iptables_) full = true;                         // its syncs write everything
    std::string text;
    SyncPlan plan;
    std::vector<ObjectPtr> published;
    std::map<std::string, ServiceInfo> full_infos;      // the services read for this sync
    std::map<std::string, const ServiceInfo*> changed;  // key -> its programming, null when deleted
    std::future<Status> socket_lb_update;               // a full sync's, on its own thread
    Status st;
    if (full || generator_.needsFullSync()) {
      full = true;
      for (const auto& svc : services_.list()) {
        full_infos.emplace(client::keyOf(*svc), infoOf(*svc, node));
        if (publishedOnNodes(*svc)) published.push_back(svc);
      }
      for (const auto& [key, info] : full_infos) changed[key] = &info;
      for (const auto& [key, ports] : udp_programmed_)
        if (!full_infos.count(key)) changed[key] = nullptr;
      // Loading every service into the socket balancer (16 ms for 1,000 x
      // 10) runs beside the transaction: each is complete without the other.
      if (options_.socket_lb)
        socket_lb_update = std::async(std::launch::async, [&] { return options_.socket_lb->update(changed, true); });
      if (iptables_)
        st = iptables_->sync(full_infos);
      else if (elements_)
        st = switchToNewTable(full_infos, text);
      else
        st = replaceLiveTable(full_infos, text);
    } else {
      if (nodes_changed)
        for (const auto& svc : services_.list())
          if (publishedOnNodes(*svc)) keys.insert(client::keyOf(*svc));
      for (const auto& key : keys) {
        auto svc = services_.get(key);
        if (!svc) {
          changed[key] = nullptr;
          continue;
        }
        changed[key] = &full_infos.emplace(key, infoOf(*svc, node)).first->second;
        if (publishedOnNodes(*svc)) published.push_back(svc);
      }
      plan = generator_.plan(changed);
      text = std::move(plan.text);
    }
    if (full) {
      // applied above
    } else if ((plan.elements_only || plan.chains_and_elements) && elements_) {
      // Same transaction as the text, without nft's parser and cache read.
      // A rule or element the encoder does not know sent nothing (rarer
      // rule shapes: session affinity, externalTrafficPolicy Local): use
      // the text.
      st = elements_->apply(plan.tables);
      if (st.code() == Code::kInvalid) {
        LOG_DEBUG("service proxy: change not encodable as nfnetlink, using nft text", "error", st.message());
        st = nft_->run(text);
      }
    } else if (!text.empty()) {
      st = nft_->run(text);
    }
    Status lb = Status::ok();
    if (socket_lb_update.valid())
      lb = socket_lb_update.get();
    else if (options_.socket_lb && st)
      lb = options_.socket_lb->update(changed, false);
    if (!lb)
      LOG_WARN("service proxy: socket load balancing not updated; those ports go through the rules", "error",
               lb.message());
    auto took = std::chrono::duration_cast<std::chrono::microseconds>(clock_.monotonic() - t0);
    {
      std::lock_guard lock(stats_mu_);
      last_status_ = st;
      last_full_ = full;
      if (st) {
        ++sync_count_;
        last_duration_ = took;
      }
    }
    if (!st) return st;
    last_node_ips_ = node.node_ips;
    forgetStaleUdpFlows(changed);
    LOG_DEBUG("service proxy synced", "table", options_.table, "full", full, "services", keys.size(), "us",
              took.count(), "bytes", text.size());
    if (options_.publish_load_balancer_status && !published.empty()) {
      Json ingress = loadBalancerIngress(nodes_.list());
      if (ingress.empty())  // our own Node object not listed yet
        for (const auto& ip : node.node_ips) ingress.push_back({{"ip", ip}});
      for (const auto& svc : published) {
        Status w = publishLoadBalancerStatus(client_, *svc, ingress);
        if (!w && w.code() != Code::kNotFound)
          LOG_WARN("service proxy: load balancer status not written", "service", client::keyOf(*svc), "error",
                   w.message());
      }
    }
    return Status::ok();
  }

  const ProxyOptions options_;
  const Clock& clock_;
  const client::Client& client_;
  client::Informer& services_;
  client::Informer& slices_;
  client::Informer& nodes_;
  // Sync thread only.
  RuleGenerator generator_;
  // options_.table or its alternate, whichever holds the rules now (a full
  // sync builds the other one and switches); empty when neither exists.
  std::string live_table_;
  ProxyMode mode_ = ProxyMode::kAuto;
  std::unique_ptr<Iptables> iptables_;  // the iptables mode; nft_ and elements_ are null then
  std::unique_ptr<Nftables> nft_;
  std::unique_ptr<NftElements> elements_;  // null: element changes go through nft_ too
  std::unique_ptr<Conntrack> conntrack_;   // null: stale UDP flows time out by themselves
  // What is programmed for each service's UDP ports, to see which flows a
  // change leaves pointing at an endpoint that is gone.
  struct UdpPort {
    std::vector<std::string> addresses;  // cluster IP and external IPs
    int port = 0, node_port = 0;
    std::set<std::string> endpoints;
  };
  std::map<std::string, std::vector<UdpPort>> udp_programmed_;
  std::vector<std::string> last_node_ips_;

  std::shared_ptr<Pending> pending_;
  mutable std::mutex stats_mu_;  // guards the counters below
  mutable std::condition_variable synced_cv_;
  uint64_t sync_count_ = 0;
  uint64_t applied_ = 0;  // Pending::requested covered by the kernel's rules
  std::chrono::microseconds last_duration_{0};
  bool last_full_ = false;
  Status last_status_;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<ServiceProxy>> ServiceProxy::start(ProxyOptions options, const client::Client& client,
                                                          client::InformerFactory& informers) {
  if (!validTable(options.table))
    return Status(Code::kInvalid, "proxy: invalid nft table name " + options.table);
  if (!options.cluster_cidr.empty() && !validCidr(options.cluster_cidr))
    return Status(Code::kInvalid, "proxy: cluster CIDR is not an IPv4 CIDR: " + options.cluster_cidr);
  for (const auto& ip : options.node_ips)
    if (!isIpv4(ip)) return Status(Code::kInvalid, "proxy: node IP is not IPv4: " + ip);
  auto proxy = std::make_unique<ServiceProxyImpl>(std::move(options), client, informers);
  Status st = proxy->begin();
  if (!st) return st;
  return std::unique_ptr<ServiceProxy>(std::move(proxy));
}

Result<ProxyMode> parseProxyMode(const std::string& text) {
  if (text == "auto") return ProxyMode::kAuto;
  if (text == "nftables") return ProxyMode::kNftables;
  if (text == "iptables") return ProxyMode::kIptables;
  return Status(Code::kInvalid, "proxy mode must be auto, nftables or iptables, not " + text);
}

Status ServiceProxy::cleanup(const std::string& table, const std::string& netns, const std::string& iptables_tool) {
  if (!validTable(table)) return Status(Code::kInvalid, "proxy: invalid nft table name " + table);
  auto remove = [&] {
    Status st = enterNetworkNamespace(netns);
    if (!st) return st;
    // nftables, when the kernel answers at all (without it there is no
    // table of ours either).
    auto nft = Nftables::open();
    if (!nft) return nft.status();
    if (auto answers = (*nft)->hasTable(table); answers.isOk()) {
      st = (*nft)->run(RuleGenerator::deleteTableText(table) + RuleGenerator::deleteTableText(alternateTable(table)));
      if (!st) return st;
    }
    return Iptables::cleanup(iptablesPrefix(table), iptables_tool);
  };
  if (netns.empty()) return remove();
  Status st;
  std::thread([&] { st = remove(); }).join();  // setns changes only that thread
  return st;
}

}  // namespace capstan::proxy
