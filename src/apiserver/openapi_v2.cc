#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <fmt/format.h>

#include "apiserver/openapi.h"

namespace capstan::apiserver {
namespace {

// A protobuf message under construction, written with the protobuf
// library's wire encoder. Field numbers are gnostic's openapi_v2 ones.
class Message {
 public:
  Message& str(int field, const std::string& s) {
    if (s.empty()) return *this;
    return bytes(field, s);
  }
  Message& msg(int field, const Message& m) { return bytes(field, m.buf_); }
  const std::string& data() const { return buf_; }

 private:
  Message& bytes(int field, const std::string& s) {
    google::protobuf::io::StringOutputStream zs(&buf_);
    google::protobuf::io::CodedOutputStream out(&zs);
    out.WriteTag(static_cast<uint32_t>(field << 3 | 2));  // wire type 2: length-delimited
    out.WriteVarint32(static_cast<uint32_t>(s.size()));
    out.WriteString(s);
    return *this;
  }
  std::string buf_;
};

// Any{yaml}: JSON is YAML, so values are written as JSON text.
Message anyYaml(const Json& value) {
  Message any;
  any.str(2, value.is_string() ? value.get<std::string>() + "\n" : value.dump() + "\n");
  return any;
}

// NamedAny{name, Any{yaml}}.
Message namedAny(const std::string& name, const Json& value) {
  Message named;
  named.str(1, name).msg(2, anyYaml(value));
  return named;
}

// ParametersItem{Parameter{NonBodyParameter{QueryParameterSubSchema}}}.
Message queryParam(const std::string& name, const std::string& description) {
  Message q;
  q.str(2, "query").str(3, description).str(4, name).str(6, "string");
  Message nonbody;
  nonbody.msg(3, q);
  Message param;
  param.msg(2, nonbody);
  Message item;
  item.msg(1, param);
  return item;
}

// openapi.v2.Schema from a normalised v3 schema. References point into
// #/definitions/ and lose their allOf wrapper, as in upstream's v2.
Message schemaMessage(const Json& s) {
  Message m;
  std::string_view ref = api::Schemas::refName(s);
  if (!ref.empty()) m.str(1, "#/definitions/" + std::string(ref));
  m.str(2, getString(s, "format")).str(4, getString(s, "description"));
  if (const Json* req = find(s, "required"); req && req->is_array())
    for (const auto& r : *req)
      if (r.is_string()) m.str(19, r.get<std::string>());
  if (const Json* e = find(s, "enum"); e && e->is_array())
    for (const auto& v : *e) m.msg(20, anyYaml(v));
  if (const Json* ap = find(s, "additionalProperties"); ap && ap->is_object()) {
    Message item;
    item.msg(1, schemaMessage(*ap));
    m.msg(21, item);
  }
  if (std::string type = getString(s, "type"); !type.empty()) {
    Message t;
    t.str(1, type);
    m.msg(22, t);
  }
  if (const Json* items = find(s, "items"); items && items->is_object()) {
    Message i;
    i.msg(1, schemaMessage(*items));
    m.msg(23, i);
  }
  if (const Json* props = find(s, "properties"); props && props->is_object()) {
    Message p;
    for (const auto& [name, sub] : props->items()) {
      Message named;
      named.str(1, name).msg(2, schemaMessage(sub));
      p.msg(1, named);
    }
    m.msg(25, p);
  }
  for (const auto& [k, v] : s.items())
    if (k.starts_with("x-")) m.msg(31, namedAny(k, v));
  return m;
}

}  // namespace

std::string openApiV2Protobuf(const api::Registry& registry, const api::Schemas& served) {
  Message paths;
  for (const auto& r : registry.all()) {
    std::string gv = r.group.empty() ? "api/" + r.version : "apis/" + r.group + "/" + r.version;
    std::string path = "/" + gv + (r.namespaced ? "/namespaces/{namespace}/" : "/") + r.resource + "/{name}";
    Message op;
    op.str(5, "patch" + r.kind);
    op.msg(8, queryParam("fieldValidation",
                         "How the server treats unknown or duplicate fields in the body: Ignore, Warn or Strict."));
    op.msg(8, queryParam("dryRun", "With the value All, the request is checked but not persisted."));
    op.msg(8, queryParam("fieldManager", "The name of the actor making the change, recorded in managedFields."));
    op.msg(13, namedAny("x-kubernetes-action", "patch"));
    op.msg(13, namedAny("x-kubernetes-group-version-kind", Json{{"group", r.group}, {"kind", r.kind}, {"version", r.version}}));
    Message item;
    item.msg(8, op);  // PathItem.patch
    Message named;
    named.str(1, path).msg(2, item);
    paths.msg(2, named);
  }
  Message definitions;
  for (const auto& [name, def] : served.definitions().items()) {
    Message named;
    named.str(1, name).msg(2, schemaMessage(def));
    definitions.msg(1, named);
  }
  Message info;
  info.str(1, "Kubernetes").str(2, "v1.31.0");
  Message doc;
  doc.str(1, "2.0").msg(2, info).msg(8, paths).msg(9, definitions);
  return doc.data();
}

}  // namespace capstan::apiserver
