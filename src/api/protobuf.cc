#include "api/protobuf.h"

#include <google/protobuf/io/coded_stream.h>

#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "common/base64.h"
#include "common/clock.h"

namespace capstan::api {

// Generated from src/api/protobuf/fields.yaml by cmake/embed_text.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& embeddedProtobufFieldFiles();

namespace {

constexpr std::string_view kMagic{"k8s\0", 4};
constexpr std::string_view kQuantity = "io.k8s.apimachinery.pkg.api.resource.Quantity";
constexpr std::string_view kIntOrString = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
constexpr std::string_view kTime = "io.k8s.apimachinery.pkg.apis.meta.v1.Time";
constexpr std::string_view kMicroTime = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime";
constexpr std::string_view kRawExtension = "io.k8s.apimachinery.pkg.runtime.RawExtension";
constexpr std::string_view kFieldsV1 = "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1";
constexpr int kMaxDepth = 64;

enum Wire { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

Status malformed(std::string_view what) {
  return Status(Code::kBadRequest, fmt::format("the protobuf body of the request is malformed: {}", what));
}

// One field of a message as read off the wire.
struct RawField {
  int number = 0;
  int wire = 0;
  uint64_t num = 0;        // varint and fixed values
  std::string_view bytes;  // length-delimited values
};

Result<std::vector<RawField>> fieldsOf(std::string_view msg) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(msg.data()), static_cast<int>(msg.size()));
  std::vector<RawField> out;
  while (true) {
    uint32_t tag = in.ReadTag();
    if (tag == 0) {
      if (static_cast<size_t>(in.CurrentPosition()) != msg.size()) return malformed("bad field tag");
      return out;
    }
    RawField f{static_cast<int>(tag >> 3), static_cast<int>(tag & 7)};
    switch (f.wire) {
      case kVarint:
        if (!in.ReadVarint64(&f.num)) return malformed("truncated varint");
        break;
      case kFixed64:
        if (!in.ReadLittleEndian64(&f.num)) return malformed("truncated fixed64");
        break;
      case kFixed32: {
        uint32_t v = 0;
        if (!in.ReadLittleEndian32(&v)) return malformed("truncated fixed32");
        f.num = v;
        break;
      }
      case kBytes: {
        uint32_t len = 0;
        if (!in.ReadVarint32(&len)) return malformed("truncated length");
        size_t pos = static_cast<size_t>(in.CurrentPosition());
        if (len > msg.size() - pos) return malformed("a length runs past the end");
        f.bytes = msg.substr(pos, len);
        if (!in.Skip(static_cast<int>(len))) return malformed("a length runs past the end");
        break;
      }
      default:
        return malformed(fmt::format("unsupported wire type {}", f.wire));
    }
    out.push_back(f);
  }
}

// The fields of a small message by number (the last one wins, as in proto).
Result<std::map<int, RawField>> byNumber(std::string_view msg) {
  auto fields = fieldsOf(msg);
  if (!fields) return fields.status();
  std::map<int, RawField> out;
  for (const auto& f : *fields) out[f.number] = f;
  return out;
}

bool isZero(const Json& v, bool is_map) {
  if (v.is_null()) return true;
  if (v.is_string()) return v.get_ref<const std::string&>().empty();
  if (v.is_boolean()) return !v.get<bool>();
  if (v.is_number()) return v == 0;
  if (v.is_array()) return v.empty();
  if (v.is_object()) return is_map && v.empty();  // Go never omits a struct
  return false;
}

class Decoder {
 public:
  Decoder(const Schemas& schemas, const ProtobufFields& fields) : schemas_(schemas), fields_(fields) {}

  // Decodes `msg`, a message of type `message`, into the JSON object `out`
  // whose (resolved) schema is `schema`.
  Status message(std::string_view msg, std::string_view message, const Json& schema, Json& out, int depth) {
    if (depth > kMaxDepth) return malformed("nested too deeply");
    auto raw = fieldsOf(msg);
    if (!raw) return raw.status();
    const Json* props = find(schema, "properties");
    std::vector<std::pair<std::string, bool>> omittable;  // (name, is a map)
    for (const auto& f : *raw) {
      const ProtobufFields::Field* fd = fields_.field(message, f.number);
      if (!fd) continue;  // a field this version does not know: skipped, as Go's decoder does
      if (!fd->inline_type.empty()) {
        if (f.wire != kBytes) return malformed("an embedded struct is not a message");
        if (auto st = this->message(f.bytes, fd->inline_type, schema, out, depth + 1); !st) return st;
        continue;
      }
      const Json* prop = props ? find(*props, fd->json_name) : nullptr;
      if (!prop) continue;  // not part of the JSON shape (e.g. FieldsV1.Raw)
      const Json& ps = schemas_.resolve(*prop);
      std::string_view type = typeOf(*prop, ps);
      if (type == "array") {
        Json& arr = out[fd->json_name];
        if (!arr.is_array()) arr = Json::array();
        const Json* items = find(ps, "items");
        if (!items) continue;
        if (auto st = element(f, *items, arr, depth); !st) return st;
      } else if (type == "map") {
        Json& map = out[fd->json_name];
        if (!map.is_object()) map = Json::object();
        if (auto st = mapEntry(f, *find(ps, "additionalProperties"), map, depth); !st) return st;
      } else {
        Json v;
        if (auto st = single(f, *prop, v, depth); !st) return st;
        out[fd->json_name] = std::move(v);
      }
      // omitempty leaves out zero scalars, empty lists and maps; never a
      // struct (a zero Time stays as null, as Go writes it).
      bool struct_like = type == "object" || type == kTime || type == kMicroTime || type == kQuantity ||
                         type == kIntOrString || type == kRawExtension || type == kFieldsV1;
      if (fd->omit_zero && !struct_like) omittable.emplace_back(fd->json_name, type == "map");
    }
    for (const auto& [name, is_map] : omittable)
      if (auto it = out.find(name); it != out.end() && isZero(*it, is_map)) out.erase(it);
    return Status::ok();
  }

 private:
  // "array", "map", or the schema's own type; special messages by name.
  std::string_view typeOf(const Json& prop, const Json& resolved) const {
    std::string_view ref = Schemas::refName(prop);
    if (ref == kQuantity || ref == kIntOrString || ref == kTime || ref == kMicroTime || ref == kRawExtension ||
        ref == kFieldsV1)
      return ref;
    const Json* t = find(resolved, "type");
    std::string_view type = t && t->is_string() ? std::string_view(t->get_ref<const std::string&>()) : "";
    if (type == "object") {
      if (const Json* ap = find(resolved, "additionalProperties"); ap && ap->is_object()) return "map";
    }
    return type;
  }

  // Appends the value(s) of one occurrence of a repeated field.
  Status element(const RawField& f, const Json& items, Json& arr, int depth) {
    const Json& is = schemas_.resolve(items);
    std::string_view type = typeOf(items, is);
    if (f.wire == kBytes && (type == "integer" || type == "boolean" || type == "number")) {
      // Packed scalars.
      google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(f.bytes.data()),
                                                static_cast<int>(f.bytes.size()));
      while (static_cast<size_t>(in.CurrentPosition()) < f.bytes.size()) {
        RawField one{f.number, kVarint};
        if (type == "number") {
          one.wire = kFixed64;
          if (!in.ReadLittleEndian64(&one.num)) return malformed("truncated packed list");
        } else if (!in.ReadVarint64(&one.num)) {
          return malformed("truncated packed list");
        }
        Json v;
        if (auto st = single(one, items, v, depth); !st) return st;
        arr.push_back(std::move(v));
      }
      return Status::ok();
    }
    Json v;
    if (auto st = single(f, items, v, depth); !st) return st;
    arr.push_back(std::move(v));
    return Status::ok();
  }

  // map<string, V> travels as repeated {1: key, 2: value} messages.
  Status mapEntry(const RawField& f, const Json& values, Json& map, int depth) {
    if (f.wire != kBytes) return malformed("a map entry is not a message");
    auto entry = byNumber(f.bytes);
    if (!entry) return entry.status();
    std::string key = entry->count(1) ? std::string((*entry)[1].bytes) : "";
    Json v;
    if (entry->count(2)) {
      if (auto st = single((*entry)[2], values, v, depth); !st) return st;
    } else {
      const Json& vs = schemas_.resolve(values);
      std::string_view type = typeOf(values, vs);
      if (type == "string" || type == kQuantity) v = "";
      else if (type == "integer" || type == "number") v = 0;
      else if (type == "boolean") v = false;
      else if (type == "array") v = Json::array();
      else v = Json::object();
    }
    map[key] = std::move(v);
    return Status::ok();
  }

  // One value of the schema `prop` (unresolved, so references name it).
  Status single(const RawField& f, const Json& prop, Json& out, int depth) {
    const Json& ps = schemas_.resolve(prop);
    std::string_view type = typeOf(prop, ps);
    auto need = [&](int wire) { return f.wire == wire ? Status::ok() : malformed("a field has the wrong wire type"); };
    if (type == "string") {
      if (auto st = need(kBytes); !st) return st;
      const Json* format = find(ps, "format");
      bool bytes = format && format->is_string() && format->get_ref<const std::string&>() == "byte";
      out = bytes ? base64Encode(f.bytes) : sanitizeUtf8(f.bytes);
      return Status::ok();
    }
    if (type == "integer") {
      if (auto st = need(kVarint); !st) return st;
      const Json* format = find(ps, "format");
      bool int32 = format && format->is_string() && format->get_ref<const std::string&>() == "int32";
      out = int32 ? Json(static_cast<int32_t>(f.num)) : Json(static_cast<int64_t>(f.num));
      return Status::ok();
    }
    if (type == "boolean") {
      if (auto st = need(kVarint); !st) return st;
      out = f.num != 0;
      return Status::ok();
    }
    if (type == "number") {
      if (f.wire == kFixed64) out = std::bit_cast<double>(f.num);
      else if (f.wire == kFixed32) out = static_cast<double>(std::bit_cast<float>(static_cast<uint32_t>(f.num)));
      else return malformed("a number has the wrong wire type");
      return Status::ok();
    }
    if (auto st = need(kBytes); !st) return st;
    if (type == kQuantity) {
      auto m = byNumber(f.bytes);
      if (!m) return m.status();
      out = m->count(1) ? sanitizeUtf8((*m)[1].bytes) : "0";
      return Status::ok();
    }
    if (type == kIntOrString) {
      auto m = byNumber(f.bytes);
      if (!m) return m.status();
      bool is_string = m->count(1) && (*m)[1].num == 1;
      if (is_string) out = m->count(3) ? sanitizeUtf8((*m)[3].bytes) : "";
      else out = m->count(2) ? static_cast<int32_t>((*m)[2].num) : 0;
      return Status::ok();
    }
    if (type == kTime || type == kMicroTime) {
      auto m = byNumber(f.bytes);
      if (!m) return m.status();
      int64_t seconds = m->count(1) ? static_cast<int64_t>((*m)[1].num) : 0;
      int32_t nanos = m->count(2) ? static_cast<int32_t>((*m)[2].num) : 0;
      if (seconds == 0 && nanos == 0) {
        out = nullptr;  // Go's zero time encodes as null
        return Status::ok();
      }
      WallTime t = WallTime{} + std::chrono::seconds(seconds) +
                   std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds(nanos));
      out = type == kTime ? formatRfc3339(t) : formatRfc3339Micro(t);
      return Status::ok();
    }
    if (type == kRawExtension || type == kFieldsV1) {
      auto m = byNumber(f.bytes);
      if (!m) return m.status();
      if (!m->count(1) || (*m)[1].bytes.empty()) {
        out = Json::object();
        return Status::ok();
      }
      auto parsed = parseJson((*m)[1].bytes);
      if (!parsed) return malformed("an embedded object is not JSON");
      out = std::move(*parsed);
      return Status::ok();
    }
    if (type == "object") {
      std::string_view name = Schemas::refName(prop);
      out = Json::object();
      if (name.empty()) return Status::ok();  // a free-form object has no message type
      return message(f.bytes, name, ps, out, depth + 1);
    }
    return Status::ok();  // no schema type: left empty
  }

  const Schemas& schemas_;
  const ProtobufFields& fields_;
};

}  // namespace

Result<ProtobufFields> ProtobufFields::load(std::string_view yaml) {
  auto doc = parseYaml(yaml);
  if (!doc) return doc.status();
  ProtobufFields out;
  if (doc->is_null()) return out;
  if (!doc->is_object()) return Status(Code::kInternal, "protobuf field table: not a mapping");
  for (const auto& [message, numbers] : doc->items()) {
    if (!numbers.is_object()) return Status(Code::kInternal, "protobuf field table: " + message + " is not a mapping");
    auto& fields = out.messages_[message];
    for (const auto& [number, spec] : numbers.items()) {
      int n = std::atoi(number.c_str());
      if (n <= 0) return Status(Code::kInternal, "protobuf field table: bad number " + number + " in " + message);
      Field f;
      if (spec.is_object()) {
        f.inline_type = getString(spec, "inline");
      } else if (spec.is_string()) {
        f.json_name = spec.get<std::string>();
        if (!f.json_name.empty() && f.json_name.back() == '?') {
          f.omit_zero = true;
          f.json_name.pop_back();
        }
      } else {
        return Status(Code::kInternal, "protobuf field table: bad entry " + number + " in " + message);
      }
      fields[n] = std::move(f);
    }
  }
  return out;
}

const ProtobufFields& ProtobufFields::builtin() {
  static const ProtobufFields kBuiltin = [] {
    const auto& files = embeddedProtobufFieldFiles();
    auto f = load(files.empty() ? std::string_view() : files.front().second);
    if (!f) {
      std::fprintf(stderr, "capstan: embedded protobuf field table is invalid: %s\n", f.status().message().c_str());
      std::abort();
    }
    return std::move(*f);
  }();
  return kBuiltin;
}

const ProtobufFields::Field* ProtobufFields::field(std::string_view message, int number) const {
  auto m = messages_.find(message);
  if (m == messages_.end()) return nullptr;
  auto f = m->second.find(number);
  return f == m->second.end() ? nullptr : &f->second;
}

Result<Json> decodeProtobuf(std::string_view body, const Schemas& schemas, const ProtobufFields& fields) {
  if (!body.starts_with(kMagic)) return malformed("it does not start with the k8s protobuf prefix");
  // runtime.Unknown: typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2,
  // contentEncoding = 3, contentType = 4.
  auto unknown = byNumber(body.substr(kMagic.size()));
  if (!unknown) return unknown.status();
  if (unknown->count(3) && !(*unknown)[3].bytes.empty()) return malformed("content encodings are not supported");
  std::string api_version, kind;
  if (unknown->count(1)) {
    auto tm = byNumber((*unknown)[1].bytes);
    if (!tm) return tm.status();
    if (tm->count(1)) api_version = std::string((*tm)[1].bytes);
    if (tm->count(2)) kind = std::string((*tm)[2].bytes);
  }
  if (kind.empty()) return Status(Code::kBadRequest, "Object 'Kind' is missing in the protobuf body");
  std::string group, version = api_version;
  if (auto slash = api_version.find('/'); slash != std::string::npos) {
    group = api_version.substr(0, slash);
    version = api_version.substr(slash + 1);
  }
  std::string def = schemas.kindDefinition(group, version, kind);
  const Json* schema = def.empty() ? nullptr : schemas.definition(def);
  if (!schema)
    return Status(Code::kBadRequest,
                  fmt::format("no kind \"{}\" is registered for version \"{}\" in the protobuf encoding", kind, api_version));
  Json obj = Json::object();
  std::string_view raw = unknown->count(2) ? (*unknown)[2].bytes : std::string_view();
  Decoder d(schemas, fields);
  if (auto st = d.message(raw, def, *schema, obj, 0); !st) return st;
  obj["apiVersion"] = api_version;
  obj["kind"] = kind;
  return obj;
}

}  // namespace capstan::api
