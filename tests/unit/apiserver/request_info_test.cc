// parseRequestInfo against k8s.io/apiserver/pkg/endpoints/request
// RequestInfoFactory.NewRequestInfo (and its requestinfo_test.go cases).
#include "apiserver/request_info.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace capstan::apiserver {

// Printed by gtest on failure.
void PrintTo(const RequestInfo& ri, std::ostream* os) {
  *os << "{resource=" << ri.is_resource << " group=" << ri.group << " version=" << ri.version
      << " resource=" << ri.resource << " subresource=" << ri.subresource << " ns=" << ri.ns
      << " name=" << ri.name << " verb=" << ri.verb << "}";
}

namespace {

struct RequestInfoCase {
  std::string name;
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  RequestInfo expected;
};

void PrintTo(const RequestInfoCase& c, std::ostream* os) { *os << c.name; }

RequestInfo resource(std::string group, std::string version, std::string resource, std::string subresource,
                     std::string ns, std::string name, std::string verb) {
  RequestInfo ri;
  ri.is_resource = true;
  ri.group = std::move(group);
  ri.version = std::move(version);
  ri.resource = std::move(resource);
  ri.subresource = std::move(subresource);
  ri.ns = std::move(ns);
  ri.name = std::move(name);
  ri.verb = std::move(verb);
  return ri;
}

RequestInfo nonResource() { return RequestInfo{}; }

class ParseRequestInfo : public ::testing::TestWithParam<RequestInfoCase> {};

TEST_P(ParseRequestInfo, MatchesRequestInfoFactory) {
  const auto& c = GetParam();
  Request req;
  req.method = c.method;
  req.path = c.path;
  req.target = c.path;
  req.query = c.query;
  RequestInfo got = parseRequestInfo(req);
  const RequestInfo& want = c.expected;
  EXPECT_EQ(got.is_resource, want.is_resource) << c.method << " " << c.path;
  if (!want.is_resource) return;  // the rest is unspecified for non-resource paths
  EXPECT_EQ(got.group, want.group) << c.path;
  EXPECT_EQ(got.version, want.version) << c.path;
  EXPECT_EQ(got.resource, want.resource) << c.path;
  EXPECT_EQ(got.subresource, want.subresource) << c.path;
  EXPECT_EQ(got.ns, want.ns) << c.path;
  EXPECT_EQ(got.name, want.name) << c.path;
  EXPECT_EQ(got.verb, want.verb) << c.method << " " << c.path;
}

const RequestInfoCase kCases[] = {
    // Namespaces are addressed as namespaces/NAME, and the request's
    // namespace is the namespace itself (upstream: Namespace "other" for
    // GET /api/v1/namespaces/other), so namespaced RBAC applies to it.
    {"ListNamespaces", "GET", "/api/v1/namespaces", {}, resource("", "v1", "namespaces", "", "", "", "list")},
    {"GetNamespace",
     "GET",
     "/api/v1/namespaces/foo",
     {},
     resource("", "v1", "namespaces", "", "foo", "foo", "get")},
    {"DeleteNamespace",
     "DELETE",
     "/api/v1/namespaces/foo",
     {},
     resource("", "v1", "namespaces", "", "foo", "foo", "delete")},
    {"NamespaceStatus",
     "PUT",
     "/api/v1/namespaces/foo/status",
     {},
     resource("", "v1", "namespaces", "status", "foo", "foo", "update")},
    {"NamespaceFinalize",
     "PUT",
     "/api/v1/namespaces/foo/finalize",
     {},
     resource("", "v1", "namespaces", "finalize", "foo", "foo", "update")},
    {"CreateNamespace",
     "POST",
     "/api/v1/namespaces",
     {},
     resource("", "v1", "namespaces", "", "", "", "create")},
    {"DeleteAllNamespaces",
     "DELETE",
     "/api/v1/namespaces",
     {},
     resource("", "v1", "namespaces", "", "", "", "deletecollection")},

    // Namespaced core resources.
    {"ListPodsInNamespace",
     "GET",
     "/api/v1/namespaces/foo/pods",
     {},
     resource("", "v1", "pods", "", "foo", "", "list")},
    {"HeadListPods",
     "HEAD",
     "/api/v1/namespaces/foo/pods",
     {},
     resource("", "v1", "pods", "", "foo", "", "list")},
    {"GetPod",
     "GET",
     "/api/v1/namespaces/foo/pods/bar",
     {},
     resource("", "v1", "pods", "", "foo", "bar", "get")},
    {"HeadPod",
     "HEAD",
     "/api/v1/namespaces/foo/pods/bar",
     {},
     resource("", "v1", "pods", "", "foo", "bar", "get")},
    {"CreatePod",
     "POST",
     "/api/v1/namespaces/foo/pods",
     {},
     resource("", "v1", "pods", "", "foo", "", "create")},
    {"UpdatePod",
     "PUT",
     "/api/v1/namespaces/foo/pods/bar",
     {},
     resource("", "v1", "pods", "", "foo", "bar", "update")},
    {"PatchPod",
     "PATCH",
     "/api/v1/namespaces/foo/pods/bar",
     {},
     resource("", "v1", "pods", "", "foo", "bar", "patch")},
    {"DeletePod",
     "DELETE",
     "/api/v1/namespaces/foo/pods/bar",
     {},
     resource("", "v1", "pods", "", "foo", "bar", "delete")},
    {"DeletePodCollection",
     "DELETE",
     "/api/v1/namespaces/foo/pods",
     {},
     resource("", "v1", "pods", "", "foo", "", "deletecollection")},
    {"GetPodStatus",
     "GET",
     "/api/v1/namespaces/foo/pods/bar/status",
     {},
     resource("", "v1", "pods", "status", "foo", "bar", "get")},
    {"PatchPodStatus",
     "PATCH",
     "/api/v1/namespaces/foo/pods/bar/status",
     {},
     resource("", "v1", "pods", "status", "foo", "bar", "patch")},
    {"CreatePodBinding",
     "POST",
     "/api/v1/namespaces/foo/pods/bar/binding",
     {},
     resource("", "v1", "pods", "binding", "foo", "bar", "create")},
    {"CreatePodEviction",
     "POST",
     "/api/v1/namespaces/foo/pods/bar/eviction",
     {},
     resource("", "v1", "pods", "eviction", "foo", "bar", "create")},
    {"GetPodLog",
     "GET",
     "/api/v1/namespaces/foo/pods/bar/log",
     {{"container", "app"}},
     resource("", "v1", "pods", "log", "foo", "bar", "get")},
    // Parts after the subresource are not interpreted ("proxy/subpath").
    {"PodProxySubpath",
     "GET",
     "/api/v1/namespaces/foo/pods/bar/proxy/metrics",
     {},
     resource("", "v1", "pods", "proxy", "foo", "bar", "get")},

    // Cluster-scoped and all-namespaces.
    {"ListPodsAllNamespaces", "GET", "/api/v1/pods", {}, resource("", "v1", "pods", "", "", "", "list")},
    {"GetNode", "GET", "/api/v1/nodes/n1", {}, resource("", "v1", "nodes", "", "", "n1", "get")},
    {"DeleteNodeCollection",
     "DELETE",
     "/api/v1/nodes",
     {},
     resource("", "v1", "nodes", "", "", "", "deletecollection")},
    {"NodeStatus",
     "PATCH",
     "/api/v1/nodes/n1/status",
     {},
     resource("", "v1", "nodes", "status", "", "n1", "patch")},

    // Groups.
    {"ListDeploymentsClusterWide",
     "GET",
     "/apis/apps/v1/deployments",
     {},
     resource("apps", "v1", "deployments", "", "", "", "list")},
    {"GetDeployment",
     "GET",
     "/apis/apps/v1/namespaces/ns/deployments/d",
     {},
     resource("apps", "v1", "deployments", "", "ns", "d", "get")},
    {"GetDeploymentScale",
     "GET",
     "/apis/apps/v1/namespaces/ns/deployments/d/scale",
     {},
     resource("apps", "v1", "deployments", "scale", "ns", "d", "get")},
    {"UpdateDeploymentScale",
     "PUT",
     "/apis/apps/v1/namespaces/ns/deployments/d/scale",
     {},
     resource("apps", "v1", "deployments", "scale", "ns", "d", "update")},
    {"PatchDeploymentScale",
     "PATCH",
     "/apis/apps/v1/namespaces/ns/deployments/d/scale",
     {},
     resource("apps", "v1", "deployments", "scale", "ns", "d", "patch")},
    {"DeleteJobCollection",
     "DELETE",
     "/apis/batch/v1/namespaces/ns/jobs",
     {},
     resource("batch", "v1", "jobs", "", "ns", "", "deletecollection")},
    {"ClusterRole",
     "GET",
     "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin",
     {},
     resource("rbac.authorization.k8s.io", "v1", "clusterroles", "", "", "admin", "get")},
    {"LeaseUpdate",
     "PUT",
     "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1",
     {},
     resource("coordination.k8s.io", "v1", "leases", "", "kube-node-lease", "n1", "update")},

    // Watch: by query parameter, or by the deprecated /watch/ prefix.
    {"WatchByParam",
     "GET",
     "/api/v1/namespaces/x/pods",
     {{"watch", "true"}},
     resource("", "v1", "pods", "", "x", "", "watch")},
    {"WatchByParamOne",
     "GET",
     "/api/v1/namespaces/x/pods",
     {{"watch", "1"}},
     resource("", "v1", "pods", "", "x", "", "watch")},
    {"WatchFalseIsList",
     "GET",
     "/api/v1/namespaces/x/pods",
     {{"watch", "false"}},
     resource("", "v1", "pods", "", "x", "", "list")},
    {"WatchZeroIsList",
     "GET",
     "/api/v1/namespaces/x/pods",
     {{"watch", "0"}},
     resource("", "v1", "pods", "", "x", "", "list")},
    {"WatchAllNamespacesByParam",
     "GET",
     "/apis/apps/v1/deployments",
     {{"watch", "true"}, {"resourceVersion", "10"}},
     resource("apps", "v1", "deployments", "", "", "", "watch")},
    {"WatchPrefix",
     "GET",
     "/api/v1/watch/namespaces/x/pods",
     {},
     resource("", "v1", "pods", "", "x", "", "watch")},
    {"WatchPrefixAllNamespaces",
     "GET",
     "/api/v1/watch/pods",
     {},
     resource("", "v1", "pods", "", "", "", "watch")},
    {"WatchPrefixOneObject",
     "GET",
     "/api/v1/watch/namespaces/x/pods/p",
     {},
     resource("", "v1", "pods", "", "x", "p", "watch")},
    {"WatchPrefixGroup",
     "GET",
     "/apis/apps/v1/watch/namespaces/x/deployments",
     {},
     resource("apps", "v1", "deployments", "", "x", "", "watch")},
    {"WatchPrefixNamespaces",
     "GET",
     "/api/v1/watch/namespaces",
     {},
     resource("", "v1", "namespaces", "", "", "", "watch")},

    // A list or watch narrowed to one name by fieldSelector=metadata.name=
    // is authorized as that name (RBAC resourceNames).
    {"ListByMetadataNameSelector",
     "GET",
     "/api/v1/namespaces/x/configmaps",
     {{"fieldSelector", "metadata.name=cm1"}},
     resource("", "v1", "configmaps", "", "x", "cm1", "list")},
    {"WatchByMetadataNameSelector",
     "GET",
     "/api/v1/namespaces/x/configmaps",
     {{"watch", "true"}, {"fieldSelector", "metadata.name=cm1"}},
     resource("", "v1", "configmaps", "", "x", "cm1", "watch")},
    {"OtherFieldSelectorKeepsNoName",
     "GET",
     "/api/v1/pods",
     {{"fieldSelector", "spec.nodeName=n1"}},
     resource("", "v1", "pods", "", "", "", "list")},

    // Not resources.
    {"Root", "GET", "/", {}, nonResource()},
    {"Api", "GET", "/api", {}, nonResource()},
    {"ApiV1", "GET", "/api/v1", {}, nonResource()},
    {"ApiV1Slash", "GET", "/api/v1/", {}, nonResource()},
    {"Apis", "GET", "/apis", {}, nonResource()},
    {"ApisGroup", "GET", "/apis/apps", {}, nonResource()},
    {"ApisGroupVersion", "GET", "/apis/apps/v1", {}, nonResource()},
    {"ApisGroupVersionSlash", "GET", "/apis/apps/v1/", {}, nonResource()},
    {"Healthz", "GET", "/healthz", {}, nonResource()},
    {"Livez", "GET", "/livez", {}, nonResource()},
    {"Readyz", "GET", "/readyz/etcd", {}, nonResource()},
    {"Version", "GET", "/version", {}, nonResource()},
    {"OpenAPI", "GET", "/openapi/v2", {}, nonResource()},
    {"Metrics", "GET", "/metrics", {}, nonResource()},
    {"BadPrefix", "GET", "/badprefix/v1/pods", {}, nonResource()},
};

INSTANTIATE_TEST_SUITE_P(Paths, ParseRequestInfo, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace capstan::apiserver
