// Kubernetes' field.Error model and the way Go renders bad values in its
// messages (%q for strings, encoding/json for maps and structs), field
// paths, and the non-throwing JSON accessors the validators read through.
#include <cstdio>

#include "api/validation_internal.h"

namespace capstan::api::vdetail {

// ---------------------------------------------------------------- errors

namespace {

const char* typeString(ErrorType t) {
  switch (t) {
    case ErrorType::kNotFound:
      return "Not found";
    case ErrorType::kRequired:
      return "Required value";
    case ErrorType::kDuplicate:
      return "Duplicate value";
    case ErrorType::kInvalid:
      return "Invalid value";
    case ErrorType::kNotSupported:
      return "Unsupported value";
    case ErrorType::kForbidden:
      return "Forbidden";
    case ErrorType::kTooLong:
      return "Too long";
    case ErrorType::kTooMany:
      return "Too many";
  }
  return "Invalid value";
}

}  // namespace

std::string FieldError::reason() const {
  switch (type) {
    case ErrorType::kNotFound:
      return "FieldValueNotFound";
    case ErrorType::kRequired:
      return "FieldValueRequired";
    case ErrorType::kDuplicate:
      return "FieldValueDuplicate";
    case ErrorType::kInvalid:
      return "FieldValueInvalid";
    case ErrorType::kNotSupported:
      return "FieldValueNotSupported";
    case ErrorType::kForbidden:
      return "FieldValueForbidden";
    case ErrorType::kTooLong:
      return "FieldValueTooLong";
    case ErrorType::kTooMany:
      return "FieldValueTooMany";
  }
  return "FieldValueInvalid";
}

std::string FieldError::body() const {
  std::string s = typeString(type);
  // Required, Forbidden and TooLong never show the value.
  bool shows_value =
      type != ErrorType::kRequired && type != ErrorType::kForbidden && type != ErrorType::kTooLong;
  if (shows_value && value) s += ": " + *value;
  if (!detail.empty()) s += ": " + detail;
  return s;
}

void ErrorList::required(std::string field, std::string detail) {
  errs_.push_back({ErrorType::kRequired, std::move(field), std::nullopt, std::move(detail)});
}
void ErrorList::invalid(std::string field, std::string value, std::string detail) {
  errs_.push_back({ErrorType::kInvalid, std::move(field), std::move(value), std::move(detail)});
}
void ErrorList::notSupported(std::string field, std::string value, const std::vector<std::string>& valid) {
  std::string detail;
  if (!valid.empty()) {
    detail = "supported values: ";
    for (size_t i = 0; i < valid.size(); ++i) {
      if (i) detail += ", ";
      detail += goQuote(valid[i]);
    }
  }
  errs_.push_back({ErrorType::kNotSupported, std::move(field), std::move(value), std::move(detail)});
}
void ErrorList::duplicate(std::string field, std::string value, std::string detail) {
  errs_.push_back({ErrorType::kDuplicate, std::move(field), std::move(value), std::move(detail)});
}
void ErrorList::notFound(std::string field, std::string value) {
  errs_.push_back({ErrorType::kNotFound, std::move(field), std::move(value), ""});
}
void ErrorList::forbidden(std::string field, std::string detail) {
  errs_.push_back({ErrorType::kForbidden, std::move(field), std::nullopt, std::move(detail)});
}
void ErrorList::tooLong(std::string field, int64_t max_bytes) {
  std::string detail =
      "may not be more than " + std::to_string(max_bytes) + (max_bytes == 1 ? " byte" : " bytes");
  errs_.push_back({ErrorType::kTooLong, std::move(field), std::nullopt, std::move(detail)});
}
void ErrorList::tooMany(std::string field, int64_t actual, int64_t max_items) {
  errs_.push_back({ErrorType::kTooMany, std::move(field), std::to_string(actual),
                   "must have at most " + std::to_string(max_items) + " items"});
}

// ---------------------------------------------------------------- rendering

namespace {

// Decodes one UTF-8 sequence at s[i]; returns the rune and its length, or
// -1 (length 1) for an invalid byte.
std::pair<int32_t, size_t> decodeRune(std::string_view s, size_t i) {
  auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) return {b, 1};
  size_t n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 0;
  if (n == 0 || i + n > s.size() || b >= 0xF8) return {-1, 1};
  int32_t r = b & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return {-1, 1};
    r = (r << 6) | (c & 0x3F);
  }
  static const int32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (r < kMin[n] || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) return {-1, 1};
  return {r, n};
}

std::string hex(unsigned v, int width) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%0*x", width, v);
  return buf;
}

}  // namespace

std::string goQuote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    auto [r, n] = decodeRune(s, i);
    if (r < 0) {
      out += "\\x" + hex(static_cast<unsigned char>(s[i]), 2);
    } else if (r == '"' || r == '\\') {
      out += '\\';
      out += static_cast<char>(r);
    } else if (r >= 0x20 && r < 0x7F) {
      out += static_cast<char>(r);
    } else if (r == '\a') {
      out += "\\a";
    } else if (r == '\b') {
      out += "\\b";
    } else if (r == '\f') {
      out += "\\f";
    } else if (r == '\n') {
      out += "\\n";
    } else if (r == '\r') {
      out += "\\r";
    } else if (r == '\t') {
      out += "\\t";
    } else if (r == '\v') {
      out += "\\v";
    } else if (r < 0x20 || r == 0x7F) {
      out += "\\x" + hex(static_cast<unsigned>(r), 2);
    } else if (r < 0xA0 || r == 0x2028 || r == 0x2029 || r == 0xFEFF) {
      out += "\\u" + hex(static_cast<unsigned>(r), 4);
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  out += '"';
  return out;
}

namespace {

void goJsonString(std::string_view s, std::string& out) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    auto [r, n] = decodeRune(s, i);
    if (r < 0) {
      out += "\\ufffd";
    } else if (r == '"' || r == '\\') {
      out += '\\';
      out += static_cast<char>(r);
    } else if (r == '\n') {
      out += "\\n";
    } else if (r == '\r') {
      out += "\\r";
    } else if (r == '\t') {
      out += "\\t";
    } else if (r < 0x20 || r == '<' || r == '>' || r == '&' || r == 0x2028 || r == 0x2029) {
      out += "\\u" + hex(static_cast<unsigned>(r), 4);
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  out += '"';
}

void goJsonInto(const Json& v, std::string& out) {
  switch (v.type()) {
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ',';
        first = false;
        goJsonString(it.key(), out);
        out += ':';
        goJsonInto(it.value(), out);
      }
      out += '}';
      return;
    }
    case Json::value_t::array: {
      out += '[';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += ',';
        goJsonInto(v[i], out);
      }
      out += ']';
      return;
    }
    case Json::value_t::string:
      goJsonString(v.get_ref<const std::string&>(), out);
      return;
    default:
      out += v.dump();
      return;
  }
}

}  // namespace

std::string goJson(const Json& v) {
  std::string out;
  goJsonInto(v, out);
  return out;
}

std::string goValue(const Json* v) {
  if (!v || v->is_null()) return "null";
  if (v->is_string()) return goQuote(v->get_ref<const std::string&>());
  if (v->is_object() || v->is_array()) return goJson(*v);
  return v->dump();
}

std::string goStrings(const std::vector<std::string>& v) {
  std::string out = "[]string{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ", ";
    out += goQuote(v[i]);
  }
  return out + "}";
}

std::string renderSelector(const Json* selector) {
  if (!selector || !selector->is_object()) return "null";
  // metav1.LabelSelector's field order, empty fields omitted.
  std::string out = "{";
  if (hasEntries(get(selector, "matchLabels")))
    out += "\"matchLabels\":" + goJson(*get(selector, "matchLabels"));
  if (hasEntries(get(selector, "matchExpressions"))) {
    if (out.size() > 1) out += ',';
    out += "\"matchExpressions\":[";
    const Json& exprs = *get(selector, "matchExpressions");
    for (size_t i = 0; i < exprs.size(); ++i) {
      if (i) out += ',';
      const Json& e = exprs[i];
      std::string item = "{\"key\":";
      goJsonString(str(get(e, "key")), item);
      item += ",\"operator\":";
      goJsonString(str(get(e, "operator")), item);
      if (hasEntries(get(e, "values"))) item += ",\"values\":" + goJson(*get(e, "values"));
      out += item + "}";
    }
    out += ']';
  }
  return out + "}";
}

std::string intOrStringValue(const Json* v) {
  if (!v) return "0";
  if (v->is_string()) return v->get<std::string>();
  if (auto i = integer(v)) return std::to_string(*i);
  return goJson(*v);
}

// ---------------------------------------------------------------- paths

std::string child(std::string_view path, std::string_view name) {
  if (path.empty()) return std::string(name);
  std::string out(path);
  out += '.';
  out += name;
  return out;
}

std::string index(std::string_view path, size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

std::string key(std::string_view path, std::string_view k) {
  return std::string(path) + "[" + std::string(k) + "]";
}

// ---------------------------------------------------------------- JSON access

const Json* get(const Json* obj, std::string_view k) {
  if (!obj || !obj->is_object()) return nullptr;
  auto it = obj->find(k);
  if (it == obj->end() || it->is_null()) return nullptr;
  return &*it;
}

const Json* get(const Json& obj, std::string_view k) { return get(&obj, k); }

const Json* path(const Json& obj, std::initializer_list<std::string_view> keys) {
  const Json* cur = &obj;
  for (auto k : keys) {
    cur = get(cur, k);
    if (!cur) return nullptr;
  }
  return cur;
}

std::string str(const Json* v) { return v && v->is_string() ? v->get<std::string>() : std::string(); }

std::optional<int64_t> integer(const Json* v) {
  if (!v) return std::nullopt;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (d >= -9.2e18 && d <= 9.2e18 && d == static_cast<double>(static_cast<int64_t>(d)))
      return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

bool isTrue(const Json* v) { return v && v->is_boolean() && v->get<bool>(); }

const Json& array(const Json* v) {
  static const Json kEmpty = Json::array();
  return v && v->is_array() ? *v : kEmpty;
}

const Json& object(const Json* v) {
  static const Json kEmpty = Json::object();
  return v && v->is_object() ? *v : kEmpty;
}

std::vector<std::string> stringList(const Json* v) { return v ? stringsOf(*v) : std::vector<std::string>{}; }

bool hasEntries(const Json* v) { return v && (v->is_object() || v->is_array()) && !v->empty(); }

namespace {

// Drops what Go's zero values and Semantic.DeepEqual cannot tell from absence.
Json normalized(const Json& v) {
  if (v.is_object()) {
    Json out = Json::object();
    for (auto it = v.begin(); it != v.end(); ++it) {
      Json n = normalized(it.value());
      if (!n.is_null()) out[it.key()] = std::move(n);
    }
    return out.empty() ? Json() : out;
  }
  if (v.is_array()) {
    if (v.empty()) return Json();
    Json out = Json::array();
    for (const auto& item : v) {
      Json n = normalized(item);
      out.push_back(n.is_null() ? Json::object() : std::move(n));
    }
    return out;
  }
  if ((v.is_string() && v.get_ref<const std::string&>().empty()) || (v.is_boolean() && !v.get<bool>()))
    return Json();
  return v;
}

}  // namespace

bool semanticEqual(const Json* a, const Json* b) {
  Json na = a ? normalized(*a) : Json();
  Json nb = b ? normalized(*b) : Json();
  return na == nb;
}

}  // namespace capstan::api::vdetail
