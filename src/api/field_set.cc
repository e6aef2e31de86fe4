#include "api/field_set.h"

#include <fmt/format.h>

namespace capstan::api {
namespace {

const FieldSet kEmptySet;

// Go's %q for the strings that appear in keys: a JSON string literal says
// the same for printable text.
std::string quote(const std::string& s) { return Json(s).dump(); }

// structured-merge-diff's value.ToString.
std::string valueString(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_string()) return quote(v.get<std::string>());
  if (v.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + valueString(v[i]);
    return out + "]";
  }
  if (v.is_object()) {
    std::string out;
    for (const auto& [k, x] : v.items()) out += k + "=" + valueString(x);
    return out;
  }
  return v.dump();
}

}  // namespace

PathElement fieldElement(std::string_view name) { return "f:" + std::string(name); }
PathElement keyElement(const Json& key_fields) { return "k:" + key_fields.dump(); }
PathElement valueElement(const Json& value) { return "v:" + value.dump(); }
PathElement indexElement(int index) { return "i:" + std::to_string(index); }
bool isFieldElement(const PathElement& pe) { return pe.starts_with("f:"); }
std::string_view fieldName(const PathElement& pe) {
  return isFieldElement(pe) ? std::string_view(pe).substr(2) : std::string_view();
}

Result<PathElement> canonicalElement(std::string_view text) {
  if (text.size() < 2 || text[1] != ':')
    return Status(Code::kBadRequest, fmt::format("invalid path element \"{}\"", text));
  std::string_view body = text.substr(2);
  switch (text[0]) {
    case 'f':
      return std::string(text);
    case 'k': {
      auto j = parseJson(body);
      if (!j || !j->is_object())
        return Status(Code::kBadRequest, fmt::format("invalid key element \"{}\"", text));
      return keyElement(*j);
    }
    case 'v': {
      auto j = parseJson(body);
      if (!j) return Status(Code::kBadRequest, fmt::format("invalid value element \"{}\"", text));
      return valueElement(*j);
    }
    case 'i': {
      if (body.empty() || body.size() > 9 || body.find_first_not_of("0123456789") != std::string_view::npos)
        return Status(Code::kBadRequest, fmt::format("invalid index element \"{}\"", text));
      return indexElement(std::stoi(std::string(body)));
    }
    default:
      return Status(Code::kBadRequest, fmt::format("unknown path element type \"{}\"", text));
  }
}

std::string pathString(const FieldPath& path) {
  std::string out;
  for (const auto& pe : path) {
    std::string_view body = std::string_view(pe).substr(2);
    switch (pe[0]) {
      case 'f':
        out += "." + std::string(body);
        break;
      case 'k': {
        auto j = parseJson(body);
        out += "[";
        if (j && j->is_object()) {
          bool first = true;
          for (const auto& [k, v] : j->items()) {
            out += (first ? "" : ",") + k + "=" + valueString(v);
            first = false;
          }
        }
        out += "]";
        break;
      }
      case 'v': {
        auto j = parseJson(body);
        out += "[=" + (j ? valueString(*j) : std::string(body)) + "]";
        break;
      }
      default:
        out += "[" + std::string(body) + "]";
    }
  }
  return out;
}

void FieldSet::insert(const FieldPath& path) {
  if (path.empty()) return;  // the whole object is never tracked
  FieldSet* s = this;
  for (size_t i = 0; i + 1 < path.size(); ++i) s = &s->children_[path[i]];
  s->members_.insert(path.back());
}

bool FieldSet::has(const FieldPath& path) const {
  if (path.empty()) return false;
  const FieldSet* s = this;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    auto it = s->children_.find(path[i]);
    if (it == s->children_.end()) return false;
    s = &it->second;
  }
  return s->members_.contains(path.back());
}

FieldSet FieldSet::unionWith(const FieldSet& other) const {
  FieldSet out = *this;
  out.unite(other);
  return out;
}

void FieldSet::unite(const FieldSet& other) {
  members_.insert(other.members_.begin(), other.members_.end());
  for (const auto& [pe, sub] : other.children_) {
    auto [it, fresh] = children_.try_emplace(pe);
    if (fresh)
      it->second = sub;
    else
      it->second.unite(sub);
  }
}

FieldSet FieldSet::intersection(const FieldSet& other) const {
  FieldSet out;
  for (const auto& m : members_)
    if (other.members_.contains(m)) out.members_.insert(m);
  for (const auto& [pe, sub] : children_) {
    auto it = other.children_.find(pe);
    if (it == other.children_.end()) continue;
    FieldSet both = sub.intersection(it->second);
    if (!both.empty()) out.children_.emplace(pe, std::move(both));
  }
  return out;
}

FieldSet FieldSet::difference(const FieldSet& other) const {
  FieldSet out = *this;
  out.subtract(other);
  return out;
}

bool FieldSet::subtract(const FieldSet& other) {
  bool removed = false;
  if (!other.members_.empty()) {
    removed = std::erase_if(members_, [&](const PathElement& m) { return other.members_.contains(m); }) > 0;
  }
  for (auto it = children_.begin(); it != children_.end();) {
    auto o = other.children_.find(it->first);
    if (o != other.children_.end() && it->second.subtract(o->second)) {
      removed = true;
      if (it->second.empty()) {
        it = children_.erase(it);
        continue;
      }
    }
    ++it;
  }
  return removed;
}

FieldSet FieldSet::recursiveDifference(const FieldSet& other) const {
  FieldSet out;
  for (const auto& m : members_)
    if (!other.members_.contains(m)) out.members_.insert(m);
  for (const auto& [pe, sub] : children_) {
    if (other.members_.contains(pe)) continue;
    auto it = other.children_.find(pe);
    if (it == other.children_.end()) {
      out.children_.emplace(pe, sub);
      continue;
    }
    FieldSet rest = sub.recursiveDifference(it->second);
    if (!rest.empty()) out.children_.emplace(pe, std::move(rest));
  }
  return out;
}

const FieldSet& FieldSet::child(const PathElement& pe) const {
  auto it = children_.find(pe);
  return it == children_.end() ? kEmptySet : it->second;
}

void FieldSet::addChild(const PathElement& pe, FieldSet set) {
  if (set.empty()) return;
  auto it = children_.find(pe);
  if (it == children_.end())
    children_.emplace(pe, std::move(set));
  else
    it->second.unite(set);
}

void FieldSet::forEach(const std::function<void(const FieldPath&)>& f) const {
  FieldPath prefix;
  forEach(prefix, f);
}

void FieldSet::forEach(FieldPath& prefix, const std::function<void(const FieldPath&)>& f) const {
  for (const auto& m : members_) {
    prefix.push_back(m);
    f(prefix);
    prefix.pop_back();
  }
  for (const auto& [pe, sub] : children_) {
    prefix.push_back(pe);
    sub.forEach(prefix, f);
    prefix.pop_back();
  }
}

Json FieldSet::toFieldsV1() const {
  // Members and children are both in element order, as the JSON object's
  // keys are: each key is appended at the end, without a search.
  Json out = Json::object();
  auto& obj = out.get_ref<Json::object_t&>();
  auto m = members_.begin();
  for (const auto& [pe, sub] : children_) {
    for (; m != members_.end() && *m < pe; ++m) obj.emplace_hint(obj.end(), *m, Json::object());
    Json c = sub.toFieldsV1();
    if (m != members_.end() && *m == pe) {
      c.get_ref<Json::object_t&>().emplace(".", Json::object());
      ++m;
    }
    obj.emplace_hint(obj.end(), pe, std::move(c));
  }
  for (; m != members_.end(); ++m) obj.emplace_hint(obj.end(), *m, Json::object());
  return out;
}

Result<FieldSet> FieldSet::fromFieldsV1(const Json& fields) {
  if (!fields.is_object()) return Status(Code::kBadRequest, "FieldsV1 must be an object");
  FieldSet out;
  for (const auto& [key, value] : fields.items()) {
    if (key == ".") continue;  // read by the parent
    auto pe = canonicalElement(key);
    if (!pe) return pe.status();
    if (!value.is_object())
      return Status(Code::kBadRequest, fmt::format("FieldsV1 entry \"{}\" must be an object", key));
    bool dot = value.contains(".");
    bool self = value.empty() || dot;
    if (value.size() == (dot ? 1u : 0u)) {  // nothing below
      if (self) out.members_.insert(out.members_.end(), std::move(*pe));
      continue;
    }
    auto sub = fromFieldsV1(value);
    if (!sub) return sub.status();
    if (self) out.members_.insert(out.members_.end(), *pe);
    // Keys come in element order unless two spell one element.
    auto it = out.children_.lower_bound(*pe);
    if (it != out.children_.end() && it->first == *pe)
      it->second.unite(*sub);
    else
      out.children_.emplace_hint(it, std::move(*pe), std::move(*sub));
  }
  return out;
}

namespace {

// Whether a FieldsV1 key is a path element in its canonical spelling.
bool canonicalKey(const std::string& key) {
  if (key.size() < 2 || key[1] != ':') return false;
  if (key[0] == 'f') return true;  // field names are taken as they are
  auto pe = canonicalElement(key);
  return pe && *pe == key;
}

// isCanonicalFieldsV1 below the top, where "." marks a member.
bool canonicalBelow(const Json& fields) {
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    if (!it->is_object()) return false;
    if (it.key() == ".") {
      if (!it->empty() || fields.size() == 1) return false;  // {} beside what is below only
      continue;
    }
    if (!canonicalKey(it.key()) || !canonicalBelow(*it)) return false;
  }
  return true;
}

}  // namespace

bool FieldSet::isCanonicalFieldsV1(const Json& fields) {
  // A "." at the top says nothing (the whole object is never a member).
  return fields.is_object() && !fields.contains(".") && canonicalBelow(fields);
}

}  // namespace capstan::api
