#pragma once
// Kubernetes' protobuf encoding of request bodies, which kubectl 1.32+ and
// client-go's typed clients send (Content-Type
// application/vnd.kubernetes.protobuf): the 4-byte magic "k8s\0", then a
// runtime.Unknown whose typeMeta names the kind and whose raw bytes are the
// object's message. The object is decoded into the same JSON the JSON
// encoding would have given: field numbers from src/api/protobuf/fields.yaml
// (generated from upstream's struct tags), field shapes from our schemas
// (api/schema.h), and upstream's special messages (Time, MicroTime,
// Quantity, IntOrString, RawExtension, FieldsV1) turned into their JSON
// forms. Fields Go omits when zero (omitempty, not pointers) are left out,
// as decoding into Go and encoding JSON would.

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "api/schema.h"
#include "common/json.h"
#include "common/status.h"

namespace capstan::api {

inline constexpr std::string_view kProtobufMediaType = "application/vnd.kubernetes.protobuf";

// The field numbers of every message, by definition name.
class ProtobufFields {
 public:
  struct Field {
    std::string json_name;   // "" for an inline (embedded) struct
    bool omit_zero = false;  // omitempty on a non-pointer Go field
    std::string inline_type; // the embedded struct's definition name
  };

  static const ProtobufFields& builtin();
  static Result<ProtobufFields> load(std::string_view yaml);

  // nullptr when the message or the number is unknown.
  const Field* field(std::string_view message, int number) const;

 private:
  std::map<std::string, std::map<int, Field>, std::less<>> messages_;
};

// Decodes a protobuf request body into a JSON object with apiVersion and
// kind. BadRequest for malformed bodies, kinds without a schema, or bytes
// that do not fit the kind's fields.
Result<Json> decodeProtobuf(std::string_view body, const Schemas& schemas = Schemas::builtin(),
                            const ProtobufFields& fields = ProtobufFields::builtin());

}  // namespace capstan::api
