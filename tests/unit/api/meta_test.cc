#include "api/meta.h"

#include <gtest/gtest.h>

#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace capstan::api {
namespace {

// UIDs are version-4 UUIDs, distinct across many calls on several threads
// (each thread draws its bytes from a pool of its own).
TEST(MetaTest, NewUidsAreDistinctVersion4Uuids) {
  const std::regex v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::mutex mu;
  std::set<std::string> seen;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      std::vector<std::string> mine;
      for (int i = 0; i < 2000; ++i) mine.push_back(newUid());  // several pool refills
      std::lock_guard lock(mu);
      seen.insert(mine.begin(), mine.end());
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen.size(), 8000u);
  for (const auto& uid : seen) ASSERT_TRUE(std::regex_match(uid, v4)) << uid;
}

TEST(MetaTest, NameSuffixesUseKubernetesAlphabet) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::string s = randomNameSuffix();
    ASSERT_EQ(s.size(), 5u);
    EXPECT_EQ(s.find_first_not_of("bcdfghjklmnpqrstvwxz2456789"), std::string::npos) << s;
    seen.insert(s);
  }
  EXPECT_GT(seen.size(), 190u);  // 27^5 names: repeats in 200 draws are rare
}

}  // namespace
}  // namespace capstan::api
