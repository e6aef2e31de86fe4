// libFuzzer target: a request body through every decoder and patch the API
// server runs on untrusted input. None may crash, hang or throw.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/patch.h"
#include "api/known_fields.h"
#include "api/registry.h"
#include "common/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace capstan;
  static const api::Registry registry = api::Registry::builtin();
  std::string_view text(reinterpret_cast<const char*>(data), size);
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
    for (const auto& info : registry.all()) (void)api::unknownFields(info, patch);
  }
  return 0;
}
