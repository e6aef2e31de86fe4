#pragma once
// Helpers shared by the api unit tests: a built-in kind by group and kind,
// and a YAML manifest as JSON.

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "api/registry.h"
#include "common/json.h"

namespace capstan::api::testing {

inline const ResourceInfo& infoFor(const std::string& group, const std::string& kind) {
  static const Registry reg = Registry::builtin();
  const ResourceInfo* info = reg.findKind(group, "v1", kind);
  if (!info) throw std::runtime_error("no kind " + kind);  // test setup error only
  return *info;
}

inline Json yaml(const std::string& text) {
  auto r = parseYaml(text);
  EXPECT_TRUE(r.isOk()) << r.status().message() << "\n" << text;
  return r.isOk() ? *r : Json();
}

}  // namespace capstan::api::testing
