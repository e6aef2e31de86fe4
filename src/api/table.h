#pragma once
// Server-side printing: the columns kube-apiserver returns for
// `kubectl get` (meta.k8s.io/v1 Table), per kind, as data.

#include <functional>
#include <string>
#include <vector>

#include "api/registry.h"
#include "common/clock.h"
#include "common/json.h"

namespace capstan::api {

struct Column {
  std::string name;
  std::string type;  // string, integer, date
  int priority = 0;  // 1: only with -o wide
  std::string description;
  std::function<Json(const Json& obj, WallTime now)> cell;
};

// Columns for a kind; every kind has at least Name and Age.
const std::vector<Column>& columnsFor(const ResourceInfo& info);

enum class IncludeObject { kNone, kMetadata, kObject };

// A Table of objects. `with_columns` false omits columnDefinitions (watch
// events after the first).
Json toTable(const ResourceInfo& info, const std::vector<const Json*>& objs, IncludeObject include, WallTime now,
             bool with_columns = true);

}  // namespace capstan::api
