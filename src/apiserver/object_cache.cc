#include "apiserver/object_cache.h"

#include "common/log.h"

namespace capstan::apiserver {

class ObjectCache::Handle final : public CacheWatch {
 public:
  Handle(ObjectCache* cache, std::weak_ptr<bool> alive, uint64_t id) : cache_(cache), alive_(std::move(alive)), id_(id) {}
  ~Handle() override {
    if (alive_.lock()) cache_->removeWatcher(id_);
  }

 private:
  ObjectCache* cache_;
  std::weak_ptr<bool> alive_;
  uint64_t id_;
};

std::shared_ptr<const Json> CachedObject::withoutManagedFields() const {
  std::weak_ptr<const Json> seen = lean_.load(std::memory_order_acquire);
  if (auto held = seen.lock()) return held;
  std::shared_ptr<const Json> made;
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object() || !m->contains("managedFields")) {
    made = std::make_shared<const Json>(obj);
  } else {
    Json out = Json::object();
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (it.key() != "metadata") {
        out[it.key()] = *it;
        continue;
      }
      Json& meta = out["metadata"] = Json::object();
      for (auto f = it->begin(); f != it->end(); ++f)
        if (f.key() != "managedFields") meta[f.key()] = *f;
    }
    made = std::make_shared<const Json>(std::move(out));
  }
  // Two callers at once: both made one, and the first stored is kept.
  while (!lean_.compare_exchange_weak(seen, made, std::memory_order_acq_rel, std::memory_order_acquire))
    if (auto held = seen.lock()) return held;
  return made;
}

Result<ObjectPtr> ObjectCache::decode(const store::KeyValue& kv, int64_t resource_version) {
  auto parsed = parseJson(kv.value);
  if (!parsed) return parsed.status();
  return fromDecoded(kv, resource_version, std::move(*parsed));
}

namespace {
// Where the value of the top-level "metadata" object begins in JSON text
// (just past its '{'), or npos. Scans only up to it: the values before it
// are skipped by their depth, strings and escapes respected.
size_t metadataBody(std::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  bool after_metadata = false;  // the last top-level string was "metadata"
  size_t string_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') {
        in_string = false;
        if (depth == 1) after_metadata = text.substr(string_start, i - string_start) == "metadata";
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        string_start = i + 1;
        break;
      case '{':
        if (depth == 1 && after_metadata) return i + 1;
        ++depth;
        break;
      case '[':
        ++depth;
        break;
      case '}':
      case ']':
        if (--depth == 0) return std::string_view::npos;  // the top level ended without one
        break;
      case ',':
        after_metadata = false;  // a value was "metadata", not a key
        break;
      default:
        break;
    }
  }
  return std::string_view::npos;
}
}  // namespace

// The stored text is the object's dump without metadata.resourceVersion
// (see Resources::guaranteedUpdate), so the text served is that one with the
// version spliced into metadata instead of a second dump of the whole
// object (6 % of the server while pods were created in bulk). Only its key
// order differs from a dump: resourceVersion comes first in metadata.
ObjectPtr ObjectCache::fromDecoded(const store::KeyValue& kv, int64_t resource_version, Json decoded) {
  auto obj = std::make_shared<CachedObject>();
  obj->key = kv.key;
  obj->obj = std::move(decoded);
  Json& meta = obj->obj["metadata"];
  bool had_version = meta.is_object() && meta.contains("resourceVersion");
  std::string rv = std::to_string(resource_version);
  meta["resourceVersion"] = rv;
  size_t at = had_version ? std::string_view::npos : metadataBody(kv.value);
  if (at != std::string_view::npos) {
    bool empty = at < kv.value.size() && kv.value[at] == '}';
    obj->json.reserve(kv.value.size() + rv.size() + 22);
    obj->json.append(kv.value, 0, at);
    obj->json += "\"resourceVersion\":\"";
    obj->json += rv;
    obj->json += empty ? "\"" : "\",";
    obj->json.append(kv.value, at, std::string::npos);
  } else {
    obj->json = obj->obj.dump();
  }
  obj->create_revision = kv.create_revision;
  obj->mod_revision = kv.mod_revision;
  return ObjectPtr(std::move(obj));
}

Result<std::unique_ptr<ObjectCache>> ObjectCache::start(store::Store& store, std::string prefix, size_t window) {
  std::unique_ptr<ObjectCache> c(new ObjectCache());
  c->window_ = window;
  // Start a window's worth of revisions back (never before compaction), so
  // that clients resuming a watch after a server restart are served.
  int64_t current = store.currentRevision();
  int64_t compacted = store.compactedRevision();
  int64_t base = std::max<int64_t>({compacted, current - static_cast<int64_t>(window), 0});
  if (base > 0 && base == compacted && compacted > 0) base = compacted;
  std::vector<store::KeyValue> kvs;
  if (base > 0) {
    auto r = store.range({prefix, store::prefixEnd(prefix), base, 0});
    if (!r) {
      // The base fell out of history under us: start from now.
      base = store.currentRevision();
      r = store.range({prefix, store::prefixEnd(prefix), 0, 0});
      if (!r) return r.status();
      base = r->revision;
    }
    kvs = std::move(r->kvs);
  }
  for (const auto& kv : kvs) {
    auto o = decode(kv, kv.mod_revision);
    if (!o) {
      LOG_WARN("skipping undecodable object", "key", kv.key, "error", o.status().message());
      continue;
    }
    c->objects_[kv.key] = *o;
  }
  c->revision_ = base;
  c->window_start_ = base;
  ObjectCache* raw = c.get();
  auto w = store.watch(prefix, base + 1, [raw](const std::vector<store::Event>& evs) { raw->apply(evs); });
  if (!w) return w.status();
  c->store_watch_ = std::move(*w);
  LOG_INFO("watch cache ready", "objects", c->size(), "revision", c->revision(), "window_start", base);
  return c;
}

ObjectCache::~ObjectCache() {
  store_watch_.reset();
  *alive_ = false;
  alive_.reset();
}

void ObjectCache::apply(const std::vector<store::Event>& evs) {
  // watchers_mu_ before mu_, as in watch(): a watch registering concurrently
  // either replays these events or receives them live, never both.
  std::lock_guard wl(watchers_mu_);
  std::vector<CacheEvent> out;
  out.reserve(evs.size());
  {
    std::unique_lock lock(mu_);
    for (const auto& e : evs) {
      auto cur = objects_.find(e.kv.key);
      // A put's object as its writer gave it: taken when nobody else holds
      // it, else copied (see store::Event). A delete's last state is the
      // object held here: copied. Parsed only when neither is at hand.
      Result<ObjectPtr> o = Status(Code::kInternal, "");
      if (e.decoded && e.decoded->is_object())
        o = fromDecoded(e.kv, e.kv.mod_revision, e.decoded.use_count() == 1 ? std::move(*e.decoded) : *e.decoded);
      else if (e.type == store::EventType::kDelete && cur != objects_.end())
        o = fromDecoded(e.kv, e.kv.mod_revision, cur->second->obj);
      else
        o = decode(e.kv, e.kv.mod_revision);
      if (!o) {
        LOG_WARN("skipping undecodable event", "key", e.kv.key, "error", o.status().message());
        continue;
      }
      CacheEvent ce;
      ce.obj = *o;
      ce.revision = e.kv.mod_revision;
      if (cur != objects_.end()) ce.prev = cur->second;
      if (e.type == store::EventType::kDelete) {
        ce.type = CacheEvent::Type::kDeleted;
        if (cur != objects_.end()) objects_.erase(cur);
      } else {
        ce.type = ce.prev ? CacheEvent::Type::kModified : CacheEvent::Type::kAdded;
        objects_[e.kv.key] = *o;
      }
      revision_ = std::max(revision_, ce.revision);
      events_.push_back(ce);
      out.push_back(std::move(ce));
    }
    if (!evs.empty()) revision_ = std::max(revision_, evs.back().kv.mod_revision);
    while (events_.size() > window_) {
      window_start_ = events_.front().revision;
      events_.pop_front();
      // Keep whole revisions: drop the rest of a revision we cut into.
      while (!events_.empty() && events_.front().revision == window_start_) events_.pop_front();
    }
  }
  for (auto& [id, w] : watchers_) {
    std::vector<CacheEvent> mine;
    for (const auto& ce : out)
      if (ce.obj->key.compare(0, w.prefix.size(), w.prefix) == 0) mine.push_back(ce);
    if (!mine.empty()) w.cb(mine);
  }
}

int64_t ObjectCache::revision() const {
  std::shared_lock lock(mu_);
  return revision_;
}

size_t ObjectCache::size() const {
  std::shared_lock lock(mu_);
  return objects_.size();
}

ObjectPtr ObjectCache::get(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> ObjectCache::list(const std::string& prefix, int64_t* revision) const {
  std::vector<ObjectPtr> out;
  std::shared_lock lock(mu_);
  for (auto it = objects_.lower_bound(prefix); it != objects_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    out.push_back(it->second);
  }
  if (revision) *revision = revision_;
  return out;
}

Result<std::unique_ptr<CacheWatch>> ObjectCache::watch(const std::string& prefix, int64_t after, Callback cb) {
  // Hold watchers_mu_ across the replay and registration, so no live event
  // slips between them (apply() delivers under the same lock).
  std::lock_guard wl(watchers_mu_);
  std::vector<CacheEvent> replay;
  {
    std::shared_lock lock(mu_);
    if (after < window_start_) {
      Status st(Code::kGone, "too old resource version: " + std::to_string(after) + " (" +
                                 std::to_string(window_start_ + 1) + ")");
      st.reason_override = "Expired";
      return st;
    }
    for (const auto& e : events_)
      if (e.revision > after && e.obj->key.compare(0, prefix.size(), prefix) == 0) replay.push_back(e);
  }
  if (!replay.empty()) cb(replay);
  uint64_t id = next_id_++;
  watchers_.emplace(id, Watcher{prefix, std::move(cb)});
  return std::unique_ptr<CacheWatch>(new Handle(this, alive_, id));
}

void ObjectCache::removeWatcher(uint64_t id) {
  std::lock_guard wl(watchers_mu_);
  watchers_.erase(id);
}

}  // namespace capstan::apiserver
