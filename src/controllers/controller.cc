#include "controllers/controller.h"

#include "common/log.h"

namespace capstan::controllers {

Controller::Controller(std::string name, Context& ctx, int workers)
    : ctx_(ctx), name_(std::move(name)), workers_(workers) {}

Controller::~Controller() { stop(); }

client::InformerHandlers Controller::enqueueHandlers() {
  return {.on_add = [this](const ObjectPtr& o) { enqueue(o); },
          .on_update = [this](const ObjectPtr&, const ObjectPtr& o) { enqueue(o); },
          .on_delete = [this](const ObjectPtr& o) { enqueue(o); }};
}

void Controller::run() {
  for (int i = 0; i < workers_; ++i) threads_.emplace_back([this] { worker(); });
}

void Controller::stop() {
  queue_.shutDown();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void Controller::worker() {
  while (auto key = queue_.get()) {
    Status st;
    try {
      st = sync(*key);
    } catch (const std::exception& e) {
      st = Status(Code::kInternal, e.what());
    }
    if (st) {
      LOG_DEBUG("synced", "controller", name_, "key", *key);
      queue_.forget(*key);
    } else {
      // Conflicts are expected under concurrency: retry quietly.
      if (st.code() != Code::kConflict)
        LOG_WARN("sync failed", "controller", name_, "key", *key, "error", st.message());
      else
        LOG_DEBUG("sync conflict, retrying", "controller", name_, "key", *key, "error", st.message());
      queue_.addRateLimited(*key);
    }
    queue_.done(*key);
  }
}

}  // namespace capstan::controllers
