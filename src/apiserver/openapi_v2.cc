#include "apiserver/openapi_v2.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <fmt/format.h>

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

// NamedAny{name, Any{yaml}}.
Message namedYaml(const std::string& name, const std::string& yaml) {
  Message any;
  any.str(2, yaml);
  Message named;
  named.str(1, name).msg(2, any);
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

}  // namespace

std::string openApiV2Protobuf(const api::Registry& registry) {
  Message paths;
  for (const auto& r : registry.all()) {
    std::string gv = r.group.empty() ? "api/" + r.version : "apis/" + r.group + "/" + r.version;
    std::string path = "/" + gv + (r.namespaced ? "/namespaces/{namespace}/" : "/") + r.resource + "/{name}";
    Message op;
    op.str(5, "patch" + r.kind);
    op.msg(8, queryParam("fieldValidation",
                         "fieldValidation instructs the server on how to handle objects in the request containing "
                         "unknown or duplicate fields. Valid values are: Ignore, Warn and Strict."));
    op.msg(8, queryParam("dryRun", "When present, indicates that modifications should not be persisted."));
    op.msg(8, queryParam("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."));
    op.msg(13, namedYaml("x-kubernetes-action", "patch\n"));
    op.msg(13, namedYaml("x-kubernetes-group-version-kind",
                         fmt::format("group: \"{}\"\nkind: {}\nversion: {}\n", r.group, r.kind, r.version)));
    Message item;
    item.msg(8, op);  // PathItem.patch
    Message named;
    named.str(1, path).msg(2, item);
    paths.msg(2, named);
  }
  Message info;
  info.str(1, "Kubernetes").str(2, "v1.31.0");
  Message doc;
  doc.str(1, "2.0").msg(2, info).msg(8, paths);
  return doc.data();
}

}  // namespace capstan::apiserver
