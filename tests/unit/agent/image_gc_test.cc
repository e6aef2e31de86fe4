// Image garbage collection's choices, against a store that records removals
// and a disk whose usage falls as images go.
#include "agent/image_gc.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace capstan::agent {
namespace {

using namespace std::chrono_literals;

class ManualClock final : public Clock {
 public:
  WallTime now() const override { return now_; }
  std::chrono::steady_clock::time_point monotonic() const override { return {}; }
  void advance(std::chrono::milliseconds d) { now_ += d; }

 private:
  WallTime now_ = std::chrono::system_clock::now();
};

// Each image takes 10 % of a 1,000-byte disk; removing its last name frees it.
class FakeImages final : public runtime::ImageStore {
 public:
  void add(const std::string& digest, std::vector<std::string> names) {
    runtime::Image img;
    img.manifest_digest = digest;
    img.names = std::move(names);
    images_.push_back(img);
  }
  Result<std::vector<runtime::Image>> importArchive(const std::string&, std::optional<std::string>) override {
    return Status(Code::kInternal, "unused");
  }
  Result<runtime::Image> pull(std::string_view, const runtime::PullOptions&) override {
    return Status(Code::kInternal, "unused");
  }
  Result<runtime::Image> resolve(std::string_view) const override { return Status(Code::kNotFound, "unused"); }
  std::vector<runtime::Image> list() const override { return images_; }
  Status remove(std::string_view name) override {
    for (auto it = images_.begin(); it != images_.end(); ++it) {
      auto n = std::find(it->names.begin(), it->names.end(), name);
      if (n == it->names.end()) continue;
      it->names.erase(n);
      if (it->names.empty()) {
        removed.push_back(it->manifest_digest);
        images_.erase(it);
      }
      return Status::ok();
    }
    return Status(Code::kNotFound, "no image " + std::string(name));
  }
  uint64_t used() const { return base + images_.size() * 100; }

  uint64_t base = 0;
  std::vector<std::string> removed;

 private:
  std::vector<runtime::Image> images_;
};

struct Fixture {
  FakeImages images;
  ManualClock clock;
  std::set<std::string> in_use;
  std::vector<std::string> failures;
  ImageGc gc{images,
             ImageGcPolicy{.high_threshold_percent = 85, .low_threshold_percent = 60, .min_age = 2min},
             [this]() -> Result<DiskUsage> { return DiskUsage{images.used(), 1000}; },
             [this] { return in_use; },
             clock,
             [this](const std::string& m) { failures.push_back(m); }};
};

TEST(ImageGcTest, NothingHappensBelowTheHighThreshold) {
  Fixture f;
  for (int i = 0; i < 8; ++i) f.images.add("sha256:" + std::to_string(i), {"img:" + std::to_string(i)});
  f.clock.advance(10min);
  ASSERT_TRUE(f.gc.collect());  // 80 % used < 85 %
  f.clock.advance(10min);
  auto r = f.gc.collect();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->removed.empty());
  EXPECT_TRUE(f.images.removed.empty());
}

TEST(ImageGcTest, RemovesUnusedLeastRecentlyUsedFirstDownToTheLowThreshold) {
  Fixture f;
  f.images.base = 100;
  f.images.add("sha256:old", {"old:1", "old:alias"});  // two names: both go
  f.images.add("sha256:busy", {"busy:1"});
  f.images.add("sha256:recent", {"recent:1"});
  f.images.add("sha256:mid", {"mid:1"});
  // Seen in use at different times: mid most recently, then recent.
  f.in_use = {"sha256:recent", "sha256:mid"};
  ASSERT_TRUE(f.gc.collect());
  f.clock.advance(1min);
  f.in_use = {"sha256:mid"};
  ASSERT_TRUE(f.gc.collect());
  f.clock.advance(1min);
  f.in_use = {"sha256:busy"};
  for (int i = 0; i < 5; ++i) f.images.add("sha256:new" + std::to_string(i), {"new:" + std::to_string(i)});
  // 100 + 9 images = 100 % used. Eligible: old (never used), recent, mid;
  // the new ones are younger than min_age and busy is in use.
  auto r = f.gc.collect();
  ASSERT_TRUE(r);
  EXPECT_EQ(f.images.removed, (std::vector<std::string>{"sha256:old", "sha256:recent", "sha256:mid"}));
  EXPECT_FALSE(r->enough);  // 70 % left, above the low threshold, nothing more allowed
  ASSERT_EQ(f.failures.size(), 1u);
  EXPECT_NE(f.failures[0].find("70% used"), std::string::npos) << f.failures[0];

  // 70 % is below the high threshold: nothing to do, however old the images.
  f.clock.advance(3min);
  r = f.gc.collect();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->removed.empty());
  // Something else fills the disk to 90 %: the new ones (now old enough) go
  // until it is below 60 %.
  f.images.base = 300;
  r = f.gc.collect();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->enough);
  EXPECT_EQ(r->removed.size(), 4u);
  EXPECT_EQ(f.images.used(), 500u);
}

TEST(ImageGcTest, OneHundredPercentTurnsItOff) {
  FakeImages images;
  ManualClock clock;
  for (int i = 0; i < 10; ++i) images.add("sha256:" + std::to_string(i), {"img:" + std::to_string(i)});
  ImageGc gc(images, ImageGcPolicy{.high_threshold_percent = 100, .min_age = 0s},
             [&]() -> Result<DiskUsage> { return DiskUsage{1000, 1000}; }, [] { return std::set<std::string>{}; },
             clock);
  ASSERT_TRUE(gc.collect());
  EXPECT_TRUE(images.removed.empty());
}

TEST(ImageGcTest, DiskUsageOfARealFilesystem) {
  auto u = diskUsage("/");
  ASSERT_TRUE(u) << u.status().message();
  EXPECT_GT(u->capacity, 0u);
  EXPECT_LE(u->used, u->capacity);
  EXPECT_FALSE(diskUsage("/no/such/dir"));
}

}  // namespace
}  // namespace capstan::agent
