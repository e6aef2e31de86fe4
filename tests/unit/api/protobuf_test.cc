// Protobuf request bodies (kubectl 1.32+): decoded into the JSON the JSON
// encoding would give, with bad bytes refused and never a crash.
#include "api/protobuf.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <gtest/gtest.h>

#include <string>

namespace capstan::api {
namespace {

// A message under construction, as upstream's generated marshallers write it.
class Msg {
 public:
  Msg& bytes(int field, const std::string& s) {
    tag(field, 2);
    out().WriteVarint32(static_cast<uint32_t>(s.size()));
    out().WriteString(s);
    return flush();
  }
  Msg& msg(int field, const Msg& m) { return bytes(field, m.buf_); }
  Msg& varint(int field, uint64_t v) {
    tag(field, 0);
    out().WriteVarint64(v);
    return flush();
  }
  const std::string& data() const { return buf_; }

 private:
  google::protobuf::io::CodedOutputStream& out() {
    if (!stream_) {
      zs_ = std::make_unique<google::protobuf::io::StringOutputStream>(&buf_);
      stream_ = std::make_unique<google::protobuf::io::CodedOutputStream>(zs_.get());
    }
    return *stream_;
  }
  void tag(int field, int wire) { out().WriteTag(static_cast<uint32_t>(field << 3 | wire)); }
  Msg& flush() {
    stream_.reset();
    zs_.reset();
    return *this;
  }
  std::string buf_;
  std::unique_ptr<google::protobuf::io::StringOutputStream> zs_;
  std::unique_ptr<google::protobuf::io::CodedOutputStream> stream_;
};

std::string envelope(const std::string& api_version, const std::string& kind, const Msg& raw) {
  Msg type_meta;
  type_meta.bytes(1, api_version).bytes(2, kind);
  Msg unknown;
  unknown.msg(1, type_meta).msg(2, raw);
  return std::string("k8s\0", 4) + unknown.data();
}

Msg entry(const std::string& k, const std::string& v) {
  Msg e;
  e.bytes(1, k).bytes(2, v);
  return e;
}

TEST(Protobuf, ConfigMapDecodesAsItsJson) {
  Msg meta;
  meta.bytes(1, "settings").bytes(3, "").msg(11, entry("app", "web"));  // an empty namespace is omitted
  Msg creation;  // the zero Time: null, kept as Go writes a zero struct
  meta.msg(8, creation);
  Msg cm;
  cm.msg(1, meta).msg(2, entry("color", "blue")).msg(2, entry("empty", ""));
  auto r = decodeProtobuf(envelope("v1", "ConfigMap", cm));
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(*r, Json::parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","labels":{"app":"web"},"creationTimestamp":null},
                               "data":{"color":"blue","empty":""}})"));
}

TEST(Protobuf, DeploymentKeepsPointerZerosAndDecodesSpecialTypes) {
  Msg meta;
  meta.bytes(1, "web");
  Msg port;
  port.varint(3, 80).bytes(4, "TCP");  // containerPort, protocol
  Msg limits;
  limits.bytes(1, "500m");  // Quantity{string}
  Msg resources;
  resources.msg(1, entry("cpu", limits.data()));
  Msg container;
  container.bytes(1, "nginx").bytes(2, "nginx:1.27").msg(6, port).msg(8, resources).varint(16, 0);  // stdin false: omitted
  Msg pod_spec;
  pod_spec.msg(2, container);
  Msg template_meta;
  template_meta.msg(11, entry("app", "web"));
  Msg tmpl;
  tmpl.msg(1, template_meta).msg(2, pod_spec);
  Msg max_surge;  // IntOrString{type: String, strVal: 25%}
  max_surge.varint(1, 1).bytes(3, "25%");
  Msg rolling;
  rolling.msg(2, max_surge);
  Msg strategy;
  strategy.bytes(1, "RollingUpdate").msg(2, rolling);
  Msg spec;
  spec.varint(1, 0).msg(3, tmpl).msg(4, strategy).varint(5, 0);  // replicas 0 (a pointer: kept), minReadySeconds 0
  Msg dep;
  dep.msg(1, meta).msg(2, spec);
  auto r = decodeProtobuf(envelope("apps/v1", "Deployment", dep));
  ASSERT_TRUE(r.isOk()) << r.status().message();
  const Json& s = (*r)["spec"];
  EXPECT_EQ(s["replicas"], 0);
  EXPECT_FALSE(s.contains("minReadySeconds"));
  EXPECT_EQ(s["strategy"]["rollingUpdate"]["maxSurge"], "25%");
  const Json& c = s["template"]["spec"]["containers"][0];
  EXPECT_EQ(c["ports"], Json::parse(R"([{"containerPort":80,"protocol":"TCP"}])"));
  EXPECT_EQ(c["resources"]["limits"]["cpu"], "500m");
  EXPECT_FALSE(c.contains("stdin"));
  EXPECT_EQ(s["template"]["metadata"]["labels"]["app"], "web");
}

TEST(Protobuf, SecretBytesBecomeBase64) {
  Msg meta;
  meta.bytes(1, "s");
  Msg secret;
  secret.msg(1, meta).msg(2, entry("password", std::string("\x00\xff", 2)));
  auto r = decodeProtobuf(envelope("v1", "Secret", secret));
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ((*r)["data"]["password"], "AP8=");
}

TEST(Protobuf, BadBodiesAreBadRequests) {
  Msg cm;
  cm.bytes(1, "x");
  std::string good = envelope("v1", "ConfigMap", cm);
  for (const std::string& body :
       {std::string("not protobuf"), std::string("k8s\0", 4), good.substr(0, good.size() - 1),
        envelope("v1", "NoSuchKind", cm), envelope("example.com/v1", "ConfigMap", cm),
        std::string("k8s\0\x0a\xff\xff\xff\xff\x0f", 10)}) {
    auto r = decodeProtobuf(body);
    ASSERT_FALSE(r.isOk()) << body.size();
    EXPECT_EQ(r.status().code(), Code::kBadRequest);
  }
  // A metadata field of the wrong wire type.
  Msg wrong;
  wrong.varint(1, 5);
  auto r = decodeProtobuf(envelope("v1", "ConfigMap", wrong));
  EXPECT_FALSE(r.isOk());
}

TEST(Protobuf, FieldTableCoversEveryServedKind) {
  const auto& fields = ProtobufFields::builtin();
  for (const char* def : {"io.k8s.api.core.v1.Pod", "io.k8s.api.apps.v1.Deployment", "io.k8s.api.batch.v1.CronJob",
                          "io.k8s.api.networking.v1.Ingress", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"})
    EXPECT_NE(fields.field(def, 1), nullptr) << def;
  const auto* volume_source = fields.field("io.k8s.api.core.v1.Volume", 2);
  ASSERT_NE(volume_source, nullptr);
  EXPECT_EQ(volume_source->inline_type, "io.k8s.api.core.v1.VolumeSource");
}

}  // namespace
}  // namespace capstan::api
