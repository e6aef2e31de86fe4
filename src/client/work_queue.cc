#include "client/work_queue.h"

#include <algorithm>

namespace capstan::client {

void WorkQueue::addLocked(const std::string& key) {
  if (shutting_down_ || dirty_.count(key)) return;
  dirty_.insert(key);
  if (metrics_) {
    metrics_->added();
    metrics_->setDepth(static_cast<double>(++depth_));
    added_at_.emplace(key, std::chrono::steady_clock::now());
  }
  if (processing_.count(key)) return;  // re-queued by done()
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::add(const std::string& key) {
  std::lock_guard lock(mu_);
  addLocked(key);
}

void WorkQueue::addAfter(const std::string& key, Duration delay) {
  if (delay <= Duration::zero()) return add(key);
  std::lock_guard lock(mu_);
  if (shutting_down_) return;
  delayed_.emplace(std::chrono::steady_clock::now() + delay, key);
  cv_.notify_all();  // a waiting worker may need an earlier wake-up
}

void WorkQueue::addRateLimited(const std::string& key) {
  Duration delay;
  {
    std::lock_guard lock(mu_);
    int n = failures_[key]++;
    if (metrics_) metrics_->retried();
    delay = base_delay_;
    for (int i = 0; i < n && delay < max_delay_; ++i) delay *= 2;
    delay = std::min(delay, max_delay_);
  }
  addAfter(key, delay);
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

int WorkQueue::failures(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

void WorkQueue::promoteDueLocked(std::chrono::steady_clock::time_point now) {
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    std::string key = std::move(delayed_.begin()->second);
    delayed_.erase(delayed_.begin());
    addLocked(key);
  }
}

std::optional<std::string> WorkQueue::get() {
  std::unique_lock lock(mu_);
  for (;;) {
    promoteDueLocked(std::chrono::steady_clock::now());
    if (shutting_down_) return std::nullopt;
    if (!queue_.empty()) break;
    if (delayed_.empty()) cv_.wait(lock);
    else cv_.wait_until(lock, delayed_.begin()->first);
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  if (metrics_) {
    auto now = std::chrono::steady_clock::now();
    if (depth_ > 0) --depth_;
    metrics_->setDepth(static_cast<double>(depth_));
    if (auto it = added_at_.find(key); it != added_at_.end()) {
      metrics_->queued(std::chrono::duration<double>(now - it->second).count());
      added_at_.erase(it);
    }
    started_at_[key] = now;
  }
  return key;
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mu_);
  processing_.erase(key);
  if (metrics_) {
    if (auto it = started_at_.find(key); it != started_at_.end()) {
      metrics_->worked(std::chrono::duration<double>(std::chrono::steady_clock::now() - it->second).count());
      started_at_.erase(it);
    }
  }
  if (dirty_.count(key) && !shutting_down_) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::shutDown() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  cv_.notify_all();
}

void WorkQueue::setMetrics(std::shared_ptr<WorkQueueMetrics> metrics) {
  std::lock_guard lock(mu_);
  metrics_ = std::move(metrics);
  if (metrics_) metrics_->setDepth(static_cast<double>(depth_));
}

size_t WorkQueue::length() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

}  // namespace capstan::client
