// The watch cache over the in-memory store: reads after writes, resource
// versions, watch replay from a revision (kube-apiserver's cacher
// semantics: events after the given resourceVersion, each once, in order;
// 410 Expired once they have left the window).
#include "apiserver/object_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store/memory/memory_store.h"

namespace capstan::apiserver {
namespace {

using store::MemoryStore;
using store::Op;
using store::Txn;

const std::string kPrefix = "/registry/";
const std::string kPods = "/registry/core/pods/";

std::string pod(const std::string& name, int generation) {
  return Json{{"kind", "Pod"}, {"metadata", {{"name", name}}}, {"spec", {{"generation", generation}}}}.dump();
}

// Records every event a watch delivers. Callbacks run on the writer's
// thread (or the caller of watch() for the replay).
class Recorder {
 public:
  ObjectCache::Callback callback() {
    return [this](const std::vector<CacheEvent>& evs) {
      std::lock_guard lock(mu_);
      events_.insert(events_.end(), evs.begin(), evs.end());
    };
  }
  std::vector<CacheEvent> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  // One line per event: "TYPE key @revision rv=RV prev=PREV_RV".
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    for (const auto& e : events()) {
      const char* type = e.type == CacheEvent::Type::kAdded      ? "ADDED"
                         : e.type == CacheEvent::Type::kModified ? "MODIFIED"
                                                                 : "DELETED";
      std::string rv = e.obj ? e.obj->obj["metadata"].value("resourceVersion", "?") : "null";
      std::string prev = e.prev ? e.prev->obj["metadata"].value("resourceVersion", "?") : "-";
      out.push_back(std::string(type) + " " + (e.obj ? e.obj->key : "?") + " @" + std::to_string(e.revision) +
                    " rv=" + rv + " prev=" + prev);
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<CacheEvent> events_;
};

class ObjectCacheTest : public ::testing::Test {
 protected:
  int64_t put(const std::string& key, const std::string& value) {
    Txn t;
    t.ops.push_back({Op::Type::kPut, key, value});
    auto r = store_.txnSync(std::move(t));
    EXPECT_TRUE(r.isOk() && r->succeeded);
    return r.isOk() ? r->revision : 0;
  }
  int64_t del(const std::string& key) {
    Txn t;
    t.ops.push_back({Op::Type::kDelete, key, ""});
    auto r = store_.txnSync(std::move(t));
    EXPECT_TRUE(r.isOk() && r->succeeded);
    return r.isOk() ? r->revision : 0;
  }
  int64_t putAll(const std::vector<std::pair<std::string, std::string>>& kvs) {
    Txn t;
    for (const auto& [k, v] : kvs) t.ops.push_back({Op::Type::kPut, k, v});
    auto r = store_.txnSync(std::move(t));
    EXPECT_TRUE(r.isOk() && r->succeeded);
    return r.isOk() ? r->revision : 0;
  }
  std::unique_ptr<ObjectCache> start(size_t window) {
    auto c = ObjectCache::start(store_, kPrefix, window);
    EXPECT_TRUE(c.isOk()) << c.status().message();
    return c.isOk() ? std::move(*c) : nullptr;
  }
  static std::string rv(const ObjectPtr& o) { return o->obj["metadata"].value("resourceVersion", ""); }
  static std::vector<std::string> keys(const std::vector<ObjectPtr>& objs) {
    std::vector<std::string> out;
    for (const auto& o : objs) out.push_back(o->key);
    return out;
  }

  MemoryStore store_;
};

// ---------------------------------------------------------------------------
// get / list

TEST_F(ObjectCacheTest, WriteIsVisibleWhenTxnReturns) {
  auto cache = start(100);
  ASSERT_TRUE(cache);
  EXPECT_EQ(cache->get(kPods + "ns/a"), nullptr);
  int64_t rev = put(kPods + "ns/a", pod("a", 1));
  ObjectPtr o = cache->get(kPods + "ns/a");
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->obj["spec"]["generation"], 1);
  EXPECT_EQ(cache->revision(), rev);
  EXPECT_EQ(cache->size(), 1u);
}

TEST_F(ObjectCacheTest, ResourceVersionIsModRevision) {
  auto cache = start(100);
  ASSERT_TRUE(cache);
  int64_t created = put(kPods + "ns/a", pod("a", 1));
  put(kPods + "ns/other", pod("other", 1));
  int64_t modified = put(kPods + "ns/a", pod("a", 2));
  ObjectPtr o = cache->get(kPods + "ns/a");
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(rv(o), std::to_string(modified));
  EXPECT_EQ(o->mod_revision, modified);
  EXPECT_EQ(o->create_revision, created);
  EXPECT_EQ(o->key, kPods + "ns/a");
  EXPECT_EQ(o->obj["spec"]["generation"], 2);
  // The serialized form is the parsed object, resourceVersion included.
  auto reparsed = parseJson(o->json);
  ASSERT_TRUE(reparsed.isOk());
  EXPECT_EQ(*reparsed, o->obj);
}

// The served text is the stored text with resourceVersion spliced into the
// top-level metadata, whatever comes before it (strings that say
// "metadata", nested objects with such a key, escapes), and a dump of the
// object when the stored text already has a version or no metadata object.
TEST(ObjectCacheTextTest, ServedTextIsTheStoredTextWithItsResourceVersion) {
  auto served = [](const std::string& stored) {
    store::KeyValue kv{.key = "/registry/x/ns/a", .value = stored, .create_revision = 3, .mod_revision = 7};
    auto o = ObjectCache::decode(kv, 7);
    EXPECT_TRUE(o.isOk()) << stored;
    auto reparsed = parseJson((*o)->json);
    EXPECT_TRUE(reparsed.isOk()) << (*o)->json;
    EXPECT_EQ(*reparsed, (*o)->obj) << (*o)->json;
    EXPECT_EQ((*o)->obj["metadata"]["resourceVersion"], "7");
    return (*o)->json;
  };
  EXPECT_EQ(served(R"({"kind":"Pod","metadata":{"name":"a"},"spec":{}})"),
            R"({"kind":"Pod","metadata":{"resourceVersion":"7","name":"a"},"spec":{}})");
  EXPECT_EQ(served(R"({"metadata":{}})"), R"({"metadata":{"resourceVersion":"7"}})");
  EXPECT_EQ(served(R"({"a":{"metadata":{"x":1}},"b":["metadata",{"metadata":{}}],"c":"m\"etadata\\","kind":"metadata",)"
                   R"("metadata":{"name":"a"}})"),
            R"({"a":{"metadata":{"x":1}},"b":["metadata",{"metadata":{}}],"c":"m\"etadata\\","kind":"metadata",)"
            R"("metadata":{"resourceVersion":"7","name":"a"}})");
  EXPECT_EQ(served(R"( { "metadata" : { "name" : "a" } } )"),
            R"( { "metadata" : {"resourceVersion":"7", "name" : "a" } } )");
  // Already versioned, or no metadata object: the object's own dump.
  EXPECT_EQ(served(R"({"metadata":{"name":"a","resourceVersion":"2"}})"),
            R"({"metadata":{"name":"a","resourceVersion":"7"}})");
  EXPECT_EQ(served(R"({"kind":"Pod"})"), R"({"kind":"Pod","metadata":{"resourceVersion":"7"}})");
}

TEST_F(ObjectCacheTest, CachedObjectsAreSnapshots) {
  auto cache = start(100);
  ASSERT_TRUE(cache);
  put(kPods + "ns/a", pod("a", 1));
  ObjectPtr before = cache->get(kPods + "ns/a");
  put(kPods + "ns/a", pod("a", 2));
  EXPECT_EQ(before->obj["spec"]["generation"], 1);
  EXPECT_EQ(cache->get(kPods + "ns/a")->obj["spec"]["generation"], 2);
}

TEST_F(ObjectCacheTest, DeleteRemovesObject) {
  auto cache = start(100);
  ASSERT_TRUE(cache);
  put(kPods + "ns/a", pod("a", 1));
  put(kPods + "ns/b", pod("b", 1));
  int64_t rev = del(kPods + "ns/a");
  EXPECT_EQ(cache->get(kPods + "ns/a"), nullptr);
  int64_t list_rev = 0;
  EXPECT_EQ(keys(cache->list(kPods, &list_rev)), std::vector<std::string>{kPods + "ns/b"});
  EXPECT_EQ(list_rev, rev);
}

// A writer's decoded object rides on its put (store::Op::decoded): taken
// when the cache is its only holder, copied when not, and the bytes parsed
// when it is not an object (another watcher took it first).
TEST_F(ObjectCacheTest, PutsDecodedObjectIsTakenOnlyWhenNobodyElseHoldsIt) {
  auto cache = start(100);
  ASSERT_TRUE(cache);
  auto putDecoded = [&](const std::string& key, std::shared_ptr<Json> decoded) {
    Txn t;
    std::string bytes = decoded->is_object() ? decoded->dump() : pod("bytes", 7);
    t.ops.push_back({Op::Type::kPut, key, bytes, std::move(decoded)});
    auto r = store_.txnSync(std::move(t));
    EXPECT_TRUE(r.isOk() && r->succeeded);
    return r.isOk() ? r->revision : 0;
  };
  int64_t rev = putDecoded(kPods + "ns/a", std::make_shared<Json>(*parseJson(pod("a", 1))));
  ObjectPtr a = cache->get(kPods + "ns/a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->obj["spec"]["generation"], 1);
  EXPECT_EQ(rv(a), std::to_string(rev));
  EXPECT_EQ(*parseJson(a->json), a->obj);

  auto kept = std::make_shared<Json>(*parseJson(pod("b", 2)));
  putDecoded(kPods + "ns/b", kept);
  EXPECT_EQ(cache->get(kPods + "ns/b")->obj["spec"]["generation"], 2);
  EXPECT_EQ((*kept)["spec"]["generation"], 2) << "still held by the writer: copied, not taken";
  EXPECT_FALSE((*kept)["metadata"].contains("resourceVersion"));

  putDecoded(kPods + "ns/c", std::make_shared<Json>());  // taken already: null
  EXPECT_EQ(cache->get(kPods + "ns/c")->obj["spec"]["generation"], 7) << "parsed from the bytes";
}

TEST_F(ObjectCacheTest, ListIsInKeyOrderUnderPrefixOnly) {
  auto cache = start(100);
  ASSERT_TRUE(cache);
  for (const char* k : {"ns1/c", "ns10/a", "ns1/a", "ns2/z", "ns1/b"}) put(kPods + k, pod(k, 1));
  put("/registry/core/services/ns1/a", pod("svc", 1));
  put("/registry/core/podtemplates/ns1/a", pod("tmpl", 1));
  put("/other/ns1/a", pod("outside", 1));

  int64_t rev = 0;
  EXPECT_EQ(keys(cache->list(kPods + "ns1/", &rev)),
            (std::vector<std::string>{kPods + "ns1/a", kPods + "ns1/b", kPods + "ns1/c"}));
  EXPECT_EQ(rev, cache->revision());
  EXPECT_EQ(keys(cache->list(kPods, nullptr)),
            (std::vector<std::string>{kPods + "ns1/a", kPods + "ns1/b", kPods + "ns1/c", kPods + "ns10/a",
                                      kPods + "ns2/z"}));
  EXPECT_EQ(cache->list("/registry/core/services/", nullptr).size(), 1u);
  EXPECT_TRUE(cache->list(kPods + "ns3/", nullptr).empty());
  // Keys outside the cache's prefix are never cached.
  EXPECT_EQ(cache->get("/other/ns1/a"), nullptr);
  EXPECT_EQ(cache->size(), 7u);
}

TEST_F(ObjectCacheTest, StartLoadsExistingObjects) {
  put(kPods + "ns/a", pod("a", 1));
  put(kPods + "ns/b", pod("b", 1));
  int64_t rev_a = put(kPods + "ns/a", pod("a", 2));
  del(kPods + "ns/b");
  auto cache = start(100);
  ASSERT_TRUE(cache);
  EXPECT_EQ(keys(cache->list(kPods, nullptr)), std::vector<std::string>{kPods + "ns/a"});
  EXPECT_EQ(rv(cache->get(kPods + "ns/a")), std::to_string(rev_a));
  EXPECT_EQ(cache->revision(), store_.currentRevision());
}

TEST_F(ObjectCacheTest, UndecodableValueIsSkipped) {
  auto cache = start(100);
  ASSERT_TRUE(cache);
  put(kPods + "ns/bad", "{not json");
  int64_t rev = put(kPods + "ns/good", pod("good", 1));
  EXPECT_EQ(cache->get(kPods + "ns/bad"), nullptr);
  ASSERT_NE(cache->get(kPods + "ns/good"), nullptr);
  EXPECT_EQ(cache->revision(), rev);
}

// ---------------------------------------------------------------------------
// watch

TEST_F(ObjectCacheTest, WatchReplaysLaterEventsOnceInOrderThenFollows) {
  auto cache = start(100);
  ASSERT_TRUE(cache);
  put(kPods + "ns/a", pod("a", 1));                                        // 1
  put(kPods + "ns/b", pod("b", 1));                                        // 2
  put(kPods + "ns/a", pod("a", 2));                                        // 3
  putAll({{kPods + "ns/c", pod("c", 1)}, {kPods + "ns/b", pod("b", 2)}});  // 4
  del(kPods + "ns/a");                                                     // 5

  Recorder rec;
  auto w = cache->watch(kPods, 2, rec.callback());
  ASSERT_TRUE(w.isOk()) << w.status().message();
  put(kPods + "ns/d", pod("d", 1));  // 6
  del(kPods + "ns/c");               // 7

  EXPECT_EQ(rec.lines(), (std::vector<std::string>{
                             "MODIFIED /registry/core/pods/ns/a @3 rv=3 prev=1",
                             "ADDED /registry/core/pods/ns/c @4 rv=4 prev=-",
                             "MODIFIED /registry/core/pods/ns/b @4 rv=4 prev=2",
                             "DELETED /registry/core/pods/ns/a @5 rv=5 prev=3",
                             "ADDED /registry/core/pods/ns/d @6 rv=6 prev=-",
                             "DELETED /registry/core/pods/ns/c @7 rv=7 prev=4",
                         }));
}

TEST_F(ObjectCacheTest, WatchEventObjects) {
  auto cache = start(100);
  ASSERT_TRUE(cache);
  Recorder rec;
  auto w = cache->watch(kPods, cache->revision(), rec.callback());
  ASSERT_TRUE(w.isOk());
  put(kPods + "ns/a", pod("a", 1));
  put(kPods + "ns/a", pod("a", 2));
  int64_t deleted_at = del(kPods + "ns/a");

  auto evs = rec.events();
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(evs[0].type, CacheEvent::Type::kAdded);
  EXPECT_EQ(evs[0].prev, nullptr);
  EXPECT_EQ(evs[0].obj->obj["spec"]["generation"], 1);

  EXPECT_EQ(evs[1].type, CacheEvent::Type::kModified);
  ASSERT_NE(evs[1].prev, nullptr);
  EXPECT_EQ(evs[1].prev->obj["spec"]["generation"], 1);
  EXPECT_EQ(evs[1].obj->obj["spec"]["generation"], 2);

  // DELETED carries the last state, at the delete's revision.
  EXPECT_EQ(evs[2].type, CacheEvent::Type::kDeleted);
  EXPECT_EQ(evs[2].revision, deleted_at);
  EXPECT_EQ(rv(evs[2].obj), std::to_string(deleted_at));
  EXPECT_EQ(evs[2].obj->obj["spec"]["generation"], 2);
  EXPECT_EQ(evs[2].obj->obj["metadata"]["name"], "a");
  ASSERT_NE(evs[2].prev, nullptr);
  EXPECT_EQ(rv(evs[2].prev), std::to_string(deleted_at - 1));
}

TEST_F(ObjectCacheTest, WatchSeesOnlyItsPrefix) {
  auto cache = start(100);
  ASSERT_TRUE(cache);
  Recorder ns1, all;
  auto w1 = cache->watch(kPods + "ns1/", cache->revision(), ns1.callback());
  auto w2 = cache->watch(kPods, cache->revision(), all.callback());
  ASSERT_TRUE(w1.isOk() && w2.isOk());
  put(kPods + "ns1/a", pod("a", 1));
  put(kPods + "ns10/a", pod("a", 1));
  put("/registry/core/services/ns1/a", pod("s", 1));
  put(kPods + "ns1/b", pod("b", 1));
  EXPECT_EQ(ns1.lines(), (std::vector<std::string>{"ADDED /registry/core/pods/ns1/a @1 rv=1 prev=-",
                                                   "ADDED /registry/core/pods/ns1/b @4 rv=4 prev=-"}));
  EXPECT_EQ(all.events().size(), 3u);
}

TEST_F(ObjectCacheTest, WatchFromCurrentRevisionReplaysNothing) {
  auto cache = start(100);
  ASSERT_TRUE(cache);
  put(kPods + "ns/a", pod("a", 1));
  put(kPods + "ns/b", pod("b", 1));
  Recorder rec;
  auto w = cache->watch(kPods, cache->revision(), rec.callback());
  ASSERT_TRUE(w.isOk());
  EXPECT_TRUE(rec.events().empty());
  put(kPods + "ns/c", pod("c", 1));
  EXPECT_EQ(rec.lines(), std::vector<std::string>{"ADDED /registry/core/pods/ns/c @3 rv=3 prev=-"});
}

TEST_F(ObjectCacheTest, DestroyedWatchGetsNothingMore) {
  auto cache = start(100);
  ASSERT_TRUE(cache);
  Recorder rec;
  {
    auto w = cache->watch(kPods, 0, rec.callback());
    ASSERT_TRUE(w.isOk());
    put(kPods + "ns/a", pod("a", 1));
  }
  put(kPods + "ns/b", pod("b", 1));
  EXPECT_EQ(rec.events().size(), 1u);
}

TEST_F(ObjectCacheTest, WatchOlderThanWindowIsExpired) {
  auto cache = start(3);
  ASSERT_TRUE(cache);
  for (int i = 1; i <= 8; ++i) put(kPods + "ns/p" + std::to_string(i % 3), pod("p", i));
  // The window holds revisions 6..8: a watch after 5 is whole, after 4 is not.
  Recorder rec;
  auto ok = cache->watch(kPods, 5, rec.callback());
  ASSERT_TRUE(ok.isOk()) << ok.status().message();
  ASSERT_EQ(rec.events().size(), 3u);
  EXPECT_EQ(rec.events().front().revision, 6);

  for (int64_t after : {int64_t{4}, int64_t{1}, int64_t{0}}) {
    Recorder none;
    auto gone = cache->watch(kPods, after, none.callback());
    ASSERT_FALSE(gone.isOk()) << "after " << after;
    EXPECT_EQ(gone.status().code(), Code::kGone);
    EXPECT_EQ(gone.status().reason_override, "Expired");
    EXPECT_TRUE(none.events().empty());
  }
}

TEST_F(ObjectCacheTest, WindowKeepsWholeRevisions) {
  auto cache = start(2);
  ASSERT_TRUE(cache);
  put(kPods + "ns/x", pod("x", 1));  // 1
  // Three events in one revision do not fit a window of two: the whole
  // revision leaves, never part of it.
  putAll({{kPods + "ns/a", pod("a", 1)}, {kPods + "ns/b", pod("b", 1)}, {kPods + "ns/c", pod("c", 1)}});  // 2
  Recorder rec;
  auto w = cache->watch(kPods, 1, rec.callback());
  if (w.isOk()) {
    EXPECT_EQ(rec.events().size(), 3u) << "a revision's events are replayed together or not at all";
  } else {
    EXPECT_EQ(w.status().code(), Code::kGone);
  }
  Recorder after2;
  EXPECT_TRUE(cache->watch(kPods, 2, after2.callback()).isOk());
}

// A cache started on a store with history loads the state a window back and
// replays the rest, so clients can resume watches across a restart.
TEST_F(ObjectCacheTest, WindowIsPrefilledFromHistory) {
  put(kPods + "ns/a", pod("a", 1));  // 1
  put(kPods + "ns/b", pod("b", 1));  // 2
  put(kPods + "ns/c", pod("c", 1));  // 3
  put(kPods + "ns/d", pod("d", 1));  // 4
  put(kPods + "ns/e", pod("e", 1));  // 5
  put(kPods + "ns/f", pod("f", 1));  // 6
  put(kPods + "ns/a", pod("a", 2));  // 7
  del(kPods + "ns/b");               // 8
  put(kPods + "ns/g", pod("g", 1));  // 9
  put(kPods + "ns/c", pod("c", 2));  // 10

  auto cache = start(4);
  ASSERT_TRUE(cache);
  EXPECT_EQ(cache->revision(), 10);
  EXPECT_EQ(keys(cache->list(kPods, nullptr)),
            (std::vector<std::string>{kPods + "ns/a", kPods + "ns/c", kPods + "ns/d", kPods + "ns/e",
                                      kPods + "ns/f", kPods + "ns/g"}));
  EXPECT_EQ(rv(cache->get(kPods + "ns/c")), "10");

  Recorder rec;
  auto w = cache->watch(kPods, 6, rec.callback());
  ASSERT_TRUE(w.isOk()) << w.status().message();
  EXPECT_EQ(rec.lines(), (std::vector<std::string>{
                             "MODIFIED /registry/core/pods/ns/a @7 rv=7 prev=1",
                             "DELETED /registry/core/pods/ns/b @8 rv=8 prev=2",
                             "ADDED /registry/core/pods/ns/g @9 rv=9 prev=-",
                             "MODIFIED /registry/core/pods/ns/c @10 rv=10 prev=3",
                         }));

  Recorder late;
  auto from9 = cache->watch(kPods, 9, late.callback());
  ASSERT_TRUE(from9.isOk());
  EXPECT_EQ(late.lines(), std::vector<std::string>{"MODIFIED /registry/core/pods/ns/c @10 rv=10 prev=3"});

  Recorder old;
  auto gone = cache->watch(kPods, 5, old.callback());
  ASSERT_FALSE(gone.isOk());
  EXPECT_EQ(gone.status().code(), Code::kGone);
  EXPECT_EQ(gone.status().reason_override, "Expired");
}

TEST_F(ObjectCacheTest, PrefillStopsAtCompaction) {
  for (int i = 1; i <= 10; ++i) put(kPods + "ns/p" + std::to_string(i), pod("p", i));
  ASSERT_TRUE(store_.compact(7).isOk());
  auto cache = start(100);
  ASSERT_TRUE(cache);
  EXPECT_EQ(cache->size(), 10u);
  Recorder rec;
  auto w = cache->watch(kPods, 7, rec.callback());
  ASSERT_TRUE(w.isOk()) << w.status().message();
  EXPECT_EQ(rec.events().size(), 3u);
  Recorder old;
  auto gone = cache->watch(kPods, 6, old.callback());
  ASSERT_FALSE(gone.isOk());
  EXPECT_EQ(gone.status().reason_override, "Expired");
}

// Watches started from the cache's revision while another thread writes
// see every later revision exactly once, in order: replay and live delivery
// neither overlap nor leave a gap, and nothing at or before the start
// arrives (a client that listed at R and watches from R must not get R
// again). Every write is one revision under the prefix, so each watch
// checks as it goes that it receives start+1, start+2, ... and nothing else.
TEST_F(ObjectCacheTest, WatchStartedDuringWritesSeesEachLaterEventOnce) {
  auto cache = start(100000);
  ASSERT_TRUE(cache);

  struct Probe {
    int64_t after = 0;
    int64_t next = 0;  // the revision this watch must receive next
    std::string error;
    std::unique_ptr<CacheWatch> watch;
  };
  std::atomic<int> failures{0};
  std::mutex first_mu;
  std::string first_failure;  // guarded by first_mu
  auto check = [&](Probe& p, const std::vector<CacheEvent>& evs) {
    for (const auto& e : evs) {
      if (e.revision == p.next) {
        ++p.next;
        continue;
      }
      if (p.error.empty()) {
        p.error = "watch from " + std::to_string(p.after) + " got revision " + std::to_string(e.revision) +
                  ", want " + std::to_string(p.next) +
                  (e.revision <= p.after ? " (not after the start)"
                   : e.revision < p.next ? " (again)"
                                         : " (gap)");
        if (failures++ == 0) {
          std::lock_guard lock(first_mu);
          first_failure = p.error;
        }
      }
    }
  };

  // Thousands of watches start while these writes run (the loop below
  // starts one after another); more writes only made the test slower
  // (10,000 took 14-46 s here, as the watches starting contend with them).
  constexpr int kWrites = 3000;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < kWrites; ++i) put(kPods + "ns/p" + std::to_string(i % 16), pod("p", i));
    done = true;
  });
  // A few live watches at a time; each is checked by its callback (run
  // under the cache's delivery lock, or by watch() itself for the replay).
  std::vector<std::unique_ptr<Probe>> live(8);
  size_t started = 0;
  while (!done) {
    auto& slot = live[started++ % live.size()];
    slot.reset();  // cancels the oldest watch
    auto p = std::make_unique<Probe>();
    p->after = cache->revision();
    p->next = p->after + 1;
    Probe* raw = p.get();
    auto w = cache->watch(kPods, p->after,
                          [raw, &check](const std::vector<CacheEvent>& evs) { check(*raw, evs); });
    if (!w.isOk()) {
      ADD_FAILURE() << w.status().message();
      break;
    }
    p->watch = std::move(*w);
    slot = std::move(p);
  }
  writer.join();
  // The last watches have seen everything: nothing may be missing at the end.
  for (auto& p : live)
    if (p && p->error.empty() && p->next != kWrites + 1) {
      p->error = "watch from " + std::to_string(p->after) + " ended at " + std::to_string(p->next - 1);
      if (failures++ == 0) first_failure = p->error;
    }
  live.clear();
  EXPECT_EQ(failures.load(), 0) << "of " << started << " watches; first: " << first_failure;
}

}  // namespace
}  // namespace capstan::apiserver
