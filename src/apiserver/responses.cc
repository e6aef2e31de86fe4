#include "apiserver/responses.h"

namespace capstan::apiserver {

Json statusObject(const Status& st) {
  Json j = {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Failure"},
            {"message", st.message()},
            {"reason", st.reason_override.empty() ? reasonOf(st.code()) : st.reason_override},
            {"code", httpCode(st.code())}};
  Json details = Json::object();
  if (!st.details_name.empty()) details["name"] = st.details_name;
  if (!st.details_group.empty()) details["group"] = st.details_group;
  if (!st.details_kind.empty()) details["kind"] = st.details_kind;
  if (!st.causes.empty()) {
    Json causes = Json::array();
    for (const auto& c : st.causes) {
      Json cj = {{"reason", c.reason}, {"message", c.message}};
      if (!c.field.empty()) cj["field"] = c.field;
      causes.push_back(std::move(cj));
    }
    details["causes"] = std::move(causes);
  }
  if (!details.empty()) j["details"] = std::move(details);
  return j;
}

Response errorResponse(const Status& st) {
  Response r;
  r.status = httpCode(st.code());
  // Messages may quote client input; replace invalid UTF-8 rather than throw.
  r.body = statusObject(st).dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

Response jsonResponse(int code, std::string body) {
  Response r;
  r.status = code;
  r.body = std::move(body);
  return r;
}

Response successStatus(const std::string& name, const std::string& group, const std::string& kind) {
  Json j = {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Success"},
            {"details", {{"name", name}, {"group", group}, {"kind", kind}}}};
  return jsonResponse(200, j.dump());
}

std::string warningHeader(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return "299 - \"" + escaped + "\"";
}

namespace {
// Details as upstream fills them: name, and the resource split into kind
// (the plural) and group.
Status withDetails(Status st, const std::string& qualified_resource, const std::string& name) {
  auto dot = qualified_resource.find('.');
  st.details_name = name;
  st.details_kind = qualified_resource.substr(0, dot);
  if (dot != std::string::npos) st.details_group = qualified_resource.substr(dot + 1);
  return st;
}
}  // namespace

Status notFound(const std::string& qualified_resource, const std::string& name) {
  return withDetails(Status(Code::kNotFound, qualified_resource + " \"" + name + "\" not found"), qualified_resource, name);
}

Status alreadyExists(const std::string& qualified_resource, const std::string& name) {
  return withDetails(Status(Code::kAlreadyExists, qualified_resource + " \"" + name + "\" already exists"),
                     qualified_resource, name);
}

Status conflict(const std::string& qualified_resource, const std::string& name, const std::string& why) {
  return withDetails(Status(Code::kConflict, "Operation cannot be fulfilled on " + qualified_resource + " \"" + name + "\": " + why),
                     qualified_resource, name);
}

Status badRequest(const std::string& message) { return Status(Code::kBadRequest, message); }

}  // namespace capstan::apiserver
