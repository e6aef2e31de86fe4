#include "agent/image_gc.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace capstan::agent {
namespace {

int percentUsed(const DiskUsage& u) {
  return u.capacity == 0 ? 0 : static_cast<int>(u.used * 100 / u.capacity);
}

}  // namespace

Result<DiskUsage> diskUsage(const std::string& path) {
  struct statvfs s{};
  if (::statvfs(path.c_str(), &s) != 0)
    return Status(Code::kInternal, fmt::format("statvfs {}: {}", path, std::strerror(errno)));
  // As kubelet: used = capacity - available to unprivileged users.
  uint64_t capacity = static_cast<uint64_t>(s.f_blocks) * s.f_frsize;
  uint64_t available = static_cast<uint64_t>(s.f_bavail) * s.f_frsize;
  return DiskUsage{capacity - std::min(available, capacity), capacity};
}

ImageGc::ImageGc(runtime::ImageStore& images, ImageGcPolicy policy, std::function<Result<DiskUsage>()> usage,
                 std::function<std::set<std::string>()> in_use, const Clock& clock,
                 std::function<void(const std::string&)> on_failure)
    : images_(images),
      policy_(policy),
      usage_(std::move(usage)),
      in_use_(std::move(in_use)),
      clock_(clock),
      on_failure_(std::move(on_failure)) {}

ImageGc::~ImageGc() { stop(); }

Result<ImageGcResult> ImageGc::collect() {
  const WallTime now = clock_.now();
  const auto images = images_.list();
  const auto in_use = in_use_();
  // Bookkeeping first, as kubelet's detectImages: every pass, whatever the disk.
  std::set<std::string> present;
  for (const auto& img : images) {
    present.insert(img.manifest_digest);
    first_seen_.emplace(img.manifest_digest, now);
    if (in_use.count(img.manifest_digest)) last_used_[img.manifest_digest] = now;
  }
  std::erase_if(first_seen_, [&](const auto& e) { return !present.count(e.first); });
  std::erase_if(last_used_, [&](const auto& e) { return !present.count(e.first); });

  ImageGcResult result;
  if (policy_.high_threshold_percent >= 100) return result;
  auto usage = usage_();
  if (!usage) return usage.status();
  if (percentUsed(*usage) < policy_.high_threshold_percent) return result;

  std::vector<const runtime::Image*> candidates;
  for (const auto& img : images)
    if (!in_use.count(img.manifest_digest) && now - first_seen_[img.manifest_digest] >= policy_.min_age)
      candidates.push_back(&img);
  auto last = [&](const runtime::Image* i) {
    auto it = last_used_.find(i->manifest_digest);
    return it == last_used_.end() ? first_seen_[i->manifest_digest] : it->second;
  };
  std::stable_sort(candidates.begin(), candidates.end(),
                   [&](const auto* a, const auto* b) { return last(a) < last(b); });
  for (const auto* img : candidates) {
    if (percentUsed(*usage) < policy_.low_threshold_percent) break;
    Status st = Status::ok();
    for (const auto& name : img->names.empty() ? std::vector<std::string>{img->manifest_digest} : img->names)
      if (Status s = images_.remove(name); !s && st) st = s;
    if (!st) {
      LOG_WARN("image gc: remove failed", "image", img->manifest_digest, "error", st.message());
      continue;
    }
    LOG_INFO("image gc: removed", "image", img->names.empty() ? img->manifest_digest : img->names[0],
             "bytes", img->size);
    result.removed.push_back(img->manifest_digest);
    auto again = usage_();
    if (!again) return again.status();
    usage = again;
  }
  result.enough = percentUsed(*usage) < policy_.low_threshold_percent;
  if (!result.enough && on_failure_)
    on_failure_(fmt::format("Failed to garbage collect required amount of images: the image filesystem is {}% used "
                            "(low threshold {}%) and no unused image is left to remove",
                            percentUsed(*usage), policy_.low_threshold_percent));
  return result;
}

void ImageGc::start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      if (auto r = collect(); !r) LOG_WARN("image gc failed", "error", r.status().message());
      lock.lock();
      cv_.wait_for(lock, policy_.period, [this] { return stopping_; });
    }
  });
}

void ImageGc::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace capstan::agent
