#include "apiserver/kubernetes_service.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <vector>

#include "common/json.h"
#include "common/net_address.h"

namespace capstan::apiserver {
namespace {

Json metadata(Json labels) {
  return {{"name", "kubernetes"}, {"namespace", "default"}, {"labels", std::move(labels)}};
}

Json service(const KubernetesServiceTarget& t) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", metadata({{"component", "apiserver"}, {"provider", "kubernetes"}})},
      {"spec",
       {{"clusterIP", t.cluster_ip},
        {"ports",
         Json::array({{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}, {"targetPort", t.port}}})}}}};
}

Json endpoints(const KubernetesServiceTarget& t) {
  return {{"apiVersion", "v1"},
          {"kind", "Endpoints"},
          // skip-mirror: the API server writes the EndpointSlice itself.
          {"metadata", metadata({{"endpointslice.kubernetes.io/skip-mirror", "true"}})},
          {"subsets",
           Json::array(
               {{{"addresses", Json::array({{{"ip", t.address}}})},
                 {"ports", Json::array({{{"name", "https"}, {"port", t.port}, {"protocol", "TCP"}}})}}})}};
}

// Labelled with the service name only: no managed-by label, as upstream's,
// so that no EndpointSlice controller takes it for its own.
Json endpointSlice(const KubernetesServiceTarget& t) {
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata", metadata({{"kubernetes.io/service-name", "kubernetes"}})},
          {"addressType", "IPv4"},
          {"endpoints",
           Json::array({{{"addresses", Json::array({t.address})}, {"conditions", {{"ready", true}}}}})},
          {"ports", Json::array({{{"name", "https"}, {"port", t.port}, {"protocol", "TCP"}}})}};
}

// Creates `want` in `collection`, or copies its `owned` fields over the
// stored object of that name when they differ, keeping the rest (the
// Service's ClusterIP, the metadata).
Status createOrUpdate(const CallFn& call, const std::string& collection, const Json& want,
                      const std::vector<Json::json_pointer>& owned) {
  const std::string kind = want["kind"].get<std::string>();
  auto failed = [&kind](const Response& r) {
    return Status(Code::kInternal, fmt::format("bootstrap {} default/kubernetes: {}", kind, r.body));
  };
  const std::string path = collection + "/kubernetes";
  Response got = call("GET", path, "");
  if (got.status == 404) {
    Response r = call("POST", collection, want.dump());
    return r.status == 201 ? Status::ok() : failed(r);
  }
  if (got.status != 200) return failed(got);
  auto current = parseJson(got.body);
  if (!current) return current.status();
  Json updated = *current;
  for (const auto& field : owned) updated[field] = want[field];
  if (updated == *current) return Status::ok();
  Response r = call("PUT", path, updated.dump());
  return r.status == 200 ? Status::ok() : failed(r);
}

}  // namespace

std::string defaultAdvertiseAddress(const std::string& bind_address) {
  in_addr a{};
  if (::inet_pton(AF_INET, bind_address.c_str(), &a) == 1 && a.s_addr != htonl(INADDR_ANY) &&
      (ntohl(a.s_addr) >> 24) != 127)
    return bind_address;
  return firstHostIpv4();
}

Status ensureKubernetesService(const CallFn& call, const KubernetesServiceTarget& target) {
  using Ptr = Json::json_pointer;
  Status st =
      createOrUpdate(call, "/api/v1/namespaces/default/services", service(target), {Ptr("/spec/ports")});
  if (!st || target.address.empty()) return st;
  st = createOrUpdate(call, "/api/v1/namespaces/default/endpoints", endpoints(target),
                      {Ptr("/metadata/labels"), Ptr("/subsets")});
  if (!st) return st;
  return createOrUpdate(call, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
                        endpointSlice(target), {Ptr("/metadata/labels"), Ptr("/endpoints"), Ptr("/ports")});
}

}  // namespace capstan::apiserver
