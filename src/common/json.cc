#include "common/json.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

namespace capstan {
namespace {

// Depth check done by a cheap scan before the real parser runs, so that a
// document nested thousands deep never reaches recursive code.
bool tooDeep(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  bool escape = false;
  for (char c : text) {
    if (in_string) {
      if (escape) escape = false;
      else if (c == '\\') escape = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) return true;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return false;
}

Result<Json> yamlToJson(const YAML::Node& n, int depth) {
  if (depth > kMaxJsonDepth) return Status(Code::kBadRequest, "document nested too deeply");
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return Json(nullptr);
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : n) {
        auto v = yamlToJson(item, depth + 1);
        if (!v) return v;
        out.push_back(std::move(*v));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : n) {
        auto v = yamlToJson(kv.second, depth + 1);
        if (!v) return v;
        out[kv.first.as<std::string>()] = std::move(*v);
      }
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      // Quoted scalars are strings; plain ones follow YAML 1.2 core schema.
      if (n.Tag() == "!" ) return Json(s);
      if (s == "null" || s == "~" || s.empty()) return Json(nullptr);
      if (s == "true" || s == "True" || s == "TRUE") return Json(true);
      if (s == "false" || s == "False" || s == "FALSE") return Json(false);
      char* end = nullptr;
      errno = 0;
      long long i = std::strtoll(s.c_str(), &end, 10);
      if (end && *end == '\0' && errno == 0 && (std::isdigit(s[0]) || s[0] == '-' || s[0] == '+')) return Json(i);
      double d = std::strtod(s.c_str(), &end);
      if (end && *end == '\0' && std::isfinite(d) &&
          (std::isdigit(s[0]) || s[0] == '-' || s[0] == '+' || s[0] == '.'))
        return Json(d);
      return Json(s);
    }
  }
  return Json(nullptr);
}

}  // namespace

namespace {

// nlohmann's DOM builder, which also counts the keys it is given and stops
// at kMaxJsonDepth (the parser itself is not recursive). A duplicate key
// overwrites the earlier value, so a document has duplicates exactly when
// it gave more keys than its objects end up with.
class CountingDomParser : public nlohmann::detail::json_sax_dom_parser<Json> {
 public:
  using Base = nlohmann::detail::json_sax_dom_parser<Json>;
  explicit CountingDomParser(Json& root) : Base(root, /*allow_exceptions=*/false) {}

  bool key(Json::string_t& k) {
    ++keys;
    return Base::key(k);
  }
  bool start_object(std::size_t n) { return deeper() && Base::start_object(n); }
  bool start_array(std::size_t n) { return deeper() && Base::start_array(n); }
  bool end_object() {
    --depth_;
    return Base::end_object();
  }
  bool end_array() {
    --depth_;
    return Base::end_array();
  }

  size_t keys = 0;
  bool too_deep = false;

 private:
  bool deeper() {
    if (++depth_ <= kMaxJsonDepth) return true;
    too_deep = true;
    return false;
  }
  int depth_ = 0;
};

// The members of every object in `j`, nested ones included.
size_t objectMembers(const Json& j) {
  if (!j.is_structured()) return 0;
  size_t n = j.is_object() ? j.size() : 0;
  for (const auto& v : j) n += objectMembers(v);  // an object's values, an array's items
  return n;
}

// The paths of duplicated keys ("spec.containers" style, the object's path
// then the key), in document order: the slow way, taken only when the
// counting parser found that there are some.
std::vector<std::string> duplicateKeys(std::string_view text) {
  std::vector<std::string> out;
  struct Frame {
    std::set<std::string> keys;
    std::string path;
  };
  std::vector<Frame> frames;
  std::string last_key;
  Json::parser_callback_t cb = [&](int, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start: {
        std::string path =
            frames.empty() ? ""
                           : (frames.back().path.empty() ? last_key : frames.back().path + "." + last_key);
        frames.push_back({{}, path});
        break;
      }
      case Json::parse_event_t::key:
        last_key = parsed.get<std::string>();
        if (!frames.empty() && !frames.back().keys.insert(last_key).second)
          out.push_back(frames.back().path.empty() ? last_key : frames.back().path + "." + last_key);
        break;
      case Json::parse_event_t::object_end:
        if (!frames.empty()) frames.pop_back();
        break;
      default:
        break;
    }
    return true;
  };
  if (Json::parse(text, cb, /*allow_exceptions=*/false).is_discarded()) return {};
  return out;
}

}  // namespace

Result<Json> parseJson(std::string_view text, std::vector<std::string>* duplicates) {
  Json j;
  CountingDomParser sax(j);
  bool ok = Json::sax_parse(text, &sax, nlohmann::detail::input_format_t::json, /*strict=*/true);
  if (sax.too_deep) return Status(Code::kBadRequest, "document nested too deeply");
  if (!ok || sax.is_errored()) return Status(Code::kBadRequest, "invalid JSON in request body");
  if (duplicates && sax.keys != objectMembers(j)) {
    auto found = duplicateKeys(text);
    duplicates->insert(duplicates->end(), found.begin(), found.end());
  }
  return j;
}

Result<Json> parseYaml(std::string_view text) {
  if (tooDeep(text)) return Status(Code::kBadRequest, "document nested too deeply");
  try {
    YAML::Node n = YAML::Load(std::string(text));
    auto j = yamlToJson(n, 0);
    if (!j) return j;
    // JSON text is UTF-8 by definition and nlohmann's parser enforces it;
    // YAML input is checked here, so every Json in the server serializes.
    (void)j->dump();
    return j;
  } catch (const std::exception& e) {
    return Status(Code::kBadRequest, sanitizeUtf8(std::string("invalid YAML: ") + e.what()));
  }
}

std::string sanitizeUtf8(std::string_view text) {
  bool ascii = true;
  for (unsigned char c : text)
    if (c >= 0x80) { ascii = false; break; }
  if (ascii) return std::string(text);
  std::string quoted = Json(std::string(text)).dump(-1, ' ', false, Json::error_handler_t::replace);
  return Json::parse(quoted).get<std::string>();
}

std::string getString(const Json& j, std::string_view key, std::string_view def) {
  if (!j.is_object()) return std::string(def);
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::string(def);
  return it->get<std::string>();
}

const Json* find(const Json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

Json* find(Json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

const Json& objectAt(const Json& j, std::string_view key) {
  static const Json kEmpty = Json::object();
  const Json* v = find(j, key);
  return v && v->is_object() ? *v : kEmpty;
}

const Json& arrayAt(const Json& j, std::string_view key) {
  static const Json kEmpty = Json::array();
  const Json* v = find(j, key);
  return v && v->is_array() ? *v : kEmpty;
}

const Json& member(const Json& j, std::string_view key) {
  static const Json kNull;
  const Json* v = find(j, key);
  return v ? *v : kNull;
}

std::vector<std::string> stringsOf(const Json& list) {
  std::vector<std::string> out;
  if (!list.is_array()) return out;
  out.reserve(list.size());
  for (const auto& v : list)
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

}  // namespace capstan
