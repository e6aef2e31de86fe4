#include "apiserver/watch_stream.h"

#include "apiserver/responses.h"

namespace capstan::apiserver {

WatchStream::WatchStream(ObjectCache& cache, Metrics& metrics, const Clock& clock, WatchOptions opts)
    : cache_(cache), metrics_(metrics), clock_(clock), opts_(std::move(opts)) {
  metrics_.watchStarted(opts_.metric_labels);
}

WatchStream::~WatchStream() {
  stop();
  metrics_.watchEnded(opts_.metric_labels);
}

bool WatchStream::matches(const Json& obj) const {
  const Json* labels = nullptr;
  if (auto* m = find(obj, "metadata")) labels = find(*m, "labels");
  static const Json kNull;
  if (!opts_.labels.empty() && !opts_.labels.matches(labels ? *labels : kNull)) return false;
  if (!opts_.fields.empty() &&
      !opts_.fields.matches([&](std::string_view f) { return api::selectableFieldValue(*opts_.info, obj, f); }))
    return false;
  return true;
}

// Caller holds mu_.
void WatchStream::send(const char* type, const CachedObject& o) {
  if (!sink_) return;
  if (!opts_.table && sink_->takesObjects()) {
    sink_->writeObject(type, o.withoutManagedFields());
    return;
  }
  std::string line;
  if (opts_.table) {
    Json t = api::toTable(*opts_.info, {&o.obj}, opts_.include, clock_.now(), !sent_columns_);
    sent_columns_ = true;
    t["metadata"]["resourceVersion"] = std::to_string(o.mod_revision);
    line = Json({{"type", type}, {"object", std::move(t)}}).dump();
  } else {
    // The object was serialized once, in the cache, for every watcher.
    line.reserve(o.json.size() + 32);
    line += "{\"type\":\"";
    line += type;
    line += "\",\"object\":";
    line += o.json;
    line += '}';
  }
  line += '\n';
  sink_->write(std::move(line));
}

void WatchStream::start(std::shared_ptr<StreamSink> sink) {
  try {
    begin(std::move(sink));
  } catch (const std::exception& e) {
    std::lock_guard lock(mu_);
    if (!sink_) return;
    Status st(Code::kInternal, std::string("Internal error occurred: ") + e.what());
    sink_->write(Json({{"type", "ERROR"}, {"object", statusObject(st)}}).dump() + "\n");
    sink_->close();
  }
}

void WatchStream::begin(std::shared_ptr<StreamSink> sink) {
  int64_t after = opts_.after;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    sink_ = std::move(sink);
    if (opts_.send_initial) {
      auto objs = cache_.list(opts_.prefix, &after);
      for (const auto& o : objs)
        if (matches(o->obj)) send("ADDED", *o);
    }
  }
  // Not under mu_: the cache replays recent events through onEvents().
  auto w = cache_.watch(opts_.prefix, after, [this](const std::vector<CacheEvent>& evs) { onEvents(evs); });
  std::unique_ptr<CacheWatch> discard;
  {
    std::lock_guard lock(mu_);
    if (!w) {
      Json st = statusObject(w.status());
      sink_->write(Json({{"type", "ERROR"}, {"object", st}}).dump() + "\n");
      sink_->close();
      return;
    }
    if (stopped_) discard = std::move(*w);
    else watch_ = std::move(*w);
  }
  // Destroyed outside mu_ (see stop()).
  discard.reset();
}

void WatchStream::onEvents(const std::vector<CacheEvent>& evs) {
  std::lock_guard lock(mu_);
  if (!sink_ || stopped_) return;
  try {
    deliver(evs);
  } catch (const std::exception& e) {
    // Never let one watcher's bad conversion reach the store's thread.
    Status st(Code::kInternal, std::string("Internal error occurred: ") + e.what());
    sink_->write(Json({{"type", "ERROR"}, {"object", statusObject(st)}}).dump() + "\n");
    sink_->close();
    stopped_ = true;
  }
}

// Caller holds mu_.
void WatchStream::deliver(const std::vector<CacheEvent>& evs) {
  for (const auto& e : evs) {
    bool now = matches(e.obj->obj);
    bool before = e.prev ? matches(e.prev->obj) : false;
    switch (e.type) {
      case CacheEvent::Type::kAdded:
        if (now) send("ADDED", *e.obj);
        break;
      case CacheEvent::Type::kModified:
        if (now && before) send("MODIFIED", *e.obj);
        else if (now) send("ADDED", *e.obj);
        else if (before) send("DELETED", *e.obj);
        break;
      case CacheEvent::Type::kDeleted:
        if (now) send("DELETED", *e.obj);
        break;
    }
  }
  if (sink_->pendingBytes() > opts_.max_pending_bytes) {
    // Too slow: end the stream; the client re-lists and watches again.
    sink_->close();
    stopped_ = true;
  }
}

void WatchStream::stop() {
  std::unique_ptr<CacheWatch> w;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    w = std::move(watch_);
  }
  // Destroyed outside mu_: removing the watcher waits for a running
  // delivery, which may be waiting for mu_.
  w.reset();
}

}  // namespace capstan::apiserver
