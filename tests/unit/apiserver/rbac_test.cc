// RBAC authorization (rbac.authorization.k8s.io/v1) over policy objects
// held in memory, plus the access reviews and impersonation built on it.
#include "apiserver/rbac.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>

#include "apiserver/access_review.h"

namespace capstan::apiserver {
namespace {

constexpr const char* kPrefix = "/registry/rbac.authorization.k8s.io/";

// The policy store: objects by key, listed by prefix as the cache does.
class Policy {
 public:
  void add(const std::string& resource, const Json& obj) {
    const Json& meta = obj["metadata"];
    std::string key = std::string(kPrefix) + resource + "/";
    if (meta.contains("namespace")) key += meta["namespace"].get<std::string>() + "/";
    key += meta["name"].get<std::string>();
    auto o = std::make_shared<CachedObject>();
    o->key = key;
    o->obj = obj;
    objects_[key] = o;
  }
  void remove(const std::string& resource, const std::string& key_tail) {
    objects_.erase(std::string(kPrefix) + resource + "/" + key_tail);
  }
  RbacAuthorizer authorizer() const {
    return RbacAuthorizer(
        [this](const std::string& prefix) {
          std::vector<ObjectPtr> out;
          for (auto it = objects_.lower_bound(prefix); it != objects_.end() && it->first.rfind(prefix, 0) == 0; ++it)
            out.push_back(it->second);
          return out;
        },
        [this](const std::string& key) -> ObjectPtr {
          auto it = objects_.find(key);
          return it == objects_.end() ? nullptr : it->second;
        });
  }

 private:
  std::map<std::string, ObjectPtr> objects_;
};

Json role(const std::string& kind, const std::string& name, const std::string& ns, Json rules) {
  Json meta = {{"name", name}};
  if (!ns.empty()) meta["namespace"] = ns;
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"}, {"kind", kind}, {"metadata", meta}, {"rules", rules}};
}

Json binding(const std::string& kind, const std::string& name, const std::string& ns, const std::string& role_kind,
             const std::string& role_name, Json subjects) {
  Json meta = {{"name", name}};
  if (!ns.empty()) meta["namespace"] = ns;
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", kind},
          {"metadata", meta},
          {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", role_kind}, {"name", role_name}}},
          {"subjects", subjects}};
}

Json user(const std::string& name) { return {{"kind", "User"}, {"name", name}, {"apiGroup", "rbac.authorization.k8s.io"}}; }

AccessAttributes res(std::string verb, std::string group, std::string resource, std::string ns = "",
                     std::string name = "", std::string sub = "") {
  return AccessAttributes::onResource(std::move(verb), std::move(group), std::move(resource), std::move(ns),
                                      std::move(name), std::move(sub));
}

AccessAttributes path(std::string verb, std::string p) {
  AccessAttributes a;
  a.verb = std::move(verb);
  a.path = std::move(p);
  return a;
}

// As the server authenticates them: everyone signed in is in system:authenticated.
const UserInfo kAlice{"alice", "", {"dev", "system:authenticated"}};
bool holds(const Json& role, const Json& rule) {
  const Json& rules = role["rules"];
  return std::find(rules.begin(), rules.end(), rule) != rules.end();
}

const UserInfo kSa{"system:serviceaccount:team:bot", "", {"system:serviceaccounts", "system:serviceaccounts:team"}};

TEST(RbacRule, MatchesVerbsGroupsResourcesAndNames) {
  Json r = Json::parse(R"({"apiGroups":["","apps"],"resources":["pods","deployments/scale"],"verbs":["get","list"]})");
  EXPECT_TRUE(ruleAllows(r, res("get", "", "pods", "ns")));
  EXPECT_TRUE(ruleAllows(r, res("list", "apps", "pods")));
  EXPECT_FALSE(ruleAllows(r, res("delete", "", "pods", "ns")));
  EXPECT_FALSE(ruleAllows(r, res("get", "batch", "pods", "ns")));
  // A subresource is its own resource: pods does not cover pods/log.
  EXPECT_FALSE(ruleAllows(r, res("get", "", "pods", "ns", "p", "log")));
  EXPECT_TRUE(ruleAllows(r, res("get", "apps", "deployments", "ns", "d", "scale")));
  EXPECT_FALSE(ruleAllows(r, res("get", "apps", "deployments", "ns", "d")));

  Json wild = Json::parse(R"({"apiGroups":["*"],"resources":["*/scale"],"verbs":["*"]})");
  EXPECT_TRUE(ruleAllows(wild, res("update", "apps", "statefulsets", "ns", "s", "scale")));
  EXPECT_FALSE(ruleAllows(wild, res("update", "apps", "statefulsets", "ns", "s")));
  EXPECT_FALSE(ruleAllows(wild, res("update", "apps", "statefulsets", "ns", "s", "status")));

  Json named = Json::parse(R"({"apiGroups":[""],"resources":["configmaps"],"resourceNames":["cfg"],"verbs":["get","update"]})");
  EXPECT_TRUE(ruleAllows(named, res("get", "", "configmaps", "ns", "cfg")));
  EXPECT_FALSE(ruleAllows(named, res("get", "", "configmaps", "ns", "other")));
  EXPECT_FALSE(ruleAllows(named, res("get", "", "configmaps", "ns")));  // a list names nothing

  // A resource rule never covers a path, nor a path rule a resource.
  EXPECT_FALSE(ruleAllows(wild, path("get", "/healthz")));
  Json urls = Json::parse(R"({"nonResourceURLs":["/healthz","/apis/*"],"verbs":["get"]})");
  EXPECT_TRUE(ruleAllows(urls, path("get", "/healthz")));
  EXPECT_TRUE(ruleAllows(urls, path("get", "/apis/apps/v1")));
  EXPECT_FALSE(ruleAllows(urls, path("get", "/healthz/etcd")));
  EXPECT_FALSE(ruleAllows(urls, path("post", "/healthz")));
  EXPECT_FALSE(ruleAllows(urls, res("get", "", "pods")));
  // Malformed rules allow nothing.
  EXPECT_FALSE(ruleAllows(Json::parse(R"({"verbs":"get"})"), path("get", "/")));
  EXPECT_FALSE(ruleAllows(Json::parse(R"([1,2])"), path("get", "/")));
}

TEST(RbacSubject, MatchesUsersGroupsAndServiceAccounts) {
  EXPECT_TRUE(subjectMatches(user("alice"), kAlice, ""));
  EXPECT_FALSE(subjectMatches(user("bob"), kAlice, ""));
  EXPECT_TRUE(subjectMatches(Json::parse(R"({"kind":"Group","name":"dev"})"), kAlice, ""));
  EXPECT_TRUE(subjectMatches(Json::parse(R"({"kind":"Group","name":"system:authenticated"})"), kAlice, ""));
  // Groups are what the user carries, nothing implied (a SubjectAccessReview
  // may ask about an anonymous user).
  EXPECT_FALSE(subjectMatches(Json::parse(R"({"kind":"Group","name":"system:authenticated"})"),
                              UserInfo{"system:anonymous", "", {"system:unauthenticated"}}, ""));
  // An empty namespace is the binding's, as an absent one.
  EXPECT_TRUE(subjectMatches(Json::parse(R"({"kind":"ServiceAccount","name":"bot","namespace":""})"), kSa, "team"));
  EXPECT_FALSE(subjectMatches(Json::parse(R"({"kind":"Group","name":"ops"})"), kAlice, ""));
  EXPECT_TRUE(subjectMatches(Json::parse(R"({"kind":"ServiceAccount","name":"bot","namespace":"team"})"), kSa, ""));
  // Without a namespace, a service account subject is the binding's own.
  EXPECT_TRUE(subjectMatches(Json::parse(R"({"kind":"ServiceAccount","name":"bot"})"), kSa, "team"));
  EXPECT_FALSE(subjectMatches(Json::parse(R"({"kind":"ServiceAccount","name":"bot"})"), kSa, "other"));
  EXPECT_TRUE(subjectMatches(Json::parse(R"({"kind":"Group","name":"system:serviceaccounts:team"})"), kSa, ""));
}

TEST(RbacAuthorizer, ClusterBindingsGrantEverywhereRoleBindingsOnlyInTheirNamespace) {
  Policy p;
  p.add("clusterroles", role("ClusterRole", "pod-reader", "",
                             Json::parse(R"([{"apiGroups":[""],"resources":["pods"],"verbs":["get","list"]}])")));
  p.add("roles", role("Role", "cm-writer", "team",
                      Json::parse(R"([{"apiGroups":[""],"resources":["configmaps"],"verbs":["create"]}])")));
  p.add("rolebindings", binding("RoleBinding", "read", "team", "ClusterRole", "pod-reader", Json::array({user("alice")})));
  p.add("rolebindings", binding("RoleBinding", "write", "team", "Role", "cm-writer",
                                Json::parse(R"([{"kind":"ServiceAccount","name":"bot"}])")));
  auto authz = p.authorizer();

  auto d = authz.authorize(kAlice, res("list", "", "pods", "team"));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason,
            "RBAC: allowed by RoleBinding \"read\" of ClusterRole \"pod-reader\" to User \"alice\" in namespace \"team\"");
  EXPECT_FALSE(authz.authorize(kAlice, res("list", "", "pods", "other")).allowed);
  EXPECT_FALSE(authz.authorize(kAlice, res("list", "", "pods")).allowed);  // all namespaces
  EXPECT_FALSE(authz.authorize(kAlice, res("create", "", "configmaps", "team")).allowed);
  EXPECT_TRUE(authz.authorize(kSa, res("create", "", "configmaps", "team")).allowed);
  EXPECT_FALSE(authz.authorize(kSa, res("list", "", "pods", "team")).allowed);

  p.add("clusterrolebindings",
        binding("ClusterRoleBinding", "dev-read", "", "ClusterRole", "pod-reader",
                Json::parse(R"([{"kind":"Group","name":"dev"}])")));
  authz = p.authorizer();
  d = authz.authorize(kAlice, res("list", "", "pods"));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, "RBAC: allowed by ClusterRoleBinding \"dev-read\" of ClusterRole \"pod-reader\" to Group \"dev\"");

  // A binding whose role is gone grants nothing; a RoleBinding cannot name
  // another namespace's Role.
  p.remove("clusterroles", "pod-reader");
  authz = p.authorizer();
  EXPECT_FALSE(authz.authorize(kAlice, res("list", "", "pods", "team")).allowed);
  p.add("rolebindings", binding("RoleBinding", "cross", "other", "Role", "cm-writer", Json::array({user("alice")})));
  EXPECT_FALSE(p.authorizer().authorize(kAlice, res("create", "", "configmaps", "other")).allowed);
}

TEST(RbacAuthorizer, MastersNeedNoBinding) {
  Policy p;
  auto d = p.authorizer().authorize(UserInfo{"system:admin", "", {"system:masters"}}, res("delete", "", "nodes", "", "n1"));
  EXPECT_TRUE(d.allowed);
  EXPECT_FALSE(p.authorizer().authorize(kAlice, path("get", "/metrics")).allowed);
}

TEST(RbacAuthorizer, BootstrapPolicyGrantsWhatUpstreamsDefaultsGrant) {
  Policy p;
  for (const Json& obj : bootstrapPolicy())
    p.add(obj["kind"] == "ClusterRole" ? "clusterroles" : "clusterrolebindings", obj);
  auto authz = p.authorizer();
  // Every authenticated user: discovery, health, version, whoami and can-i.
  for (const char* u : {"/api", "/apis/apps/v1", "/version", "/healthz", "/openapi/v3"})
    EXPECT_TRUE(authz.authorize(kAlice, path("get", u)).allowed) << u;
  EXPECT_FALSE(authz.authorize(kAlice, path("get", "/metrics")).allowed);
  EXPECT_TRUE(authz.authorize(kAlice, res("create", "authorization.k8s.io", "selfsubjectaccessreviews")).allowed);
  EXPECT_TRUE(authz.authorize(kAlice, res("create", "authentication.k8s.io", "selfsubjectreviews")).allowed);
  EXPECT_FALSE(authz.authorize(kAlice, res("list", "", "pods", "default")).allowed);
  // Nodes act for their pods.
  EXPECT_TRUE(authz.authorize(UserInfo{"capstan:agent", "", {"system:nodes"}}, res("get", "", "secrets", "a", "s")).allowed);

  // view reads but never secrets; edit writes and execs; admin manages roles.
  p.add("rolebindings", binding("RoleBinding", "v", "team", "ClusterRole", "view", Json::array({user("viewer")})));
  p.add("rolebindings", binding("RoleBinding", "e", "team", "ClusterRole", "edit", Json::array({user("editor")})));
  p.add("rolebindings", binding("RoleBinding", "a", "team", "ClusterRole", "admin", Json::array({user("boss")})));
  authz = p.authorizer();
  UserInfo viewer{"viewer", "", {}}, editor{"editor", "", {}}, boss{"boss", "", {}};
  EXPECT_TRUE(authz.authorize(viewer, res("list", "apps", "deployments", "team")).allowed);
  EXPECT_TRUE(authz.authorize(viewer, res("get", "", "pods", "team", "p", "log")).allowed);
  EXPECT_FALSE(authz.authorize(viewer, res("get", "", "secrets", "team", "s")).allowed);
  EXPECT_FALSE(authz.authorize(viewer, res("create", "", "pods", "team")).allowed);
  EXPECT_TRUE(authz.authorize(editor, res("create", "", "pods", "team", "p", "exec")).allowed);
  EXPECT_TRUE(authz.authorize(editor, res("get", "", "secrets", "team", "s")).allowed);
  EXPECT_FALSE(authz.authorize(editor, res("create", "rbac.authorization.k8s.io", "rolebindings", "team")).allowed);
  EXPECT_TRUE(authz.authorize(boss, res("create", "rbac.authorization.k8s.io", "rolebindings", "team")).allowed);
  EXPECT_FALSE(authz.authorize(boss, res("create", "rbac.authorization.k8s.io", "clusterrolebindings")).allowed);
}

TEST(RbacAuthorizer, RoleWritesCannotGrantMoreThanTheWriterHolds) {
  Policy p;
  for (const Json& obj : bootstrapPolicy())
    p.add(obj["kind"] == "ClusterRole" ? "clusterroles" : "clusterrolebindings", obj);
  p.add("rolebindings", binding("RoleBinding", "a", "team", "ClusterRole", "admin", Json::array({user("boss")})));
  auto authz = p.authorizer();
  UserInfo boss{"boss", "", {}};

  // Binding view or edit in the namespace: the admin holds all of it there.
  EXPECT_TRUE(authz.checkRoleWrite(boss, "rolebindings", "team",
                                   binding("RoleBinding", "b", "team", "ClusterRole", "view", Json::array({user("x")}))));
  // Binding cluster-admin, even only in the namespace, grants what the admin lacks.
  Status st = authz.checkRoleWrite(
      boss, "rolebindings", "team", binding("RoleBinding", "b", "team", "ClusterRole", "cluster-admin", Json::array({user("x")})));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.code(), Code::kForbidden);
  EXPECT_NE(st.message().find("rolebindings.rbac.authorization.k8s.io \"b\" is forbidden: user \"boss\" is attempting to grant RBAC permissions not currently held"),
            std::string::npos)
      << st.message();
  // Nor in another namespace.
  EXPECT_FALSE(authz.checkRoleWrite(boss, "rolebindings", "other",
                                    binding("RoleBinding", "b", "other", "ClusterRole", "view", Json::array({user("x")}))));
  // A Role with rules the admin holds, and one with a wildcard it does not.
  EXPECT_TRUE(authz.checkRoleWrite(boss, "roles", "team",
                                   role("Role", "r", "team",
                                        Json::parse(R"([{"apiGroups":[""],"resources":["pods"],"verbs":["get","delete"]}])"))));
  EXPECT_FALSE(authz.checkRoleWrite(boss, "roles", "team",
                                    role("Role", "r", "team", Json::parse(R"([{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}])"))));
  EXPECT_FALSE(authz.checkRoleWrite(boss, "roles", "team",
                                    role("Role", "r", "team",
                                         Json::parse(R"([{"apiGroups":[""],"resources":["nodes"],"verbs":["get"]}])"))));
  // The bind and escalate verbs lift the check, as upstream.
  p.add("clusterroles", role("ClusterRole", "binder", "",
                             Json::parse(R"([{"apiGroups":["rbac.authorization.k8s.io"],"resources":["clusterroles"],
                                               "resourceNames":["cluster-admin"],"verbs":["bind"]},
                                              {"apiGroups":["rbac.authorization.k8s.io"],"resources":["roles"],"verbs":["escalate"]}])")));
  p.add("rolebindings", binding("RoleBinding", "binder", "team", "ClusterRole", "binder", Json::array({user("boss")})));
  authz = p.authorizer();
  EXPECT_TRUE(authz.checkRoleWrite(
      boss, "rolebindings", "team", binding("RoleBinding", "b", "team", "ClusterRole", "cluster-admin", Json::array({user("x")}))));
  EXPECT_TRUE(authz.checkRoleWrite(boss, "roles", "team",
                                   role("Role", "r", "team", Json::parse(R"([{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}])"))));
  // Masters write anything.
  EXPECT_TRUE(authz.checkRoleWrite(UserInfo{"admin", "", {"system:masters"}}, "clusterrolebindings", "",
                                   binding("ClusterRoleBinding", "b", "", "ClusterRole", "cluster-admin", Json::array({user("x")}))));
}

TEST(RbacAuthorizer, RoleWritesThatCouldGrantAnythingAreRefused) {
  Policy p;
  for (const Json& obj : bootstrapPolicy())
    p.add(obj["kind"] == "ClusterRole" ? "clusterroles" : "clusterrolebindings", obj);
  // May write any ClusterRole and binding, but holds only view.
  p.add("clusterroles", role("ClusterRole", "rbac-writer", "",
                             Json::parse(R"([{"apiGroups":["rbac.authorization.k8s.io"],
                                              "resources":["clusterroles","clusterrolebindings"],"verbs":["create","update"]}])")));
  p.add("clusterrolebindings", binding("ClusterRoleBinding", "w", "", "ClusterRole", "rbac-writer", Json::array({user("eve")})));
  p.add("clusterrolebindings", binding("ClusterRoleBinding", "v", "", "ClusterRole", "view", Json::array({user("eve")})));
  auto authz = p.authorizer();
  UserInfo eve{"eve", "", {"system:authenticated"}};
  // An aggregation rule selecting cluster-admin's labels would hand it over.
  Json agg = role("ClusterRole", "sneaky", "", Json::array());
  agg["aggregationRule"] = Json::parse(R"({"clusterRoleSelectors":[{"matchLabels":{"kubernetes.io/bootstrapping":"rbac-defaults"}}]})");
  Status st = authz.checkRoleWrite(eve, "clusterroles", "", agg);
  EXPECT_EQ(st.code(), Code::kForbidden);
  EXPECT_NE(st.message().find("an aggregationRule needs every permission"), std::string::npos) << st.message();
  EXPECT_TRUE(authz.checkRoleWrite(UserInfo{"root", "", {"system:masters"}}, "clusterroles", "", agg));
  // A binding to a role that does not exist yet could grant anything later.
  st = authz.checkRoleWrite(eve, "clusterrolebindings", "",
                            binding("ClusterRoleBinding", "pre", "", "ClusterRole", "not-yet", Json::array({user("eve")})));
  EXPECT_EQ(st.code(), Code::kForbidden);
  EXPECT_NE(st.message().find("does not exist"), std::string::npos) << st.message();
  // Repeats are checked once; a rule of huge lists is refused, not walked.
  Json repeated = Json::array({Json{{"apiGroups", Json::array()}, {"resources", Json::array()}, {"verbs", Json::array()}}});
  for (int i = 0; i < 5000; ++i) {
    repeated[0]["apiGroups"].push_back("");
    repeated[0]["resources"].push_back("pods");
    repeated[0]["verbs"].push_back("get");
  }
  EXPECT_TRUE(authz.checkRoleWrite(eve, "clusterroles", "", role("ClusterRole", "r", "", repeated)));
  Json huge = Json::array({Json{{"apiGroups", Json::array()}, {"resources", Json::array()}, {"verbs", Json::array()}}});
  for (int i = 0; i < 3000; ++i) {
    huge[0]["apiGroups"].push_back("g" + std::to_string(i));
    huge[0]["resources"].push_back("r" + std::to_string(i));
    huge[0]["verbs"].push_back("v" + std::to_string(i));
  }
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(authz.checkRoleWrite(eve, "clusterroles", "", role("ClusterRole", "r", "", huge)).code(), Code::kForbidden);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));  // refused at once, not 2.7e10 checks
}

TEST(RbacBootstrap, ReconcilingAddsWhatTheDefaultsGainedAndKeepsWhatAnAdminAdded) {
  Json wanted;
  for (const Json& obj : bootstrapPolicy())
    if (obj["metadata"]["name"] == "system:aggregate-to-view") wanted = obj;
  ASSERT_TRUE(wanted.is_object());
  // Unchanged: nothing to write.
  EXPECT_EQ(reconcileBootstrap(wanted, wanted), wanted);
  // An older default lacked a rule; an admin added another.
  Json stored = wanted;
  Json dropped = stored["rules"].back();
  stored["rules"].erase(stored["rules"].size() - 1);
  Json extra = {{"apiGroups", {"example.com"}}, {"resources", {"widgets"}}, {"verbs", {"get"}}};
  stored["rules"].push_back(extra);
  stored["metadata"]["labels"].erase("rbac.authorization.k8s.io/aggregate-to-edit");
  Json out = reconcileBootstrap(stored, wanted);
  EXPECT_TRUE(holds(out, dropped));
  EXPECT_TRUE(holds(out, extra));
  EXPECT_EQ(out["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"], "true");
  // autoupdate "false": left as the admin wants it.
  stored["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] = "false";
  EXPECT_EQ(reconcileBootstrap(stored, wanted), stored);
  // A binding gets back the subjects the default names, and keeps others.
  Json crb = binding("ClusterRoleBinding", "system:discovery", "", "ClusterRole", "system:discovery",
                     Json::array({user("someone")}));
  Json want_crb;
  for (const Json& obj : bootstrapPolicy())
    if (obj["kind"] == "ClusterRoleBinding" && obj["metadata"]["name"] == "system:discovery") want_crb = obj;
  Json merged = reconcileBootstrap(crb, want_crb);
  EXPECT_EQ(merged["subjects"].size(), 2u);
  EXPECT_EQ(merged["subjects"][1]["name"], "system:authenticated");
  // An aggregated role: its selectors come back, its rules stay the controller's.
  Json view;
  for (const Json& obj : bootstrapPolicy())
    if (obj["metadata"]["name"] == "view") view = obj;
  Json emptied = view;
  emptied["rules"] = Json::array();
  emptied["aggregationRule"]["clusterRoleSelectors"] = Json::array();
  Json back = reconcileBootstrap(emptied, view);
  EXPECT_EQ(back["rules"], Json::array());
  EXPECT_EQ(back["aggregationRule"], view["aggregationRule"]);
}

TEST(RbacForbidden, ReadsAsKubeApiserversMessage) {
  UserInfo u{"system:serviceaccount:default:default", "", {}};
  Status st = forbidden(u, res("list", "", "pods", "default"));
  EXPECT_EQ(st.code(), Code::kForbidden);
  EXPECT_EQ(st.message(),
            "pods is forbidden: User \"system:serviceaccount:default:default\" cannot list resource \"pods\" in API "
            "group \"\" in the namespace \"default\"");
  EXPECT_EQ(st.details_kind, "pods");
  EXPECT_EQ(forbidden(u, res("get", "apps", "deployments", "ns", "web", "scale")).message(),
            "deployments.apps \"web\" is forbidden: User \"system:serviceaccount:default:default\" cannot get resource "
            "\"deployments/scale\" in API group \"apps\" in the namespace \"ns\"");
  EXPECT_EQ(forbidden(u, res("list", "", "nodes")).message(),
            "nodes is forbidden: User \"system:serviceaccount:default:default\" cannot list resource \"nodes\" in API "
            "group \"\" at the cluster scope");
  EXPECT_EQ(forbidden(u, path("get", "/metrics")).message(),
            "forbidden: User \"system:serviceaccount:default:default\" cannot get path \"/metrics\"");
}

Request post(std::string body, UserInfo who) {
  Request req;
  req.method = "POST";
  req.body = std::move(body);
  req.headers["content-type"] = "application/json";
  req.user = std::move(who);
  return req;
}

RequestInfo reviewInfo(const std::string& resource, const std::string& verb = "create") {
  RequestInfo ri;
  ri.is_resource = true;
  ri.group = "authorization.k8s.io";
  ri.version = "v1";
  ri.resource = resource;
  ri.verb = verb;
  return ri;
}

TEST(AccessReview, SelfReviewAnswersForTheCaller) {
  Policy p;
  p.add("roles", role("Role", "r", "team", Json::parse(R"([{"apiGroups":[""],"resources":["pods"],"verbs":["list"]}])")));
  p.add("rolebindings", binding("RoleBinding", "b", "team", "Role", "r", Json::array({user("alice")})));
  auto authz = p.authorizer();
  // What `kubectl auth can-i list pods -n team` posts.
  std::string body =
      R"({"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","metadata":{"creationTimestamp":null},
          "spec":{"resourceAttributes":{"namespace":"team","verb":"list","resource":"pods"}},"status":{"allowed":false}})";
  Response r = serveAccessReview(reviewInfo("selfsubjectaccessreviews"), post(body, kAlice), authz);
  ASSERT_EQ(r.status, 201) << r.body;
  Json out = Json::parse(r.body);
  EXPECT_EQ(out["kind"], "SelfSubjectAccessReview");
  EXPECT_EQ(out["status"]["allowed"], true);
  EXPECT_EQ(out["status"]["reason"],
            "RBAC: allowed by RoleBinding \"b\" of Role \"r\" to User \"alice\" in namespace \"team\"");
  r = serveAccessReview(reviewInfo("selfsubjectaccessreviews"),
                        post(R"({"spec":{"resourceAttributes":{"namespace":"team","verb":"delete","resource":"pods"}}})", kAlice),
                        authz);
  EXPECT_EQ(Json::parse(r.body)["status"], Json::parse(R"({"allowed":false})"));
  r = serveAccessReview(reviewInfo("selfsubjectaccessreviews"),
                        post(R"({"spec":{"nonResourceAttributes":{"path":"/metrics","verb":"get"}}})", kAlice), authz);
  EXPECT_EQ(Json::parse(r.body)["status"]["allowed"], false);

  // About another user: that user's answer, not the caller's.
  r = serveAccessReview(reviewInfo("subjectaccessreviews"),
                        post(R"({"spec":{"user":"alice","resourceAttributes":{"namespace":"team","verb":"list","resource":"pods"}}})",
                             UserInfo{"admin", "", {"system:masters"}}),
                        authz);
  EXPECT_EQ(Json::parse(r.body)["status"]["allowed"], true);
  r = serveAccessReview(reviewInfo("subjectaccessreviews"),
                        post(R"({"spec":{"user":"mallory","resourceAttributes":{"namespace":"team","verb":"list","resource":"pods"}}})",
                             UserInfo{"admin", "", {"system:masters"}}),
                        authz);
  EXPECT_EQ(Json::parse(r.body)["status"]["allowed"], false);
}

TEST(AccessReview, LocalReviewStaysInItsNamespace) {
  Policy p;
  p.add("roles", role("Role", "r", "team", Json::parse(R"([{"apiGroups":[""],"resources":["pods"],"verbs":["list"]}])")));
  p.add("rolebindings", binding("RoleBinding", "b", "team", "Role", "r", Json::array({user("alice")})));
  auto authz = p.authorizer();
  RequestInfo ri = reviewInfo("localsubjectaccessreviews");
  ri.ns = "team";
  UserInfo admin{"admin", "", {"system:masters"}};
  // The namespace defaults to the request's.
  Response r = serveAccessReview(
      ri, post(R"({"spec":{"user":"alice","resourceAttributes":{"verb":"list","resource":"pods"}}})", admin), authz);
  ASSERT_EQ(r.status, 201) << r.body;
  Json out = Json::parse(r.body);
  EXPECT_EQ(out["kind"], "LocalSubjectAccessReview");
  EXPECT_EQ(out["metadata"]["namespace"], "team");
  EXPECT_EQ(out["spec"]["resourceAttributes"]["namespace"], "team");
  EXPECT_EQ(out["status"]["allowed"], true);
  r = serveAccessReview(
      ri, post(R"({"spec":{"user":"alice","resourceAttributes":{"namespace":"team","verb":"delete","resource":"pods"}}})",
               admin),
      authz);
  EXPECT_EQ(Json::parse(r.body)["status"]["allowed"], false);
  // Another namespace, or a non-resource question, is refused.
  r = serveAccessReview(
      ri, post(R"({"spec":{"user":"alice","resourceAttributes":{"namespace":"other","verb":"list","resource":"pods"}}})",
               admin),
      authz);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("spec.resourceAttributes.namespace must match namespace: team"), std::string::npos) << r.body;
  r = serveAccessReview(ri, post(R"({"spec":{"user":"alice","nonResourceAttributes":{"path":"/metrics","verb":"get"}}})", admin),
                        authz);
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body.find("disallowed on this kind of request"), std::string::npos) << r.body;
  EXPECT_EQ(serveAccessReview(ri, post(R"({"spec":{"resourceAttributes":{"verb":"get","resource":"pods"}}})", admin), authz)
                .status,
            422);  // no user or group
}

TEST(AccessReview, BadReviewsAreRefused) {
  Policy p;
  auto authz = p.authorizer();
  EXPECT_EQ(serveAccessReview(reviewInfo("selfsubjectaccessreviews", "list"), post("{}", kAlice), authz).status, 405);
  EXPECT_EQ(serveAccessReview(reviewInfo("selfsubjectaccessreviews"), post("{not json", kAlice), authz).status, 400);
  EXPECT_EQ(serveAccessReview(reviewInfo("selfsubjectaccessreviews"), post("[1]", kAlice), authz).status, 400);
  EXPECT_EQ(serveAccessReview(reviewInfo("selfsubjectaccessreviews"), post(R"({"spec":{}})", kAlice), authz).status, 422);
  EXPECT_EQ(serveAccessReview(reviewInfo("subjectaccessreviews"),
                              post(R"({"spec":{"resourceAttributes":{"verb":"get","resource":"pods"}}})", kAlice), authz)
                .status,
            422);
}

TEST(Impersonation, TakesOnOnlyIdentitiesTheCallerMayImpersonate) {
  Policy p;
  p.add("clusterroles", role("ClusterRole", "imp", "",
                             Json::parse(R"([{"apiGroups":[""],"resources":["serviceaccounts"],"verbs":["impersonate"]},
                                             {"apiGroups":[""],"resources":["groups"],"resourceNames":["dev"],"verbs":["impersonate"]}])")));
  p.add("rolebindings", binding("RoleBinding", "imp", "team", "ClusterRole", "imp", Json::array({user("alice")})));
  p.add("clusterrolebindings", binding("ClusterRoleBinding", "imp", "", "ClusterRole", "imp", Json::array({user("carol")})));
  auto authz = p.authorizer();

  Request req = post("", kAlice);
  EXPECT_TRUE(impersonate(req, authz));  // nothing asked: unchanged
  EXPECT_EQ(req.user->name, "alice");

  req.headers["impersonate-user"] = "system:serviceaccount:team:bot";
  ASSERT_TRUE(impersonate(req, authz));
  EXPECT_EQ(req.user->name, "system:serviceaccount:team:bot");
  EXPECT_EQ(req.user->groups, (std::vector<std::string>{"system:serviceaccounts", "system:serviceaccounts:team",
                                                        "system:authenticated"}));

  req = post("", kAlice);
  req.headers["impersonate-user"] = "system:serviceaccount:other:bot";
  Status st = impersonate(req, authz);
  EXPECT_EQ(st.code(), Code::kForbidden);
  EXPECT_EQ(st.message(),
            "serviceaccounts \"bot\" is forbidden: User \"alice\" cannot impersonate resource \"serviceaccounts\" in "
            "API group \"\" in the namespace \"other\"");
  EXPECT_EQ(req.user->name, "alice");

  // Plain users and groups are cluster-scoped: only carol's ClusterRoleBinding reaches them.
  req = post("", UserInfo{"carol", "", {}});
  req.headers["impersonate-user"] = "system:serviceaccount:x:y";
  req.headers["impersonate-group"] = "dev, ops";
  EXPECT_EQ(impersonate(req, authz).code(), Code::kForbidden);  // ops is not allowed
  req = post("", UserInfo{"carol", "", {}});
  req.headers["impersonate-user"] = "bob";
  EXPECT_EQ(impersonate(req, authz).code(), Code::kForbidden);  // users are not allowed

  req = post("", kAlice);
  req.headers["impersonate-group"] = "dev";
  EXPECT_EQ(impersonate(req, authz).code(), Code::kBadRequest);  // groups without a user
  req = post("", UserInfo{"admin", "", {"system:masters"}});
  req.headers["impersonate-user"] = "system:serviceaccount:bad";
  EXPECT_EQ(impersonate(req, authz).code(), Code::kBadRequest);
  req = post("", UserInfo{"admin", "", {"system:masters"}});
  req.headers["impersonate-user"] = "system:serviceaccount:team:a:b";
  EXPECT_EQ(impersonate(req, authz).code(), Code::kBadRequest);
  // Extra attributes need their own grant.
  req = post("", kAlice);
  req.headers["impersonate-user"] = "system:serviceaccount:team:bot";
  req.headers["impersonate-extra-scopes"] = "view";
  st = impersonate(req, authz);
  EXPECT_EQ(st.code(), Code::kForbidden);
  EXPECT_NE(st.message().find("cannot impersonate resource \"userextras/scopes\" in API group \"authentication.k8s.io\""),
            std::string::npos)
      << st.message();
  req = post("", UserInfo{"admin", "", {"system:masters"}});
  req.headers["impersonate-user"] = "x";
  req.headers["impersonate-extra-scopes"] = "view,edit";
  EXPECT_TRUE(impersonate(req, authz));
}

}  // namespace
}  // namespace capstan::apiserver
