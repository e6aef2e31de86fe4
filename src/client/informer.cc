#include "client/informer.h"

#include "common/log.h"

namespace capstan::client {
namespace {

std::string rvOf(const Json& obj) {
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return {};
  auto rv = m->find("resourceVersion");
  return rv != m->end() && rv->is_string() ? rv->get<std::string>() : std::string();
}

}  // namespace

Informer::Informer(const Client& client, ResourceRef resource, std::string ns, ListOptions selectors,
                   std::chrono::milliseconds resync)
    : client_(client), resource_(std::move(resource)), ns_(std::move(ns)), selectors_(std::move(selectors)),
      resync_(resync) {}

Informer::~Informer() { stop(); }

void Informer::addHandlers(InformerHandlers h) { handlers_.push_back(std::move(h)); }

void Informer::addIndex(const std::string& name, IndexFunc fn) { index_funcs_[name] = std::move(fn); }

void Informer::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void Informer::stop() {
  {
    std::lock_guard lock(events_mu_);
    stopping_ = true;
  }
  events_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Informer::waitForSync(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(sync_mu_);
  return sync_cv_.wait_for(lock, timeout, [this] { return synced_.load(); });
}

ObjectPtr Informer::get(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Informer::list(const std::string& ns) const {
  std::lock_guard lock(mu_);
  std::vector<ObjectPtr> out;
  out.reserve(items_.size());
  for (const auto& [key, obj] : items_)
    if (ns.empty() || key.compare(0, ns.size() + 1, ns + "/") == 0) out.push_back(obj);
  return out;
}

std::vector<ObjectPtr> Informer::byIndex(const std::string& index, const std::string& value) const {
  std::lock_guard lock(mu_);
  std::vector<ObjectPtr> out;
  auto i = indexes_.find(index);
  if (i == indexes_.end()) return out;
  auto v = i->second.find(value);
  if (v == i->second.end()) return out;
  for (const auto& [key, obj] : v->second) out.push_back(obj);
  return out;
}

size_t Informer::size() const {
  std::lock_guard lock(mu_);
  return items_.size();
}

void Informer::indexLocked(const std::string& key, const ObjectPtr& obj, bool add) {
  for (const auto& [name, fn] : index_funcs_) {
    std::vector<std::string> values;
    try {
      values = fn(*obj);
    } catch (const std::exception&) {
      continue;  // an odd object is simply not indexed
    }
    auto& idx = indexes_[name];
    for (const auto& v : values) {
      if (add) {
        idx[v][key] = obj;
      } else if (auto it = idx.find(v); it != idx.end()) {
        it->second.erase(key);
        if (it->second.empty()) idx.erase(it);
      }
    }
  }
}

void Informer::apply(const std::string& type, ObjectPtr obj) {
  std::string key = keyOf(*obj);
  ObjectPtr old;
  {
    std::lock_guard lock(mu_);
    auto it = items_.find(key);
    if (it != items_.end()) {
      old = it->second;
      indexLocked(key, old, false);
    }
    if (type == "DELETED") {
      if (it != items_.end()) items_.erase(it);
    } else {
      items_[key] = obj;
      indexLocked(key, obj, true);
    }
  }
  for (const auto& h : handlers_) {
    if (type == "DELETED") {
      if (h.on_delete) h.on_delete(old ? old : obj);
    } else if (old) {
      if (h.on_update) h.on_update(old, obj);
    } else if (h.on_add) {
      h.on_add(obj);
    }
  }
}

void Informer::replaceAll(std::vector<ObjectPtr> objs) {
  std::unordered_map<std::string, ObjectPtr> fresh;
  for (auto& o : objs) fresh[keyOf(*o)] = std::move(o);
  std::vector<ObjectPtr> gone;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, obj] : items_)
      if (!fresh.count(key)) gone.push_back(obj);
  }
  for (auto& o : gone) apply("DELETED", o);
  for (auto& [key, obj] : fresh) {
    ObjectPtr cur = get(key);
    if (cur && rvOf(*cur) == rvOf(*obj)) continue;
    apply("MODIFIED", obj);
  }
}

void Informer::resyncAll() {
  for (const auto& obj : list())
    for (const auto& h : handlers_)
      if (h.on_update) h.on_update(obj, obj);
}

Status Informer::relist(std::string* rv) {
  auto r = client_.list(resource_, ns_, selectors_);
  if (!r) return r.status();
  const Json& body = *r;
  std::vector<ObjectPtr> objs;
  if (auto items = body.find("items"); items != body.end() && items->is_array()) {
    // A list's items carry no kind/apiVersion; handlers expect whole objects.
    std::string kind;
    if (auto k = body.find("kind"); k != body.end() && k->is_string()) {
      kind = k->get<std::string>();
      if (kind.size() > 4 && kind.compare(kind.size() - 4, 4, "List") == 0) kind.resize(kind.size() - 4);
    }
    for (const auto& item : *items) {
      Json o = item;
      if (!kind.empty()) {
        o["kind"] = kind;
        o["apiVersion"] = resource_.apiVersion();
      }
      objs.push_back(std::make_shared<const Json>(std::move(o)));
    }
  }
  replaceAll(std::move(objs));
  *rv = rvOf(body);
  if (!synced_.exchange(true)) {
    std::lock_guard lock(sync_mu_);
    sync_cv_.notify_all();
  }
  return Status::ok();
}

void Informer::run() {
  auto backoff = std::chrono::milliseconds(50);
  uint64_t generation = 0;
  bool need_list = true;
  std::string rv;
  auto next_resync = std::chrono::steady_clock::now() + resync_;
  for (;;) {
    {
      std::lock_guard lock(events_mu_);
      if (stopping_) return;
    }
    if (need_list) {
      Status st = relist(&rv);
      if (!st) {
        LOG_WARN("informer list failed", "resource", resource_.resource, "error", st.message());
        std::unique_lock lock(events_mu_);
        events_cv_.wait_for(lock, backoff, [this] { return stopping_; });
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
        continue;
      }
      need_list = false;
    }
    // Watch from the last revision seen; events of an older watch are
    // dropped by generation.
    uint64_t gen = ++generation;
    {
      std::lock_guard lock(events_mu_);
      events_.clear();
    }
    ListOptions opts = selectors_;
    opts.resource_version = rv;
    auto push = [this, gen](Event ev) {
      std::lock_guard lock(events_mu_);
      ev.generation = gen;
      events_.push_back(std::move(ev));
      events_cv_.notify_one();
    };
    auto handle = client_.watch(
        resource_, ns_, opts,
        [push](std::string_view type, ObjectPtr obj) { push({std::string(type), std::move(obj), {}, 0}); },
        [push](Status st) { push({"", nullptr, std::move(st), 0}); });
    bool watching = true;
    while (watching) {
      Event ev;
      {
        std::unique_lock lock(events_mu_);
        auto ready = [this] { return stopping_ || !events_.empty(); };
        if (resync_.count() > 0) {
          if (!events_cv_.wait_until(lock, next_resync, ready)) {
            lock.unlock();
            resyncAll();
            next_resync = std::chrono::steady_clock::now() + resync_;
            continue;
          }
        } else {
          events_cv_.wait(lock, ready);
        }
        if (stopping_) {
          lock.unlock();
          handle.reset();
          return;
        }
        ev = std::move(events_.front());
        events_.pop_front();
      }
      if (ev.generation != gen) continue;
      if (ev.type.empty()) {
        // The stream ended: a timeout re-watches from rv, an error re-lists.
        watching = false;
        if (!ev.end_status) need_list = true;
        LOG_DEBUG("informer watch ended", "resource", resource_.resource, "rv", rv, "relist", need_list, "status",
                  ev.end_status.message());
        break;
      }
      if (ev.type == "ERROR") {
        LOG_DEBUG("informer watch error", "resource", resource_.resource, "status", ev.object->dump());
        watching = false;
        need_list = true;
        break;
      }
      std::string obj_rv = rvOf(*ev.object);
      if (!obj_rv.empty()) rv = obj_rv;
      if (ev.type == "BOOKMARK") continue;
      backoff = std::chrono::milliseconds(50);
      apply(ev.type, std::move(ev.object));
    }
    handle.reset();
  }
}

InformerFactory::~InformerFactory() { stop(); }

Informer& InformerFactory::get(const ResourceRef& r) {
  std::lock_guard lock(mu_);
  auto& slot = informers_[r.path()];
  if (!slot) slot = std::make_unique<Informer>(client_, r, "", ListOptions{}, resync_);
  return *slot;
}

void InformerFactory::start() {
  std::lock_guard lock(mu_);
  for (auto& [path, inf] : informers_) inf->start();
}

bool InformerFactory::waitForSync(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<Informer*> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [path, inf] : informers_) all.push_back(inf.get());
  }
  for (auto* inf : all) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !inf->waitForSync(left)) return false;
  }
  return true;
}

void InformerFactory::stop() {
  // Not under mu_: stopping joins each informer's thread, whose handlers may
  // be in get() (waiting for mu_) at that moment.
  std::vector<Informer*> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [path, inf] : informers_) all.push_back(inf.get());
  }
  for (auto* inf : all) inf->stop();
}

}  // namespace capstan::client
