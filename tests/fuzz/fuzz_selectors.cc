// libFuzzer target: label and field selector parsing and matching.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/selector.h"
#include "common/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace capstan;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  static const Json labels = Json::parse(R"({"app":"web","tier":"front","n":"5"})");
  if (auto ls = api::LabelSelector::parse(text); ls.isOk()) {
    (void)ls->matches(labels);
    auto again = api::LabelSelector::parse(ls->toString());
    if (!again.isOk()) __builtin_trap();  // canonical form must parse back
  }
  if (auto fs = api::FieldSelector::parse(text); fs.isOk()) {
    (void)fs->matches([](std::string_view f) -> std::optional<std::string> {
      if (f == "metadata.name") return std::string("x");
      return std::nullopt;
    });
  }
  return 0;
}
