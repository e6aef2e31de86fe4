#include "ingress/ingress_controller.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "proxy/load_balancer_status.h"

namespace capstan::ingress {
namespace {

const client::ResourceRef kIngresses{"networking.k8s.io", "v1", "ingresses"};
const client::ResourceRef kIngressClasses{"networking.k8s.io", "v1", "ingressclasses", false};

class ControllerImpl final : public IngressController {
 public:
  ControllerImpl(IngressControllerOptions o, const client::Client& c, client::InformerFactory& f,
                 std::unique_ptr<ReverseProxy> proxy)
      : opts_(std::move(o)),
        client_(c),
        ingresses_(f.get(kIngresses)),
        classes_(f.get(kIngressClasses)),
        services_(f.get(client::res::kServices)),
        slices_(f.get(client::res::kEndpointSlices)),
        secrets_(f.get(client::res::kSecrets)),
        nodes_(f.get(client::res::kNodes)),
        proxy_(std::move(proxy)) {}

  ~ControllerImpl() override { stop(); }

  void begin() {
    client::InformerHandlers h;
    h.on_add = [this](const client::ObjectPtr&) { markDirty(); };
    h.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr&) { markDirty(); };
    h.on_delete = [this](const client::ObjectPtr&) { markDirty(); };
    for (auto* inf : {&ingresses_, &classes_, &services_, &slices_, &secrets_, &nodes_}) inf->addHandlers(h);
    thread_ = std::thread([this] { run(); });
  }

  void stop() override {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    proxy_->stop();
  }

  uint16_t httpPort() const override { return proxy_->httpPort(); }
  uint16_t httpsPort() const override { return proxy_->httpsPort(); }

  bool waitForSync(std::chrono::milliseconds timeout) const override {
    std::unique_lock lock(mu_);
    uint64_t target = seen_;
    return synced_cv_.wait_for(lock, timeout, [&] { return synced_ >= target && built_once_; });
  }

 private:
  void markDirty() {
    {
      std::lock_guard lock(mu_);
      ++seen_;
    }
    cv_.notify_all();
  }

  bool cachesSynced() const {
    for (auto* inf : {&ingresses_, &classes_, &services_, &slices_, &secrets_, &nodes_})
      if (!inf->hasSynced()) return false;
    return true;
  }

  void run() {
    uint64_t done = 0;
    for (;;) {
      uint64_t target;
      {
        std::unique_lock lock(mu_);
        // Until every cache has its first list, wake now and then to check.
        auto due = [&] { return cachesSynced() && (seen_ != done || !built_once_); };
        cv_.wait_for(lock, std::chrono::milliseconds(cachesSynced() ? 60000 : 50),
                     [&] { return stopping_ || due(); });
        if (stopping_) return;
        if (!due()) continue;
        target = seen_;
      }
      sync();
      done = target;
      {
        std::lock_guard lock(mu_);
        synced_ = target;
        built_once_ = true;
      }
      synced_cv_.notify_all();
    }
  }

  void sync() {
    Inputs in{ingresses_.list(), classes_.list(), services_.list(), slices_.list(), secrets_.list()};
    auto table = RouteTable::build(in);
    proxy_->setRoutes(table);
    if (!opts_.publish_status) return;
    Json lb = proxy::loadBalancerIngress(nodes_.list());
    for (const auto& key : table->servedIngresses()) {
      auto ing = ingresses_.get(key);
      if (!ing) continue;
      const Json& current = arrayAt(objectAt(objectAt(*ing, "status"), "loadBalancer"), "ingress");
      if (current == lb) continue;
      Json patch = {{"status", {{"loadBalancer", {{"ingress", lb}}}}}};
      auto r = client_.patch(kIngresses, client::namespaceOf(*ing), client::nameOf(*ing),
                             client::PatchType::kMerge, patch, "status");
      if (!r && r.status().code() != Code::kNotFound)
        LOG_WARN("ingress: status not written", "ingress", key, "error", r.status().message());
    }
  }

  IngressControllerOptions opts_;
  const client::Client& client_;
  client::Informer &ingresses_, &classes_, &services_, &slices_, &secrets_, &nodes_;
  std::unique_ptr<ReverseProxy> proxy_;
  std::thread thread_;

  mutable std::mutex mu_;  // guards the fields below
  std::condition_variable cv_;
  mutable std::condition_variable synced_cv_;
  bool stopping_ = false;
  uint64_t seen_ = 0;    // events handled so far
  uint64_t synced_ = 0;  // events reflected in the proxy's table
  bool built_once_ = false;
};

}  // namespace

Result<std::unique_ptr<IngressController>> IngressController::start(IngressControllerOptions options,
                                                                    const client::Client& client,
                                                                    client::InformerFactory& informers) {
  auto proxy = ReverseProxy::start(options.proxy);
  if (!proxy) return proxy.status();
  auto c = std::make_unique<ControllerImpl>(std::move(options), client, informers, std::move(*proxy));
  c->begin();
  return std::unique_ptr<IngressController>(std::move(c));
}

}  // namespace capstan::ingress
