// libFuzzer target: a request body through the decoders, the patches and the
// API server's generic handlers (create, update, the three patch types) over
// an in-memory store. Nothing may crash, hang or throw; a rejected body must
// leave the stored object unchanged.
#include <cstddef>
#include <cstdint>
#include <future>
#include <string_view>

#include "api/known_fields.h"
#include "api/patch.h"
#include "api/protobuf.h"
#include "api/registry.h"
#include "apiserver/resources.h"
#include "apiserver/service_ips.h"
#include "common/json.h"
#include "store/memory/memory_store.h"

namespace {

using namespace capstan;
using namespace capstan::apiserver;

struct World {
  api::Registry registry = api::Registry::builtin();
  store::MemoryStore store;
  std::unique_ptr<ObjectCache> cache;
  std::unique_ptr<ServiceAllocator> services;
  Metrics metrics;
  std::unique_ptr<Resources> resources;

  World() {
    cache = ObjectCache::start(store, "/registry/", 1000).value();
    services = ServiceAllocator::create("10.43.0.0/16", *cache).value();
    resources = std::make_unique<Resources>(
        ServerContext{&registry, &store, cache.get(), &metrics, &SystemClock::instance(), services.get()});
    call("POST", "", "namespaces", "", R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}})", "application/json");
    call("POST", "default", "configmaps", "", R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"a":"b"}})", "application/json");
  }

  Response call(const std::string& method, const std::string& ns, const std::string& resource, const std::string& name,
                std::string body, const std::string& content_type) {
    Request req;
    req.method = method;
    req.body = std::move(body);
    req.headers["content-type"] = content_type;
    req.query.emplace_back("fieldValidation", "Strict");
    RequestInfo ri;
    ri.is_resource = true;
    ri.version = "v1";
    ri.resource = resource;
    ri.ns = ns;
    ri.name = name;
    ri.verb = method == "POST" ? "create" : method == "PUT" ? "update" : "patch";
    const api::ResourceInfo* info = registry.find("", "v1", resource);
    std::promise<Response> p;
    auto f = p.get_future();
    resources->serve(ri, *info, std::move(req), [&p](Response r) { p.set_value(std::move(r)); });
    return f.get();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  std::string text(reinterpret_cast<const char*>(data), size);

  auto j = parseJson(text);
  auto y = parseYaml(text);
  static const Json base = Json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a","labels":{"x":"y"}},
    "spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":80}]}]}}}})");
  for (const Result<Json>* doc : {&j, &y}) {
    if (!doc->isOk()) continue;
    const Json& patch = doc->value();
    (void)api::applyMergePatch(base, patch);
    (void)api::applyStrategicMergePatch(base, patch);
    (void)api::applyJsonPatch(base, patch);
    for (const auto& info : world.registry.all()) (void)api::unknownFields(info, patch);
  }

  // Protobuf bodies: the raw bytes, and the bytes behind the k8s magic.
  const std::string magic("k8s\0", 4);
  (void)api::decodeProtobuf(text);
  (void)api::decodeProtobuf(magic + text);

  // Through the handlers. Every answer must be a status code, never a crash.
  std::string before = world.cache->get("/registry/core/configmaps/default/cm")->json;
  Response r = world.call("PUT", "default", "configmaps", "cm", text, "application/json");
  if (r.status >= 500) __builtin_trap();
  if (r.status >= 400 && world.cache->get("/registry/core/configmaps/default/cm")->json != before) __builtin_trap();
  for (const char* ct : {"application/merge-patch+json", "application/strategic-merge-patch+json", "application/json-patch+json"}) {
    r = world.call("PATCH", "default", "configmaps", "cm", text, ct);
    if (r.status >= 500) __builtin_trap();
  }
  r = world.call("POST", "default", "configmaps", "", magic + text, "application/vnd.kubernetes.protobuf");
  if (r.status >= 500) __builtin_trap();
  for (const char* res : {"pods", "services", "configmaps", "namespaces"}) {
    r = world.call("POST", std::string(res) == "namespaces" ? "" : "default", res, "", text, "application/yaml");
    if (r.status >= 500) __builtin_trap();
  }
  return 0;
}
