#pragma once
// A watch as a streaming HTTP response: newline-delimited watch events
// ({"type":...,"object":...}) from the watch cache, filtered by namespace
// and selectors, optionally as Table rows. A watcher whose client falls too
// far behind is closed (it re-lists), so it never stalls the others.

#include <memory>
#include <mutex>

#include "api/registry.h"
#include "api/selector.h"
#include "api/table.h"
#include "apiserver/http.h"
#include "apiserver/metrics.h"
#include "apiserver/object_cache.h"
#include "common/clock.h"

namespace capstan::apiserver {

struct WatchOptions {
  const api::ResourceInfo* info = nullptr;
  std::string prefix;
  api::LabelSelector labels;
  api::FieldSelector fields;
  // Send the current objects first (resourceVersion "" or "0").
  bool send_initial = false;
  int64_t after = 0;  // resourceVersion to start after
  bool table = false;
  api::IncludeObject include = api::IncludeObject::kMetadata;
  bool bookmarks = false;
  size_t max_pending_bytes = 32 * 1024 * 1024;
  RequestLabels metric_labels;
};

class WatchStream final : public StreamBody, public std::enable_shared_from_this<WatchStream> {
 public:
  WatchStream(ObjectCache& cache, Metrics& metrics, const Clock& clock, WatchOptions opts);
  ~WatchStream() override;
  void start(std::shared_ptr<StreamSink> sink) override;
  void stop() override;

 private:
  bool matches(const Json& obj) const;
  void send(const char* type, const CachedObject& o);
  void onEvents(const std::vector<CacheEvent>& events);
  void deliver(const std::vector<CacheEvent>& events);
  void begin(std::shared_ptr<StreamSink> sink);

  ObjectCache& cache_;
  Metrics& metrics_;
  const Clock& clock_;
  WatchOptions opts_;
  std::mutex mu_;  // guards sink_, watch_, sent_columns_
  std::shared_ptr<StreamSink> sink_;
  std::unique_ptr<CacheWatch> watch_;
  bool sent_columns_ = false;
  bool stopped_ = false;
};

}  // namespace capstan::apiserver
