// The client, informers, work queue and leader election against a real
// ApiServer (memory store) through the in-process transport.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "apiserver/api_server.h"
#include "client/client.h"
#include "client/event_recorder.h"
#include "client/informer.h"
#include "client/leader_election.h"
#include "client/work_queue.h"
#include "unit/testing/fake_clock.h"
#include "unit/testing/test_api_server.h"

namespace capstan::client {
namespace {

using namespace std::chrono_literals;

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = std::make_unique<test_support::TestApiServer>("capstan-client");
    ASSERT_TRUE(api_->ok());
    client_ = api_->adminClient();
  }
  void TearDown() override {
    client_.reset();
    api_.reset();
  }
  static Json configMap(const std::string& name, const std::string& value) {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"app", "x"}}}}},
            {"data", {{"k", value}}}};
  }
  template <typename F>
  static bool eventually(F f, std::chrono::milliseconds limit = 5s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (f()) return true;
      std::this_thread::sleep_for(2ms);
    }
    return f();
  }

  std::unique_ptr<test_support::TestApiServer> api_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientTest, CrudThroughTheRequestChain) {
  auto created = client_->create(res::kConfigMaps, "default", configMap("a", "1"));
  ASSERT_TRUE(created) << created.status().message();
  EXPECT_FALSE(uidOf(*created).empty());

  auto dup = client_->create(res::kConfigMaps, "default", configMap("a", "1"));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);

  Json stale = *created;
  Json changed = *created;
  changed["data"]["k"] = "2";
  ASSERT_TRUE(client_->update(res::kConfigMaps, "default", changed));
  stale["data"]["k"] = "3";
  auto conflict = client_->update(res::kConfigMaps, "default", stale);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.status().code(), Code::kConflict);

  auto patched = client_->patch(res::kConfigMaps, "default", "a", PatchType::kMerge, {{"data", {{"p", "q"}}}});
  ASSERT_TRUE(patched);
  EXPECT_EQ((*patched)["data"]["p"], "q");

  auto listed = client_->list(res::kConfigMaps, "default", {.label_selector = "app=x"});
  ASSERT_TRUE(listed);
  EXPECT_EQ((*listed)["items"].size(), 1u);

  ASSERT_TRUE(client_->remove(res::kConfigMaps, "default", "a"));
  auto gone = client_->get(res::kConfigMaps, "default", "a");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.status().code(), Code::kNotFound);
  EXPECT_EQ(res::kDeployments.path("ns", "d", "scale"), "/apis/apps/v1/namespaces/ns/deployments/d/scale");
  EXPECT_EQ(res::kNodes.path("", "n1"), "/api/v1/nodes/n1");
}

TEST_F(ClientTest, InformerFollowsAddsUpdatesDeletesAndIndexes) {
  ASSERT_TRUE(client_->create(res::kConfigMaps, "default", configMap("before", "1")));
  Informer inf(*client_, res::kConfigMaps);
  std::atomic<int> adds{0}, updates{0}, deletes{0};
  inf.addHandlers({.on_add = [&](const ObjectPtr&) { ++adds; },
                   .on_update = [&](const ObjectPtr&, const ObjectPtr&) { ++updates; },
                   .on_delete = [&](const ObjectPtr&) { ++deletes; }});
  inf.addIndex("value", [](const Json& o) { return std::vector<std::string>{o["data"].value("k", "")}; });
  inf.start();
  ASSERT_TRUE(inf.waitForSync(5s));
  EXPECT_EQ(adds.load(), 1);
  ASSERT_NE(inf.get("default/before"), nullptr);
  EXPECT_EQ(inf.get("default/before")->value("kind", ""), "ConfigMap");

  ASSERT_TRUE(client_->create(res::kConfigMaps, "default", configMap("after", "7")));
  ASSERT_TRUE(eventually([&] { return adds.load() == 2; }));
  EXPECT_EQ(inf.byIndex("value", "7").size(), 1u);

  ASSERT_TRUE(client_->patch(res::kConfigMaps, "default", "after", PatchType::kMerge, {{"data", {{"k", "8"}}}}));
  ASSERT_TRUE(eventually([&] { return updates.load() == 1; }));
  EXPECT_TRUE(inf.byIndex("value", "7").empty());
  EXPECT_EQ(inf.byIndex("value", "8").size(), 1u);

  ASSERT_TRUE(client_->remove(res::kConfigMaps, "default", "after"));
  ASSERT_TRUE(eventually([&] { return deletes.load() == 1; }));
  EXPECT_EQ(inf.get("default/after"), nullptr);
  EXPECT_EQ(inf.list("default").size(), 1u);
  EXPECT_TRUE(inf.list("other").empty());
  inf.stop();
}

TEST_F(ClientTest, WatchEventsComeWithoutManagedFields) {
  // The stored object has managedFields; watch events hand it over without
  // them (and without touching fields of that name elsewhere).
  Json cm = configMap("w", "1");
  cm["data"]["managedFields"] = "kept";
  auto created = client_->create(res::kConfigMaps, "default", cm);
  ASSERT_TRUE(created) << created.status().message();
  ASSERT_TRUE((*created)["metadata"].contains("managedFields"));
  std::mutex mu;
  std::vector<Json> seen;
  auto handle = client_->watch(
      res::kConfigMaps, "default", {.resource_version = "0"},
      [&](std::string_view, ObjectPtr obj) {
        std::lock_guard lock(mu);
        seen.push_back(*obj);
      },
      [](Status) {});
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return !seen.empty();
  }));
  std::lock_guard lock(mu);
  EXPECT_FALSE(seen[0]["metadata"].contains("managedFields"));
  EXPECT_EQ(seen[0]["metadata"]["name"], "w");
  EXPECT_EQ(seen[0]["data"]["managedFields"], "kept");
}

// In process, a watch hands over the cache's objects without their JSON
// round trip (Transport::watchObjects): the same events, in order, with the
// objects a GET returns, less managedFields.
// A handler that asks the factory for an informer while the factory stops
// (a controller's handler during shutdown): stop() joined the informer's
// thread while holding the lock get() waits for, and both waited for ever.
TEST_F(ClientTest, InformerFactoryStopsWhileAHandlerCallsGet) {
  ASSERT_TRUE(client_->create(res::kConfigMaps, "default", configMap("a", "1")));
  InformerFactory factory(*client_);
  std::promise<void> entered;
  std::atomic<bool> once{false};
  factory.get(res::kConfigMaps).addHandlers({.on_add = [&](const ObjectPtr&) {
    if (once.exchange(true)) return;
    entered.set_value();
    std::this_thread::sleep_for(200ms);  // stop() is called meanwhile
    (void)factory.get(res::kSecrets);
  }});
  factory.start();
  entered.get_future().wait();
  auto stopped = std::async(std::launch::async, [&] { factory.stop(); });
  if (stopped.wait_for(10s) != std::future_status::ready) {
    // Deadlocked: nothing can unwind this test, so end the run loudly.
    std::fprintf(stderr, "InformerFactory::stop() deadlocked with a handler calling get()\n");
    std::_Exit(1);
  }
}

TEST_F(ClientTest, InProcessWatchEventsAreTheObjectsAGetReturns) {
  std::mutex mu;
  std::vector<std::pair<std::string, Json>> seen;
  auto handle = client_->watch(
      res::kConfigMaps, "default", {.resource_version = "0"},
      [&](std::string_view type, ObjectPtr obj) {
        std::lock_guard lock(mu);
        seen.emplace_back(std::string(type), *obj);
      },
      [](Status) {});
  auto count = [&] {
    std::lock_guard lock(mu);
    return seen.size();
  };
  ASSERT_TRUE(client_->create(res::kConfigMaps, "default", configMap("e", "1")));
  ASSERT_TRUE(eventually([&] { return count() == 1; }));
  auto got = client_->get(res::kConfigMaps, "default", "e");
  ASSERT_TRUE(got);
  ASSERT_TRUE(client_->patch(res::kConfigMaps, "default", "e", PatchType::kMerge, {{"data", {{"k", "2"}}}}));
  ASSERT_TRUE(eventually([&] { return count() == 2; }));
  auto patched = client_->get(res::kConfigMaps, "default", "e");
  ASSERT_TRUE(client_->remove(res::kConfigMaps, "default", "e"));
  ASSERT_TRUE(eventually([&] { return count() == 3; }));

  auto lessManagedFields = [](Json obj) {
    obj["metadata"].erase("managedFields");
    return obj;
  };
  std::lock_guard lock(mu);
  EXPECT_EQ(seen[0].first, "ADDED");
  EXPECT_EQ(seen[0].second, lessManagedFields(*got));
  EXPECT_EQ(seen[1].first, "MODIFIED");
  EXPECT_EQ(seen[1].second, lessManagedFields(*patched));
  EXPECT_EQ(seen[2].first, "DELETED");
  EXPECT_EQ(seen[2].second["metadata"]["name"], "e");
}

// Two in-process watches of one kind are handed the same object for an
// event: a write costs one copy without managedFields, not one per watcher.
TEST_F(ClientTest, InProcessWatchersShareEachEventsObject) {
  std::mutex mu;
  std::vector<ObjectPtr> first, second;
  auto watchInto = [&](std::vector<ObjectPtr>& into) {
    return client_->watch(
        res::kConfigMaps, "default", {.resource_version = "0"},
        [&mu, &into](std::string_view, ObjectPtr obj) {
          std::lock_guard lock(mu);
          if (nameOf(*obj) == "shared") into.push_back(std::move(obj));
        },
        [](Status) {});
  };
  auto a = watchInto(first);
  auto b = watchInto(second);
  ASSERT_TRUE(client_->create(res::kConfigMaps, "default", configMap("shared", "1")));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return first.size() == 1 && second.size() == 1;
  }));
  std::lock_guard lock(mu);
  EXPECT_EQ(first[0], second[0]);
  EXPECT_FALSE((*first[0])["metadata"].contains("managedFields"));
  EXPECT_EQ((*first[0])["data"]["k"], "1");
}

TEST_F(ClientTest, InformerResyncReplaysObjects) {
  ASSERT_TRUE(client_->create(res::kConfigMaps, "default", configMap("r", "1")));
  Informer inf(*client_, res::kConfigMaps, "default", {}, 20ms);
  std::atomic<int> updates{0};
  inf.addHandlers({.on_update = [&](const ObjectPtr& a, const ObjectPtr& b) {
    if (a == b) ++updates;
  }});
  inf.start();
  EXPECT_TRUE(eventually([&] { return updates.load() >= 2; }));
}

// The count of each Event in default with this message, in no order.
static std::multiset<int64_t> eventCounts(const Client& c, const std::string& message) {
  std::multiset<int64_t> out;
  if (auto l = c.list(res::kEvents, "default"))
    for (const auto& e : (*l)["items"])
      if (e.value("message", "") == message) out.insert(e.value("count", int64_t{0}));
  return out;
}

TEST_F(ClientTest, EventRecorderAggregatesRepeatsAndForgetsTheOldest) {
  using Counts = std::multiset<int64_t>;
  test_support::FakeClock clock;
  EventRecorder events(*client_, "test", "", clock);
  auto pod = [](const std::string& name) {
    return Json{{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"namespace", "default"}, {"uid", "uid-" + name}}}};
  };
  events.record(pod("a"), "Normal", "Started", "first");
  ASSERT_TRUE(eventually([&] { return eventCounts(*client_, "first") == Counts{1}; }));
  events.record(pod("a"), "Normal", "Started", "first");
  ASSERT_TRUE(eventually([&] { return eventCounts(*client_, "first") == Counts{2}; })) << "a repeat bumps count";

  // Ten minutes without a repeat: forgotten, so the next one starts a new Event.
  clock.advance(std::chrono::minutes(11));
  events.record(pod("a"), "Normal", "Started", "first");
  ASSERT_TRUE(eventually([&] { return eventCounts(*client_, "first") == Counts{1, 2}; }));

  // Past the bound the least recently seen goes first: "second" is
  // forgotten, the "first" repeated just after it is kept.
  events.record(pod("b"), "Normal", "Started", "second");
  ASSERT_TRUE(eventually([&] { return eventCounts(*client_, "second") == Counts{1}; }));
  events.record(pod("a"), "Normal", "Started", "first");
  ASSERT_TRUE(eventually([&] { return eventCounts(*client_, "first") == Counts{2, 2}; }));
  for (size_t i = 0; i + 1 < EventRecorder::kMaxRemembered; i++)
    events.record(pod("p" + std::to_string(i)), "Normal", "Scheduled", "flood");
  ASSERT_TRUE(eventually([&] { return eventCounts(*client_, "flood").size() == EventRecorder::kMaxRemembered - 1; },
                         30s));
  events.record(pod("a"), "Normal", "Started", "first");
  events.record(pod("b"), "Normal", "Started", "second");
  EXPECT_TRUE(eventually([&] { return eventCounts(*client_, "first") == Counts{2, 3}; }))
      << "the kept one is bumped";
  EXPECT_TRUE(eventually([&] { return eventCounts(*client_, "second") == Counts{1, 1}; }))
      << "the forgotten one is created again";
}

TEST_F(ClientTest, EventRecorderReplacesInvalidUtf8) {
  test_support::FakeClock clock;
  EventRecorder events(*client_, "test", "", clock);
  Json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "a"}, {"namespace", "default"}}}};
  events.record(pod, "Warning", "Failed\xff", "registry said \xc3(");
  ASSERT_TRUE(eventually([&] { return eventCounts(*client_, "registry said \xef\xbf\xbd(").size() == 1; }));
  auto l = client_->list(res::kEvents, "default");
  ASSERT_TRUE(l);
  ASSERT_EQ((*l)["items"].size(), 1u);
  EXPECT_EQ((*l)["items"][0]["reason"], "Failed\xef\xbf\xbd");
}

TEST(HttpCallTest, BodyTextIsTheTextOrTheObjectsDump) {
  HttpCall text{.method = "POST", .body = R"({"a":1})"};
  EXPECT_EQ(text.bodyText(), R"({"a":1})");
  HttpCall object{.method = "POST", .object = std::make_shared<Json>(Json{{"b", "x"}})};
  EXPECT_EQ(object.bodyText(), R"({"b":"x"})");
  EXPECT_EQ(HttpCall{}.bodyText(), "");
}

// In process, an object body reaches the server without text in between
// and passes the same checks as text.
TEST_F(ClientTest, ObjectBodiesPassTheSameChecksAsText) {
  auto send = [&](HttpCall call) {
    std::promise<Status> done;
    client_->sendAsync(std::move(call), [&](Status st) { done.set_value(std::move(st)); });
    return done.get_future().get();
  };
  auto cm = std::make_shared<Json>(configMap("obj", "1"));
  ASSERT_TRUE(send({.method = "POST", .path = res::kConfigMaps.path("default"), .object = cm}));
  auto got = client_->get(res::kConfigMaps, "default", "obj");
  ASSERT_TRUE(got) << got.status().message();
  EXPECT_EQ((*got)["data"]["k"], "1");
  EXPECT_EQ((*got)["metadata"]["labels"]["app"], "x");

  Json unknown = configMap("strict", "1");
  unknown["spec"] = {{"replicas", 1}};
  Status st = send({.method = "POST",
                    .path = res::kConfigMaps.path("default"),
                    .query = {{"fieldValidation", "Strict"}},
                    .object = std::make_shared<Json>(unknown)});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.code(), Code::kBadRequest);
  EXPECT_NE(st.message().find(R"(unknown field "spec")"), std::string::npos) << st.message();

  Json mistyped = configMap("typed", "1");
  mistyped["data"] = {{"k", 5}};
  st = send({.method = "POST",
             .path = res::kConfigMaps.path("default"),
             .object = std::make_shared<Json>(mistyped)});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.code(), Code::kBadRequest);
  EXPECT_FALSE(client_->get(res::kConfigMaps, "default", "typed"));
}

TEST(WorkQueueTest, DeduplicatesAndHoldsKeysBeingProcessed) {
  WorkQueue q;
  q.add("a");
  q.add("a");
  q.add("b");
  EXPECT_EQ(q.length(), 2u);
  auto k = q.get();
  ASSERT_TRUE(k);
  EXPECT_EQ(*k, "a");
  q.add("a");  // while processing: not handed out again yet
  auto k2 = q.get();
  EXPECT_EQ(*k2, "b");
  EXPECT_EQ(q.length(), 0u);
  q.done("a");
  EXPECT_EQ(q.length(), 1u);
  q.done("b");
  EXPECT_EQ(*q.get(), "a");
}

TEST(WorkQueueTest, BacksOffPerKeyAndForgets) {
  WorkQueue q(std::chrono::milliseconds(10), std::chrono::milliseconds(40));
  auto start = std::chrono::steady_clock::now();
  q.addRateLimited("k");  // 10 ms
  EXPECT_EQ(*q.get(), "k");
  q.done("k");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 10ms);
  q.addRateLimited("k");  // 20 ms
  q.addRateLimited("k");  // 40 ms (capped)
  q.addRateLimited("k");  // 40 ms
  EXPECT_EQ(q.failures("k"), 4);
  q.forget("k");
  EXPECT_EQ(q.failures("k"), 0);
  EXPECT_EQ(*q.get(), "k");
  q.shutDown();
  EXPECT_FALSE(q.get());
}

TEST(WorkQueueTest, ShutDownWakesWorkers) {
  WorkQueue q;
  std::thread t([&] { EXPECT_FALSE(q.get()); });
  std::this_thread::sleep_for(5ms);
  q.shutDown();
  t.join();
}

TEST_F(ClientTest, OnlyOneLeaderAndReleaseHandsOver) {
  LeaderElectionConfig cfg{.lease_name = "test-lease", .lease_duration = 2000ms, .renew_deadline = 1500ms,
                           .retry_period = 20ms};
  std::atomic<int> a_started{0}, b_started{0};
  cfg.identity = "a";
  auto a = std::make_unique<LeaderElector>(*client_, cfg, [&] { ++a_started; }, nullptr);
  cfg.identity = "b";
  LeaderElector b(*client_, cfg, [&] { ++b_started; }, nullptr);
  a->start();
  ASSERT_TRUE(eventually([&] { return a_started.load() == 1; }));
  b.start();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(b_started.load(), 0);
  EXPECT_TRUE(a->isLeader());
  a->stop();  // releases
  ASSERT_TRUE(eventually([&] { return b_started.load() == 1; }, 3s));
  auto lease = client_->get(res::kLeases, "kube-system", "test-lease");
  ASSERT_TRUE(lease);
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
  b.stop();
}

}  // namespace
}  // namespace capstan::client
