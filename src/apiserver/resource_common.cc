#include <algorithm>

#include "api/protobuf.h"
#include "apiserver/resources.h"

namespace capstan::apiserver {

bool wantsTable(const Request& req) {
  std::string accept = req.header("accept");
  return accept.find("as=Table") != std::string::npos;
}

api::IncludeObject includeObjectParam(const Request& req) {
  std::string v = req.param("includeObject");
  if (v == "None") return api::IncludeObject::kNone;
  if (v == "Object") return api::IncludeObject::kObject;
  return api::IncludeObject::kMetadata;
}

Result<Json> decodeBody(const Request& req, std::vector<std::string>* duplicates) {
  if (req.body_object) {
    // From an in-process client: already a document, and nobody else's.
    if (req.body_object->is_discarded()) return Status(Code::kBadRequest, "request body is empty");
    Json taken = std::move(*req.body_object);
    *req.body_object = Json(Json::value_t::discarded);
    return taken;
  }
  std::string ct = req.header("content-type");
  auto semi = ct.find(';');
  std::string media = semi == std::string::npos ? ct : ct.substr(0, semi);
  media.erase(std::remove(media.begin(), media.end(), ' '), media.end());
  if (req.body.empty()) return Status(Code::kBadRequest, "request body is empty");
  if (media.empty() || media == "application/json" || media == "*/*") return parseJson(req.body, duplicates);
  if (media == "application/yaml" || media == "application/x-yaml" || media == "text/yaml") return parseYaml(req.body);
  // kubectl 1.32+ and client-go's typed clients send protobuf.
  if (media == api::kProtobufMediaType) return api::decodeProtobuf(req.body);
  Status st(Code::kUnsupportedMediaType,
            "the body of the request was in an unknown format (" + media +
                ") - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf");
  return st;
}

Json withResourceVersion(Json obj, int64_t revision) {
  obj["metadata"]["resourceVersion"] = std::to_string(revision);
  return obj;
}

bool acceptable(const Request& req) {
  std::string accept = req.header("accept");
  if (accept.empty()) return true;
  // Any of the media types we answer (JSON in every case: tables, lists and
  // objects; protobuf is asked for only alongside JSON).
  for (const char* ok : {"application/json", "*/*", "application/*", "application/yaml",
                         "application/vnd.kubernetes.protobuf"})
    if (accept.find(ok) != std::string::npos) return true;
  return false;
}

bool isDryRun(const Request& req) {
  for (const auto& [k, v] : req.query)
    if (k == "dryRun" && v == "All") return true;
  return false;
}

}  // namespace capstan::apiserver
