#pragma once
// The one JSON library of the code base (nlohmann::json) and the few
// helpers every component needs around it. Parsing never throws out of here.

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace capstan {

using Json = nlohmann::json;

// Deepest nesting accepted in a request body; deeper documents are refused
// before they can exhaust the stack.
inline constexpr int kMaxJsonDepth = 200;

// Parses JSON text; malformed or too deeply nested input gives BadRequest.
// With `duplicates`, the dotted paths of keys repeated within an object are
// collected there (the last value wins, as in Go's decoder).
Result<Json> parseJson(std::string_view text, std::vector<std::string>* duplicates = nullptr);

// Parses YAML (one document) into JSON, JSON being a subset of YAML.
Result<Json> parseYaml(std::string_view text);

// The text with invalid UTF-8 sequences replaced by U+FFFD, so it can be
// put into JSON (URLs and headers arrive as arbitrary bytes).
std::string sanitizeUtf8(std::string_view text);

// Pointer-free lookups that return a default when a path is absent or of
// another type.
std::string getString(const Json& j, std::string_view key, std::string_view def = "");
const Json* find(const Json& j, std::string_view key);
// j[key] when it is an object (array), else a shared empty one: for reading
// nested fields of objects that may lack them, without throwing.
const Json& objectAt(const Json& j, std::string_view key);
const Json& arrayAt(const Json& j, std::string_view key);
// j[key] whatever its type, or a shared null when j is not an object or
// lacks it: for is_null() checks and chained lookups.
const Json& member(const Json& j, std::string_view key);
Json* find(Json& j, std::string_view key);
// The strings of a JSON array, in order (other items skipped); empty for
// anything but an array.
std::vector<std::string> stringsOf(const Json& list);

}  // namespace capstan
