// One conformance suite that every Store backend must pass.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "store/memory/memory_store.h"
#include "store/sqlite/sqlite_store.h"

namespace capstan::store {
namespace {

struct Backend {
  std::string name;
  std::function<std::unique_ptr<Store>(const std::string& dir)> make;
};

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("capstan-store-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    store_ = GetParam().make(dir_);
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  TxnResult put(const std::string& k, const std::string& v, int64_t expect_mod = -1) {
    Txn t;
    if (expect_mod >= 0) t.compares.push_back({k, expect_mod});
    t.ops.push_back({Op::Type::kPut, k, v});
    auto r = store_->txnSync(std::move(t));
    EXPECT_TRUE(r.isOk());
    return *r;
  }
  TxnResult del(const std::string& k) {
    Txn t;
    t.ops.push_back({Op::Type::kDelete, k, ""});
    auto r = store_->txnSync(std::move(t));
    EXPECT_TRUE(r.isOk());
    return *r;
  }
  std::vector<KeyValue> rangePrefix(const std::string& p, int64_t rev = 0, int64_t limit = 0) {
    auto r = store_->range({p, prefixEnd(p), rev, limit});
    EXPECT_TRUE(r.isOk());
    return r.isOk() ? r->kvs : std::vector<KeyValue>{};
  }

  static inline int counter_ = 0;
  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreConformance, PutAssignsIncreasingRevisions) {
  auto a = put("/a", "1");
  auto b = put("/b", "2");
  EXPECT_TRUE(a.succeeded);
  EXPECT_EQ(a.revision + 1, b.revision);
  EXPECT_EQ(store_->currentRevision(), b.revision);
  auto a2 = put("/a", "3");
  ASSERT_EQ(a2.kvs.size(), 1u);
  EXPECT_EQ(a2.kvs[0].create_revision, a.revision);
  EXPECT_EQ(a2.kvs[0].mod_revision, a2.revision);
}

TEST_P(StoreConformance, CompareAndSwapOnModRevision) {
  auto created = put("/k", "v1", 0);  // create only if absent
  ASSERT_TRUE(created.succeeded);
  auto again = put("/k", "v2", 0);
  EXPECT_FALSE(again.succeeded);
  ASSERT_EQ(again.kvs.size(), 1u);
  EXPECT_EQ(again.kvs[0].value, "v1");
  EXPECT_EQ(again.kvs[0].mod_revision, created.revision);
  auto stale = put("/k", "v3", created.revision + 100);
  EXPECT_FALSE(stale.succeeded);
  auto fresh = put("/k", "v3", created.revision);
  EXPECT_TRUE(fresh.succeeded);
  auto kvs = rangePrefix("/k");
  ASSERT_EQ(kvs.size(), 1u);
  EXPECT_EQ(kvs[0].value, "v3");
}

TEST_P(StoreConformance, RangeWithLimitAndOldRevision) {
  put("/p/a", "1");
  auto r2 = put("/p/b", "2");
  put("/p/c", "3");
  put("/q/x", "x");
  auto all = rangePrefix("/p/");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].key, "/p/a");
  EXPECT_EQ(all[2].key, "/p/c");
  auto lim = store_->range({"/p/", prefixEnd("/p/"), 0, 2});
  ASSERT_TRUE(lim.isOk());
  EXPECT_EQ(lim->kvs.size(), 2u);
  EXPECT_TRUE(lim->more);
  auto old = rangePrefix("/p/", r2.revision);
  EXPECT_EQ(old.size(), 2u);
  del("/p/a");
  EXPECT_EQ(rangePrefix("/p/").size(), 2u);
  EXPECT_EQ(rangePrefix("/p/", r2.revision).size(), 2u);
  auto single = store_->range({"/p/b", "", 0, 0});
  ASSERT_TRUE(single.isOk());
  ASSERT_EQ(single->kvs.size(), 1u);
  EXPECT_EQ(single->kvs[0].value, "2");
}

TEST_P(StoreConformance, DeleteOfAbsentKeyWritesNothing) {
  put("/a", "1");
  int64_t before = store_->currentRevision();
  auto d = del("/nope");
  EXPECT_TRUE(d.succeeded);
  EXPECT_EQ(store_->currentRevision(), before);
}

TEST_P(StoreConformance, WatchDeliversLiveEventsInOrder) {
  std::mutex mu;
  std::vector<Event> seen;
  auto w = store_->watch("/w/", 0, [&](const std::vector<Event>& evs) {
    std::lock_guard l(mu);
    seen.insert(seen.end(), evs.begin(), evs.end());
  });
  ASSERT_TRUE(w.isOk());
  put("/w/a", "1");
  put("/other", "x");
  put("/w/a", "2");
  del("/w/a");
  std::lock_guard l(mu);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].type, EventType::kPut);
  EXPECT_TRUE(seen[0].is_create);
  EXPECT_FALSE(seen[1].is_create);
  EXPECT_EQ(seen[1].kv.value, "2");
  EXPECT_EQ(seen[2].type, EventType::kDelete);
  EXPECT_EQ(seen[2].kv.value, "2");  // a delete carries the last value
  EXPECT_LT(seen[0].kv.mod_revision, seen[1].kv.mod_revision);
  EXPECT_LT(seen[1].kv.mod_revision, seen[2].kv.mod_revision);
}

TEST_P(StoreConformance, WatchResumesFromRevisionExactlyOnce) {
  auto r1 = put("/w/a", "1");
  auto r2 = put("/w/b", "2");
  put("/w/a", "3");
  std::mutex mu;
  std::vector<int64_t> revs;
  auto w = store_->watch("/w/", r2.revision, [&](const std::vector<Event>& evs) {
    std::lock_guard l(mu);
    for (auto& e : evs) revs.push_back(e.kv.mod_revision);
  });
  ASSERT_TRUE(w.isOk());
  auto r4 = put("/w/c", "4");
  std::lock_guard l(mu);
  ASSERT_EQ(revs.size(), 3u);
  EXPECT_EQ(revs[0], r2.revision);
  EXPECT_EQ(revs[2], r4.revision);
  (void)r1;
}

TEST_P(StoreConformance, APutsDecodedFormRidesOnItsLiveEventOnly) {
  auto decoded = std::make_shared<nlohmann::json>(nlohmann::json{{"v", 1}});
  Txn t;
  t.ops.push_back({Op::Type::kPut, "/d/a", R"({"v":1})", decoded});
  ASSERT_TRUE(store_->txnSync(std::move(t)).isOk());
  std::mutex mu;
  std::vector<Event> live;
  std::vector<Event> replayed;
  bool replaying = true;
  auto w = store_->watch("/d/", 1, [&](const std::vector<Event>& evs) {
    std::lock_guard l(mu);
    (replaying ? replayed : live).insert((replaying ? replayed : live).end(), evs.begin(), evs.end());
  });
  ASSERT_TRUE(w.isOk());
  {
    std::lock_guard l(mu);
    replaying = false;
  }
  Txn t2;
  t2.ops.push_back({Op::Type::kPut, "/d/a", R"({"v":1})", decoded});
  ASSERT_TRUE(store_->txnSync(std::move(t2)).isOk());
  del("/d/a");
  std::lock_guard l(mu);
  ASSERT_EQ(replayed.size(), 1u);
  EXPECT_EQ(replayed[0].decoded, nullptr) << "history keeps the bytes only";
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].decoded, decoded) << "the writer's object, not a copy";
  EXPECT_EQ(live[1].decoded, nullptr) << "a delete has none";
}

TEST_P(StoreConformance, CompactionMakesOldRevisionsGone) {
  auto r1 = put("/c/a", "1");
  auto r2 = put("/c/a", "2");
  put("/c/b", "x");
  del("/c/b");
  ASSERT_TRUE(store_->compact(r2.revision).isOk());
  EXPECT_EQ(store_->compactedRevision(), r2.revision);
  auto old = store_->range({"/c/", prefixEnd("/c/"), r1.revision, 0});
  EXPECT_FALSE(old.isOk());
  EXPECT_EQ(old.status().code(), Code::kGone);
  auto w = store_->watch("/c/", r1.revision, [](const std::vector<Event>&) {});
  EXPECT_FALSE(w.isOk());
  EXPECT_EQ(w.status().code(), Code::kGone);
  auto cur = rangePrefix("/c/");
  ASSERT_EQ(cur.size(), 1u);
  EXPECT_EQ(cur[0].value, "2");
  // Revisions keep increasing after compaction.
  auto r5 = put("/c/z", "z");
  EXPECT_GT(r5.revision, r2.revision);
}

TEST_P(StoreConformance, ConcurrentWritersAllSucceedWithDistinctRevisions) {
  constexpr int kThreads = 8, kPer = 50;
  std::vector<std::thread> ts;
  std::mutex mu;
  std::set<int64_t> revs;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        Txn tx;
        std::string k = "/cc/" + std::to_string(t) + "/" + std::to_string(i);
        tx.compares.push_back({k, 0});
        tx.ops.push_back({Op::Type::kPut, k, "v"});
        auto r = store_->txnSync(std::move(tx));
        ASSERT_TRUE(r.isOk());
        ASSERT_TRUE(r->succeeded);
        std::lock_guard l(mu);
        revs.insert(r->revision);
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(revs.size(), static_cast<size_t>(kThreads * kPer));
  EXPECT_EQ(rangePrefix("/cc/").size(), static_cast<size_t>(kThreads * kPer));
}

INSTANTIATE_TEST_SUITE_P(
    Backends, StoreConformance,
    ::testing::Values(Backend{"memory", [](const std::string&) -> std::unique_ptr<Store> {
                                return std::make_unique<MemoryStore>();
                              }},
                      Backend{"sqlite",
                              [](const std::string& dir) -> std::unique_ptr<Store> {
                                auto s = SqliteStore::open({dir + "/state.db"});
                                if (!s) return nullptr;
                                return std::move(*s);
                              }}),
    [](const auto& info) { return info.param.name; });

TEST(SqliteStore, DataSurvivesReopen) {
  auto dir = std::filesystem::temp_directory_path() / ("capstan-reopen-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  int64_t rev = 0;
  {
    auto s = SqliteStore::open({(dir / "db").string()});
    ASSERT_TRUE(s.isOk());
    Txn t;
    t.ops.push_back({Op::Type::kPut, "/x", "durable"});
    auto r = (*s)->txnSync(std::move(t));
    ASSERT_TRUE(r.isOk());
    rev = r->revision;
    Txn d;
    d.ops.push_back({Op::Type::kPut, "/y", "1"});
    ASSERT_TRUE((*s)->txnSync(std::move(d)).isOk());
    Txn d2;
    d2.ops.push_back({Op::Type::kDelete, "/y", ""});
    ASSERT_TRUE((*s)->txnSync(std::move(d2)).isOk());
    ASSERT_TRUE((*s)->compact((*s)->currentRevision()).isOk());
  }
  auto s = SqliteStore::open({(dir / "db").string()});
  ASSERT_TRUE(s.isOk());
  EXPECT_EQ((*s)->currentRevision(), rev + 2);  // revisions never go back, even after compaction
  auto r = (*s)->range({"/x", "", 0, 0});
  ASSERT_TRUE(r.isOk());
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0].value, "durable");
  s->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace capstan::store
