#pragma once
// Image garbage collection, as kubelet's image manager does it: when the
// filesystem that holds the image store is more than high_threshold_percent
// used, images no container on the node was made from are removed, least
// recently used first, until it is below low_threshold_percent (usage is
// measured again after each removal). Images first seen less than min_age
// ago stay: a pod may be about to start from them. 100 % turns it off.
//
// Runs every `period` on its own thread once started; collect() runs one
// pass (for tests). Threading: collect() is not reentrant; start/stop from
// one thread.

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/runtime/image_store.h"
#include "common/clock.h"

namespace capstan::agent {

struct ImageGcPolicy {
  int high_threshold_percent = 85;  // kubelet's --image-gc-high-threshold
  int low_threshold_percent = 80;   // kubelet's --image-gc-low-threshold
  std::chrono::milliseconds min_age{std::chrono::minutes(2)};
  std::chrono::milliseconds period{std::chrono::minutes(5)};
};

struct DiskUsage {
  uint64_t used = 0;
  uint64_t capacity = 0;
};
// statvfs of the filesystem holding `path`.
Result<DiskUsage> diskUsage(const std::string& path);

struct ImageGcResult {
  std::vector<std::string> removed;  // image ids (manifest digests)
  bool enough = true;                // false: still above the low threshold
};

class ImageGc {
 public:
  // in_use: the manifest digests of the images the node's containers (any
  // state, until removed) were made from. on_failure: told when a pass
  // could not get below the threshold (kubelet's FreeDiskSpaceFailed).
  ImageGc(runtime::ImageStore& images, ImageGcPolicy policy, std::function<Result<DiskUsage>()> usage,
          std::function<std::set<std::string>()> in_use, const Clock& clock,
          std::function<void(const std::string& message)> on_failure = {});
  ~ImageGc();

  Result<ImageGcResult> collect();
  void start();
  void stop();

 private:
  runtime::ImageStore& images_;
  ImageGcPolicy policy_;
  std::function<Result<DiskUsage>()> usage_;
  std::function<std::set<std::string>()> in_use_;
  const Clock& clock_;
  std::function<void(const std::string&)> on_failure_;
  std::map<std::string, WallTime> first_seen_;  // by manifest digest
  std::map<std::string, WallTime> last_used_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace capstan::agent
