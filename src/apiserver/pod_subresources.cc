// The pod subresources that act rather than read: binding (the
// scheduler's assignment of a pod to a node) and eviction (a delete that
// respects PodDisruptionBudgets, used by `kubectl drain`).
#include <fmt/format.h>

#include "api/meta.h"
#include "api/selector.h"
#include "apiserver/resources.h"
#include "apiserver/responses.h"

namespace capstan::apiserver {
namespace {

Response successStatus(int code) {
  Json st = {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Success"}, {"code", code}};
  return jsonResponse(code, st.dump());
}

bool podReady(const Json& pod) {
  const Json& status = pod.value("status", Json::object());
  if (status.value("phase", "") != "Running") return false;
  for (const auto& c : status.value("conditions", Json::array()))
    if (c.is_object() && c.value("type", "") == "Ready") return c.value("status", "") == "True";
  return false;
}

// The pods a budget may still lose: upstream's disruption controller
// computes status.disruptionsAllowed; here it is computed from the cache at
// the time of the request.
int64_t disruptionsAllowed(const Json& pdb, const std::vector<const Json*>& selected) {
  int64_t expected = static_cast<int64_t>(selected.size());
  int64_t healthy = 0;
  for (const Json* p : selected)
    if (podReady(*p) && !(*p)["metadata"].contains("deletionTimestamp")) ++healthy;
  const Json& spec = pdb.value("spec", Json::object());
  auto scaled = [&](const Json& v, bool round_up) -> int64_t {
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_string()) {
      std::string s = v.get<std::string>();
      if (!s.empty() && s.back() == '%') {
        int64_t pct = std::atoll(s.c_str());
        return round_up ? (expected * pct + 99) / 100 : expected * pct / 100;
      }
      return std::atoll(s.c_str());
    }
    return 0;
  };
  if (spec.contains("maxUnavailable")) {
    int64_t max_unavailable = scaled(spec["maxUnavailable"], true);
    return healthy - (expected - max_unavailable);
  }
  int64_t min_available = spec.contains("minAvailable") ? scaled(spec["minAvailable"], true) : 0;
  return healthy - min_available;
}

}  // namespace

void Resources::bind(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done) {
  auto body = decodeBody(req);
  if (!body) return done(errorResponse(body.status()));
  const Json& binding = *body;
  std::string node;
  if (auto t = binding.find("target"); t != binding.end() && t->is_object()) node = t->value("name", "");
  if (node.empty()) {
    Status st(Code::kInvalid, fmt::format("Binding.core \"{}\" is invalid: target.name: Required value", ri.name));
    st.causes.push_back({"FieldValueRequired", "Required value", "target.name"});
    return done(errorResponse(st));
  }
  Json annotations = Json::object();
  if (auto m = binding.find("metadata"); m != binding.end() && m->is_object())
    if (auto a = m->find("annotations"); a != m->end() && a->is_object()) annotations = *a;
  std::string now = formatRfc3339(ctx_.clock->now());
  guaranteedUpdate(
      info, info.storeKey(ri.ns, ri.name),
      [&info, name = ri.name, node, annotations, now](const ObjectPtr& current) -> Result<WriteDecision> {
        if (!current) return notFound(info.qualifiedResource(), name);
        Json next = current->obj;
        if (next["metadata"].contains("deletionTimestamp"))
          return conflict(info.qualifiedResource(), name,
                          fmt::format("pod {} is being deleted, cannot be assigned to a host", name));
        std::string assigned = getString(objectAt(next, "spec"), "nodeName");
        if (!assigned.empty())
          return conflict(info.qualifiedResource(), name,
                          fmt::format("pod {} is already assigned to node \"{}\"", name, assigned));
        next["spec"]["nodeName"] = node;
        for (auto& [k, v] : annotations.items()) next["metadata"]["annotations"][k] = v;
        Json& conds = next["status"]["conditions"];
        if (!conds.is_array()) conds = Json::array();
        Json cond = {{"type", "PodScheduled"}, {"status", "True"}, {"lastProbeTime", nullptr}, {"lastTransitionTime", now}};
        bool replaced = false;
        for (auto& c : conds)
          if (c.is_object() && c.value("type", "") == "PodScheduled") {
            c = cond;
            replaced = true;
          }
        if (!replaced) conds.push_back(cond);
        WriteDecision d;
        d.obj = std::move(next);
        return d;
      },
      [done = std::move(done)](Result<WriteOutcome> r) {
        if (!r) return done(errorResponse(r.status()));
        done(successStatus(201));
      });
}

void Resources::evict(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done) {
  auto body = decodeBody(req);
  if (!body) return done(errorResponse(body.status()));
  auto pod = ctx_.cache->get(info.storeKey(ri.ns, ri.name));
  if (!pod) return done(errorResponse(notFound(info.qualifiedResource(), ri.name)));

  // Budgets only guard pods that are running; others may go at once.
  std::string phase = pod->obj.value("status", Json::object()).value("phase", "");
  bool guarded = phase != "Succeeded" && phase != "Failed" && phase != "Pending";
  const api::ResourceInfo* pdbs = ctx_.registry->find("policy", "v1", "poddisruptionbudgets");
  if (guarded && pdbs) {
    const Json& labels = objectAt(objectAt(pod->obj, "metadata"), "labels");
    auto all_pods = ctx_.cache->list(info.storePrefix() + ri.ns + "/", nullptr);
    for (const auto& b : ctx_.cache->list(pdbs->storePrefix() + ri.ns + "/", nullptr)) {
      auto sel = api::LabelSelector::fromJson(objectAt(objectAt(b->obj, "spec"), "selector"));
      if (!sel || sel->empty() || !sel->matches(labels)) continue;
      std::vector<const Json*> selected;
      for (const auto& p : all_pods)
        if (sel->matches(objectAt(objectAt(p->obj, "metadata"), "labels"))) selected.push_back(&p->obj);
      if (disruptionsAllowed(b->obj, selected) <= 0) {
        Status st(Code::kTooManyRequests, "Cannot evict pod as it would violate the pod's disruption budget.");
        st.causes.push_back({"DisruptionBudget",
                             fmt::format("The disruption budget {} needs {} healthy pods and has {} currently",
                                         api::nameOf(b->obj), selected.size(), selected.size()),
                             ""});
        return done(errorResponse(st));
      }
    }
  }
  // The eviction is a delete with the eviction's options.
  Request del = req;
  del.method = "DELETE";
  del.body.clear();
  del.body_object.reset();  // the eviction's own, taken above
  if (auto o = body->find("deleteOptions"); o != body->end() && o->is_object()) del.body = o->dump();
  RequestInfo del_ri = ri;
  del_ri.verb = "delete";
  del_ri.subresource.clear();
  remove(del_ri, info, del, [done = std::move(done)](Response r) {
    if (r.status >= 300) return done(std::move(r));
    done(successStatus(201));
  });
}

}  // namespace capstan::apiserver
