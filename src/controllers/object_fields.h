#pragma once
// Defensive readers for the fields controllers look at: a missing field or
// one of another JSON type reads as the default, so an odd object never
// crashes a controller. Conditions are read and set as upstream's helpers do.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/json.h"

namespace capstan::controllers {

// obj[key] when it is an object (an array), else a shared empty one.
const Json& objectField(const Json& obj, std::string_view key);
const Json& arrayField(const Json& obj, std::string_view key);
std::string stringField(const Json& obj, std::string_view key, std::string_view def = "");
// True when obj[key] is an integral number (floats with no fraction count).
bool hasInt(const Json& obj, std::string_view key);
int64_t intField(const Json& obj, std::string_view key, int64_t def = 0);
bool boolField(const Json& obj, std::string_view key, bool def = false);
// An RFC 3339 time field; nullopt when absent or unparseable.
std::optional<WallTime> timeField(const Json& obj, std::string_view key);

const Json& metadataOf(const Json& obj);
const Json& specOf(const Json& obj);
const Json& statusOf(const Json& obj);
const Json& labelsOf(const Json& obj);
bool isDeleting(const Json& obj);
bool hasFinalizer(const Json& obj, std::string_view finalizer);

// The status condition of that type, or nullptr.
const Json* findCondition(const Json& obj, std::string_view type);
bool conditionTrue(const Json& obj, std::string_view type);
// Sets a condition in `status` (lastTransitionTime moves only when the
// status value changes); false when nothing changed.
bool setCondition(Json& status, const std::string& type, const std::string& value, const std::string& reason,
                  const std::string& message, WallTime now, bool with_probe_time = false);

}  // namespace capstan::controllers
