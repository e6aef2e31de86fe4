#include "dns/record_store.h"

#include "common/log.h"

namespace capstan::dns {

RecordStore::RecordStore(std::string domain) : domain_(canonicalName(domain)) {
  auto empty = buildZoneSnapshot({}, domain_, 0);
  auto unsynced = std::make_shared<ZoneSnapshot>(*empty);
  unsynced->synced = false;
  snapshot_.store(std::move(unsynced));
}

RecordStore::~RecordStore() { stop(); }

void RecordStore::attach(const std::shared_ptr<RecordStore>& self, client::InformerFactory& informers) {
  auto handlers = [&self](Kind kind) {
    std::shared_ptr<RecordStore> strong = self;
    client::InformerHandlers h;
    h.on_add = [strong, kind](const client::ObjectPtr& o) { strong->apply(kind, *o, false); };
    h.on_update = [strong, kind](const client::ObjectPtr&, const client::ObjectPtr& o) {
      strong->apply(kind, *o, false);
    };
    h.on_delete = [strong, kind](const client::ObjectPtr& o) { strong->apply(kind, *o, true); };
    return h;
  };
  const std::pair<const client::ResourceRef*, Kind> kinds[] = {{&client::res::kServices, Kind::kService},
                                                               {&client::res::kEndpointSlices, Kind::kSlice},
                                                               {&client::res::kPods, Kind::kPod}};
  for (const auto& [resource, kind] : kinds) {
    client::Informer& inf = informers.get(*resource);
    inf.addHandlers(handlers(kind));
    self->informers_.push_back(&inf);
  }
}

void RecordStore::apply(Kind kind, const Json& obj, bool deleted) {
  std::string key = client::keyOf(obj);
  std::lock_guard lock(mu_);
  switch (kind) {
    case Kind::kService:
      if (deleted) {
        sources_.services.erase(key);
      } else {
        sources_.services[key] = std::make_shared<const ServiceInfo>(serviceInfoOf(obj));
      }
      break;
    case Kind::kSlice:
      if (deleted) {
        sources_.slices.erase(key);
      } else {
        sources_.slices[key] = std::make_shared<const SliceInfo>(sliceInfoOf(obj));
      }
      break;
    case Kind::kPod: {
      // Pod churn that changes no IP (status updates) need not rebuild the zone.
      auto it = sources_.pods.find(key);
      if (deleted) {
        if (it == sources_.pods.end()) return;
        sources_.pods.erase(it);
        break;
      }
      PodInfo info = podInfoOf(obj);
      if (it != sources_.pods.end() && it->second->ips == info.ips) return;
      if (it == sources_.pods.end() && info.ips.empty()) return;
      sources_.pods[key] = std::make_shared<const PodInfo>(std::move(info));
      break;
    }
  }
  dirty_ = true;
  cv_.notify_one();
}

void RecordStore::rebuild() {
  std::lock_guard build(build_mu_);
  ClusterSources copy;
  {
    std::lock_guard lock(mu_);
    copy = sources_;
    dirty_ = false;
  }
  uint64_t gen = generation_.load() + 1;
  auto zone = buildZoneSnapshot(copy, domain_, static_cast<uint32_t>(gen));
  snapshot_.store(std::move(zone), std::memory_order_release);
  generation_.store(gen, std::memory_order_release);
}

void RecordStore::start() {
  std::lock_guard lock(mu_);
  if (builder_.joinable()) return;
  stopping_ = false;
  builder_ = std::thread([this] { run(); });
}

void RecordStore::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (builder_.joinable()) builder_.join();
}

void RecordStore::run() {
  // Answering NXDOMAIN for names the first lists would bring is worse than
  // SERVFAIL (which clients retry), so the zone is published as synced only
  // once every informer has listed.
  for (const client::Informer* inf : informers_) {
    while (!inf->waitForSync(std::chrono::milliseconds(100))) {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
  }
  rebuild();
  LOG_INFO("dns zone synced", "domain", domain_, "names", current()->names.size());
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || dirty_; });
      if (stopping_) return;
    }
    rebuild();
  }
}

}  // namespace capstan::dns
