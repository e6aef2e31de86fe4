// Create, update, patch, delete and deletecollection, with the status and
// scale subresources. Every write goes through admission and then a
// compare-and-swap txn on the object's key.
#include <fmt/format.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include "api/defaults.h"
#include "api/known_fields.h"
#include "api/managed_fields.h"
#include "api/meta.h"
#include "api/patch.h"
#include "api/schema.h"
#include "apiserver/admission.h"
#include "apiserver/rbac.h"
#include "apiserver/resources.h"
#include "apiserver/responses.h"
#include "common/log.h"

namespace capstan::apiserver {
namespace {

constexpr int kMaxUpdateAttempts = 16;

Response objectResponse(int code, std::string text, const std::vector<std::string>& warnings) {
  Response r = jsonResponse(code, std::move(text));
  for (const auto& w : warnings) r.headers.emplace_back("Warning", warningHeader(w));
  return r;
}

// An outcome object that is not (or not yet) the cache's.
ObjectPtr uncached(std::string key, Json obj) {
  auto o = std::make_shared<CachedObject>();
  o->key = std::move(key);
  o->json = obj.dump();
  o->obj = std::move(obj);
  return o;
}

void runRollbacks(Rollbacks& rb) {
  for (auto& f : rb) f();
  rb.clear();
}

// Kinds that create on PUT to a missing name, as upstream allows.
bool allowsCreateOnUpdate(const api::ResourceInfo& info) {
  return info.kind == "Lease" || info.kind == "Endpoints" || (info.kind == "Event" && info.group.empty());
}

std::string clientResourceVersion(const Json& obj) {
  const Json* m = find(obj, "metadata");
  return m ? getString(*m, "resourceVersion") : "";
}

// Field ownership (api/managed_fields.h): who a request writes as, and the
// kind's schema to read objects with.
std::string fieldManagerOf(const Request& req) {
  std::string m = req.param("fieldManager");
  return m.empty() ? api::managerFromUserAgent(req.header("user-agent")) : m;
}

// The kind's objects as the field manager reads them, built once per
// schema definition and shared (TypedObjects is immutable).
const api::TypedObjects& typedObjectsOf(const api::ResourceInfo& info) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<const api::TypedObjects>> by_definition;  // guarded by mu
  const api::Schemas& schemas = api::Schemas::builtin();
  std::string definition = schemas.kindDefinition(info.group, info.version, info.kind);
  std::lock_guard lock(mu);
  auto& typed = by_definition[definition];
  if (!typed) typed = std::make_unique<const api::TypedObjects>(schemas, definition);
  return *typed;
}

struct FieldOwnership {
  api::FieldManagerContext ctx;
  FieldOwnership(const api::ResourceInfo& info, const std::string& subresource, const Clock& clock) {
    ctx.typed = &typedObjectsOf(info);
    ctx.api_version = info.apiVersion();
    ctx.subresource = subresource;
    ctx.has_status = info.has_status;
    ctx.now = formatRfc3339(clock.now());
  }
  FieldOwnership(const FieldOwnership&) = delete;

  // The object as the field manager compares it: decoded and defaulted,
  // before the server's own changes (allocations, admission).
  static Json recorded(const api::ResourceInfo& info, const Json& obj) {
    Json r = obj;
    api::applyDefaults(info, r);
    return r;
  }
  // Stores the managedFields of an Update that made `recorded` out of
  // `live` (null: a create) into `obj`.
  void recordUpdate(Json& obj, const Json* live, const Json& recorded, const std::string& manager) const {
    Json entries = api::recordUpdate(ctx, live, recorded, manager);
    Json& meta = obj["metadata"];
    if (entries.empty()) meta.erase("managedFields");
    else meta["managedFields"] = std::move(entries);
  }
};

// Whether two objects are equal once metadata.resourceVersion, a
// bookkeeping field, is left out (a no-op write); compares in place rather
// than copying both objects without it.
bool sameButResourceVersion(const Json& a, const Json& b) {
  if (!a.is_object() || !b.is_object() || a.size() != b.size()) return a == b;
  for (auto ai = a.begin(), bi = b.begin(); ai != a.end(); ++ai, ++bi) {
    if (ai.key() != bi.key()) return false;
    if (ai.key() != "metadata" || !ai->is_object() || !bi->is_object()) {
      if (*ai != *bi) return false;
      continue;
    }
    size_t kept = 0;
    for (const auto& [key, value] : ai->items()) {
      if (key == "resourceVersion") continue;
      ++kept;
      auto other = bi->find(key);
      if (other == bi->end() || *other != value) return false;
    }
    if (kept != bi->size() - bi->count("resourceVersion")) return false;
  }
  return true;
}

// Decides what a write of `next` over `current` does: a put, a no-op, or a
// delete (an object being deleted whose last finalizer went away).
WriteDecision decide(const ObjectPtr& current, Json next, bool client_precondition) {
  WriteDecision d;
  d.client_precondition = client_precondition;
  const Json& meta = next["metadata"];
  bool finalizers_empty = !meta.contains("finalizers") || !meta["finalizers"].is_array() || meta["finalizers"].empty();
  // A namespace also waits for its spec.finalizers (the namespace controller).
  if (next.value("kind", "") == "Namespace" && next.contains("spec") && next["spec"].is_object()) {
    const Json* sf = find(next["spec"], "finalizers");
    if (sf && sf->is_array() && !sf->empty()) finalizers_empty = false;
  }
  if (meta.contains("deletionTimestamp") && finalizers_empty &&
      !(next.value("kind", "") == "Pod" && meta.contains("deletionGracePeriodSeconds") &&
        meta["deletionGracePeriodSeconds"].is_number() && meta["deletionGracePeriodSeconds"].get<int64_t>() > 0)) {
    d.op = WriteDecision::Op::kDelete;
  } else if (current && sameButResourceVersion(next, current->obj)) {
    d.op = WriteDecision::Op::kNone;
  }
  d.obj = std::move(next);
  return d;
}

enum class PatchType { kJson, kMerge, kStrategic, kApply };

Result<PatchType> patchTypeOf(const Request& req) {
  std::string ct = req.header("content-type");
  auto semi = ct.find(';');
  if (semi != std::string::npos) ct = ct.substr(0, semi);
  if (ct == "application/json-patch+json") return PatchType::kJson;
  if (ct == "application/merge-patch+json") return PatchType::kMerge;
  if (ct == "application/strategic-merge-patch+json") return PatchType::kStrategic;
  if (ct == "application/apply-patch+yaml" || ct == "application/apply-patch+cbor") return PatchType::kApply;
  return Status(Code::kUnsupportedMediaType,
                "the body of the request was in an unknown format - accepted media types include: "
                "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, "
                "application/strategic-merge-patch+json");
}

// `schema` names the definition of the patched object, whose merge keys a
// strategic merge patch follows.
Result<Json> applyPatch(PatchType type, const Json& current, const Json& patch, std::string_view schema) {
  switch (type) {
    case PatchType::kJson: return api::applyJsonPatch(current, patch);
    case PatchType::kMerge: return api::applyMergePatch(current, patch);
    case PatchType::kStrategic:
    case PatchType::kApply:  // only the scale subresource; objects go through api::applyConfig
      return api::applyStrategicMergePatch(current, patch, &api::Schemas::builtin(), schema);
  }
  return Status(Code::kInternal, "unknown patch type");
}

struct DeleteOptions {
  std::optional<int64_t> grace_period;
  std::string propagation;
  std::string precondition_uid;
  std::string precondition_rv;
  bool dry_run = false;
};

Result<DeleteOptions> parseDeleteOptions(const Request& req) {
  DeleteOptions o;
  if (!req.body.empty()) {
    auto j = parseJson(req.body);
    if (!j) return j.status();
    if (!j->is_object()) return badRequest("DeleteOptions must be a JSON object");
    if (j->contains("gracePeriodSeconds") && (*j)["gracePeriodSeconds"].is_number_integer())
      o.grace_period = (*j)["gracePeriodSeconds"].get<int64_t>();
    o.propagation = getString(*j, "propagationPolicy");
    if (j->contains("orphanDependents") && (*j)["orphanDependents"].is_boolean() && o.propagation.empty())
      o.propagation = (*j)["orphanDependents"].get<bool>() ? "Orphan" : "Background";
    if (const Json* p = find(*j, "preconditions")) {
      o.precondition_uid = getString(*p, "uid");
      o.precondition_rv = getString(*p, "resourceVersion");
    }
    if (const Json* dr = find(*j, "dryRun"); dr && dr->is_array())
      for (const auto& v : *dr)
        if (v == "All") o.dry_run = true;
  }
  if (std::string g = req.param("gracePeriodSeconds"); !g.empty()) {
    try {
      o.grace_period = std::stoll(g);
    } catch (...) {
      return badRequest("invalid gracePeriodSeconds: " + g);
    }
  }
  if (std::string p = req.param("propagationPolicy"); !p.empty()) o.propagation = p;
  if (isDryRun(req)) o.dry_run = true;
  if (!o.propagation.empty() && o.propagation != "Orphan" && o.propagation != "Background" && o.propagation != "Foreground") {
    Status st(Code::kInvalid, "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"" +
                                  o.propagation + "\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"");
    st.causes.push_back({"FieldValueNotSupported", "Unsupported value", "propagationPolicy"});
    return st;
  }
  return o;
}

void addFinalizer(Json& meta, const char* f) {
  if (!meta.contains("finalizers") || !meta["finalizers"].is_array()) meta["finalizers"] = Json::array();
  for (const auto& x : meta["finalizers"])
    if (x == f) return;
  meta["finalizers"].push_back(f);
}

}  // namespace

Result<WriteDecision> Resources::createDecision(const api::ResourceInfo& info, Json obj,
                                                const std::shared_ptr<Rollbacks>& rollbacks, bool dry_run,
                                                const std::optional<UserInfo>& user) {
  // A retry after a lost race admits again: undo the previous attempt's allocations.
  runRollbacks(*rollbacks);
  if (auto st = admitCreate(ctx_, info, obj, rollbacks.get()); !st) return st;
  if (auto st = checkPolicyWrite(user, info, obj); !st) return st;
  WriteDecision d;
  d.obj = std::move(obj);
  d.client_precondition = true;
  d.dry_run = dry_run;
  return d;
}

static WriteDone respondWritten(Responder done, std::vector<std::string> warnings, std::shared_ptr<Rollbacks> rollbacks,
                         bool dry_run) {
  return [done = std::move(done), warnings = std::move(warnings), rollbacks, dry_run](Result<WriteOutcome> r) {
    runRollbacks(*rollbacks);
    if (!r) return done(errorResponse(r.status()));
    done(objectResponse(r->created && !dry_run ? 201 : 200, r->obj->json, warnings));
  };
}

void Resources::guaranteedUpdate(const api::ResourceInfo& info, std::string key, Mutator mutate, WriteDone done,
                                 int attempt) {
  ObjectPtr current = ctx_.cache->get(key);
  // Runs on the store's thread on a retry: no exception may escape it.
  Result<WriteDecision> decision = Status(Code::kInternal, "");
  try {
    decision = mutate(current);
  } catch (const nlohmann::json::exception& e) {
    Status st(Code::kInvalid, info.kind + " \"" + key.substr(key.rfind('/') + 1) + "\" is invalid: " + e.what());
    st.causes.push_back({"FieldValueInvalid", e.what(), "patch"});
    decision = st;
  } catch (const std::exception& e) {
    decision = Status(Code::kInternal, std::string("Internal error occurred: ") + e.what());
  }
  if (!decision) return done(decision.status());
  if (decision->dry_run) {
    Json obj = decision->obj;
    if (current) obj["metadata"]["resourceVersion"] = std::to_string(current->mod_revision);
    else obj["metadata"].erase("resourceVersion");
    return done(WriteOutcome{uncached(key, std::move(obj)), current == nullptr,
                             decision->op == WriteDecision::Op::kDelete});
  }
  if (decision->op == WriteDecision::Op::kNone) {
    return done(WriteOutcome{current ? current : uncached(key, std::move(decision->obj)), false, false});
  }
  store::Txn txn;
  txn.compares.push_back({key, current ? current->mod_revision : 0});
  if (decision->op == WriteDecision::Op::kDelete) {
    txn.ops.push_back({store::Op::Type::kDelete, key, ""});
  } else {
    // Stored without its resourceVersion (the store's revision is one). The
    // object goes to the cache with the bytes, which takes it instead of
    // parsing them again; the answer below is the cache's.
    decision->obj["metadata"].erase("resourceVersion");
    std::string value = decision->obj.dump();
    txn.ops.push_back({store::Op::Type::kPut, key, std::move(value), std::make_shared<Json>(std::move(decision->obj))});
  }
  auto started = std::chrono::steady_clock::now();
  bool creating = current == nullptr;
  ctx_.store->txn(std::move(txn), [this, &info, key = std::move(key), mutate = std::move(mutate), done = std::move(done),
                                   d = std::move(*decision), attempt, started, creating](Result<store::TxnResult> r) mutable {
    ctx_.metrics->observeStore(d.op == WriteDecision::Op::kDelete ? "delete" : (creating ? "create" : "update"),
                               info.resource,
                               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (!r) return done(r.status());
    if (!r->succeeded) {
      if (d.client_precondition || attempt + 1 >= kMaxUpdateAttempts) {
        return done(conflict(info.qualifiedResource(), api::nameOf(d.obj),
                             "the object has been modified; please apply your changes to the latest version and try again"));
      }
      // Lost a race: the cache already holds the newer object; try again.
      return guaranteedUpdate(info, std::move(key), std::move(mutate), std::move(done), attempt + 1);
    }
    WriteOutcome out;
    if (d.op == WriteDecision::Op::kDelete) {
      out.obj = uncached(key, withResourceVersion(std::move(d.obj), r->revision));
    } else {
      // The store handed the write to the cache before answering; only a
      // newer write landing in between makes the cache's object another.
      out.obj = ctx_.cache->get(key);
      if (!out.obj || out.obj->mod_revision != r->revision) {
        if (r->kvs.empty()) return done(Status(Code::kInternal, "the store returned no written value"));
        auto written = ObjectCache::decode(r->kvs.front(), r->revision);
        if (!written) return done(written.status());
        out.obj = *written;
      }
    }
    out.created = creating;
    out.deleted = d.op == WriteDecision::Op::kDelete;
    done(std::move(out));
  });
}

Status Resources::authorizeCreate(const std::optional<UserInfo>& user, const api::ResourceInfo& info,
                                  const std::string& ns, const std::string& name) const {
  if (!ctx_.rbac || !user) return Status::ok();
  auto a = AccessAttributes::onResource("create", info.group, info.resource, ns, name);
  return ctx_.rbac->authorize(*user, a).allowed ? Status::ok() : forbidden(*user, a);
}

Status Resources::checkPolicyWrite(const std::optional<UserInfo>& user, const api::ResourceInfo& info,
                                   const Json& obj) const {
  if (!ctx_.rbac || !user || info.group != "rbac.authorization.k8s.io") return Status::ok();
  return ctx_.rbac->checkRoleWrite(*user, info.resource, info.namespaced ? getString(objectAt(obj, "metadata"), "namespace") : "",
                                   obj);
}

void Resources::create(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done) {
  if (!ri.name.empty() || !ri.subresource.empty()) {
    return done(errorResponse(Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource")));
  }
  std::vector<std::string> duplicates;
  auto body = decodeBody(req, &duplicates);
  if (!body) return done(errorResponse(body.status()));
  Json obj = std::move(*body);
  if (auto st = checkBodyIdentity(info, ri, obj, false); !st) return done(errorResponse(st));
  api::FieldCheck fields = api::checkFields(info, obj);
  if (!fields.types) return done(errorResponse(fields.types));
  std::vector<std::string> warnings;
  if (auto st = checkFieldValidation(info, req, obj, fields.unknown, &warnings, duplicates); !st)
    return done(errorResponse(st));
  auto rollbacks = std::make_shared<Rollbacks>();
  Json recorded = FieldOwnership::recorded(info, obj);
  if (auto st = admitCreate(ctx_, info, obj, rollbacks.get()); !st) {
    runRollbacks(*rollbacks);
    return done(errorResponse(st));
  }
  if (auto st = checkPolicyWrite(req.user, info, obj); !st) return done(errorResponse(st));
  FieldOwnership(info, "", *ctx_.clock).recordUpdate(obj, nullptr, recorded, fieldManagerOf(req));
  if (isDryRun(req)) {
    runRollbacks(*rollbacks);
    return done(objectResponse(201, obj.dump(), warnings));
  }
  std::string key = info.storeKey(api::namespaceOf(obj), api::nameOf(obj));
  std::string name = api::nameOf(obj);
  guaranteedUpdate(
      info, key,
      // Runs once: a create never retries (client_precondition), so the
      // object is moved into the write, not copied.
      [&info, obj = std::move(obj), name](const ObjectPtr& current) mutable -> Result<WriteDecision> {
        if (current) return alreadyExists(info.qualifiedResource(), name);
        WriteDecision d;
        d.obj = std::move(obj);
        d.client_precondition = true;
        return d;
      },
      [&info, done = std::move(done), rollbacks, warnings, name](Result<WriteOutcome> r) {
        runRollbacks(*rollbacks);
        if (!r) {
          // A lost create race is "already exists", not a conflict.
          if (r.status().code() == Code::kConflict) return done(errorResponse(alreadyExists(info.qualifiedResource(), name)));
          return done(errorResponse(r.status()));
        }
        done(objectResponse(201, r->obj->json, warnings));
      });
}

void Resources::update(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done) {
  std::vector<std::string> duplicates;
  auto body = decodeBody(req, &duplicates);
  if (!body) return done(errorResponse(body.status()));
  Json obj = std::move(*body);
  if (auto st = checkBodyIdentity(info, ri, obj, true); !st) return done(errorResponse(st));
  api::FieldCheck fields = api::checkFields(info, obj);
  if (!fields.types) return done(errorResponse(fields.types));
  std::vector<std::string> warnings;
  if (auto st = checkFieldValidation(info, req, obj, fields.unknown, &warnings, duplicates); !st)
    return done(errorResponse(st));
  bool dry_run = isDryRun(req);
  std::string key = info.storeKey(ri.ns, ri.name);
  auto rollbacks = std::make_shared<Rollbacks>();
  guaranteedUpdate(
      info, key,
      [this, &info, obj = std::move(obj), sub = ri.subresource, name = ri.name, rollbacks, dry_run,
       manager = fieldManagerOf(req), user = req.user, ns = ri.ns](const ObjectPtr& current) -> Result<WriteDecision> {
        Json next = obj;
        std::string rv = clientResourceVersion(next);
        FieldOwnership ownership(info, sub, *ctx_.clock);
        Json recorded = FieldOwnership::recorded(info, next);
        if (!current) {
          if (!allowsCreateOnUpdate(info) || !sub.empty()) return notFound(info.qualifiedResource(), name);
          // Authorized as an update; what it does is a create.
          if (auto st = authorizeCreate(user, info, ns, name); !st) return st;
          auto d = createDecision(info, std::move(next), rollbacks, dry_run, user);
          if (d) ownership.recordUpdate(d->obj, nullptr, recorded, manager);
          return d;
        }
        if (!rv.empty() && rv != std::to_string(current->mod_revision))
          return conflict(info.qualifiedResource(), name,
                          "the object has been modified; please apply your changes to the latest version and try again");
        if (auto st = admitUpdate(ctx_, info, sub, next, current->obj); !st) return st;
        if (auto st = checkPolicyWrite(user, info, next); !st) return st;
        ownership.recordUpdate(next, &current->obj, recorded, manager);
        WriteDecision d = decide(current, std::move(next), !rv.empty());
        d.dry_run = dry_run;
        return d;
      },
      respondWritten(std::move(done), std::move(warnings), rollbacks, dry_run));
}

void Resources::patch(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done) {
  auto type = patchTypeOf(req);
  if (!type) return done(errorResponse(type.status()));
  auto parsed = *type == PatchType::kApply ? parseYaml(req.body) : parseJson(req.body);
  if (!parsed) return done(errorResponse(parsed.status()));
  Json patch_doc = std::move(*parsed);
  if (*type != PatchType::kApply && !req.param("force").empty()) {
    Status st(Code::kInvalid, "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch");
    st.causes.push_back({"FieldValueForbidden", "Forbidden: may not be specified for non-apply patch", "force"});
    return done(errorResponse(st));
  }
  if (*type == PatchType::kApply) {
    if (req.param("fieldManager").empty()) {
      Status st(Code::kInvalid, "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch");
      st.causes.push_back({"FieldValueRequired", "Required value: is required for apply patch", "fieldManager"});
      return done(errorResponse(st));
    }
    Json check = patch_doc;
    if (auto st = checkBodyIdentity(info, ri, check, true); !st) return done(errorResponse(st));
  }
  std::vector<std::string> warnings;
  if (*type != PatchType::kJson && patch_doc.is_object()) {
    // The fields the patch sets, without its directives; unknown ones are
    // dropped from the patched object below.
    Json probe = api::withoutDirectives(patch_doc);
    if (auto st = checkFieldValidation(info, req, probe, api::unknownFields(info, probe), &warnings); !st) {
      Status invalid(Code::kInvalid, st.message());  // upstream answers a patch with 422
      return done(errorResponse(invalid));
    }
  }
  bool dry_run = isDryRun(req);
  std::string key = info.storeKey(ri.ns, ri.name);
  auto rollbacks = std::make_shared<Rollbacks>();
  PatchType pt = *type;
  guaranteedUpdate(
      info, key,
      [this, &info, ri, patch_doc = std::move(patch_doc), pt, sub = ri.subresource, name = ri.name, rollbacks, dry_run,
       manager = fieldManagerOf(req), force = req.param("force") == "true", user = req.user](const ObjectPtr& current) -> Result<WriteDecision> {
        FieldOwnership ownership(info, sub, *ctx_.clock);
        if (!current) {
          if (pt != PatchType::kApply || !sub.empty()) return notFound(info.qualifiedResource(), name);
          // Server-side apply creates a missing object: authorized as a patch, it is a create.
          if (auto st = authorizeCreate(user, info, ri.ns, name); !st) return st;
          Json config = patch_doc;
          RequestInfo ri_copy = ri;
          if (auto st = checkBodyIdentity(info, ri_copy, config, true); !st) return st;
          auto next = api::applyConfig(ownership.ctx, nullptr, config, manager, force);
          if (!next) return next.status();
          return createDecision(info, std::move(*next), rollbacks, dry_run, user);
        }
        Result<Json> patched = Status(Code::kInternal, "");
        if (pt == PatchType::kApply) {
          Json config = patch_doc;
          RequestInfo ri_copy = ri;
          if (auto st = checkBodyIdentity(info, ri_copy, config, true); !st) return st;
          patched = api::applyConfig(ownership.ctx, &current->obj, config, manager, force);
        } else {
          patched = applyPatch(pt, current->obj, patch_doc,
                               api::Schemas::builtin().kindDefinition(info.group, info.version, info.kind));
        }
        if (!patched) return patched.status();
        Json next = std::move(*patched);
        if (!next.is_object()) return badRequest("the patch produced something other than an object");
        api::dropUnknownFields(info, next);
        // A resourceVersion in the patch is a precondition.
        std::string rv = clientResourceVersion(next);
        bool precondition = rv != std::to_string(current->mod_revision);
        if (precondition && !rv.empty())
          return conflict(info.qualifiedResource(), name,
                          "the object has been modified; please apply your changes to the latest version and try again");
        RequestInfo ri_copy = ri;
        if (auto st = checkBodyIdentity(info, ri_copy, next, true); !st) return st;
        if (auto st = api::checkFieldTypes(info, next); !st) {
          // Upstream reports a patch that produces a mistyped object as Invalid.
          Status invalid(Code::kInvalid, st.message());
          invalid.causes.push_back({"FieldValueInvalid", st.message(), "patch"});
          return invalid;
        }
        Json recorded = pt == PatchType::kApply ? Json() : FieldOwnership::recorded(info, next);
        if (auto st = admitUpdate(ctx_, info, sub, next, current->obj); !st) return st;
        if (auto st = checkPolicyWrite(user, info, next); !st) return st;
        if (pt != PatchType::kApply) ownership.recordUpdate(next, &current->obj, recorded, manager);
        WriteDecision d = decide(current, std::move(next), false);
        d.dry_run = dry_run;
        return d;
      },
      respondWritten(std::move(done), std::move(warnings), rollbacks, dry_run));
}

// The kinds whose upstream storage sets ReturnDeletedObject: a DELETE that
// removes one answers with the object rather than a Status.
static bool returnsDeletedObject(const api::ResourceInfo& info) {
  return info.group.empty() && (info.kind == "Pod" || info.kind == "Service" || info.kind == "ServiceAccount" ||
                                info.kind == "Namespace");
}

void Resources::remove(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done) {
  auto opts = parseDeleteOptions(req);
  if (!opts) return done(errorResponse(opts.status()));
  std::string key = info.storeKey(ri.ns, ri.name);
  auto pending = std::make_shared<bool>(false);
  Mutator mutate = [this, &info, o = *opts, name = ri.name, pending](const ObjectPtr& current) -> Result<WriteDecision> {
        if (!current) return notFound(info.qualifiedResource(), name);
        const Json& meta = current->obj["metadata"];
        if (!o.precondition_uid.empty() && o.precondition_uid != getString(meta, "uid"))
          return conflict(info.qualifiedResource(), name,
                          fmt::format("Precondition failed: UID in precondition: {}, UID in object meta: {}",
                                      o.precondition_uid, getString(meta, "uid")));
        if (!o.precondition_rv.empty() && o.precondition_rv != std::to_string(current->mod_revision))
          return conflict(info.qualifiedResource(), name,
                          fmt::format("Precondition failed: ResourceVersion in precondition: {}, ResourceVersion in object meta: {}",
                                      o.precondition_rv, current->mod_revision));
        Json next = current->obj;
        Json& m = next["metadata"];
        bool has_finalizers = m.contains("finalizers") && m["finalizers"].is_array() && !m["finalizers"].empty();
        if (o.propagation == "Orphan") {
          addFinalizer(m, "orphan");
          has_finalizers = true;
        } else if (o.propagation == "Foreground") {
          addFinalizer(m, "foregroundDeletion");
          has_finalizers = true;
        }
        std::string now = formatRfc3339(ctx_.clock->now());
        WriteDecision d;
        d.client_precondition = !o.precondition_rv.empty();
        if (info.kind == "Namespace" && info.group.empty()) {
          // The namespace controller empties it and removes the
          // "kubernetes" finalizer from spec.finalizers.
          if (m.contains("deletionTimestamp")) {
            d.op = WriteDecision::Op::kNone;
            d.obj = current->obj;
            *pending = true;
            return d;
          }
          m["deletionTimestamp"] = now;
          m["deletionGracePeriodSeconds"] = 0;
          next["status"]["phase"] = "Terminating";
          bool spec_finalizers = next.contains("spec") && next["spec"].contains("finalizers") &&
                                 next["spec"]["finalizers"].is_array() && !next["spec"]["finalizers"].empty();
          if (!spec_finalizers && !has_finalizers) {
            d.op = WriteDecision::Op::kDelete;
          } else {
            *pending = true;
          }
          d.obj = std::move(next);
          return d;
        }
        if (info.kind == "Pod" && info.group.empty()) {
          // Pods on a node stop gracefully: the node's agent finishes the
          // delete. Unscheduled pods go at once.
          int64_t grace = o.grace_period.value_or(
              current->obj.contains("spec") ? current->obj["spec"].value("terminationGracePeriodSeconds", int64_t{30}) : 30);
          bool scheduled = current->obj.contains("spec") && !getString(current->obj["spec"], "nodeName").empty();
          bool terminal = current->obj.contains("status") &&
                          (getString(current->obj["status"], "phase") == "Succeeded" ||
                           getString(current->obj["status"], "phase") == "Failed");
          if (scheduled && !terminal && grace > 0) {
            int64_t prev = m.value("deletionGracePeriodSeconds", int64_t{-1});
            if (!m.contains("deletionTimestamp") || grace < prev) {
              m["deletionTimestamp"] = formatRfc3339(ctx_.clock->now() + std::chrono::seconds(grace));
              m["deletionGracePeriodSeconds"] = grace;
              d.obj = std::move(next);
            } else {
              d.op = WriteDecision::Op::kNone;
              d.obj = current->obj;
            }
            *pending = true;
            return d;
          }
          m["deletionGracePeriodSeconds"] = 0;
        }
        if (has_finalizers) {
          if (m.contains("deletionTimestamp") && next == current->obj) {
            d.op = WriteDecision::Op::kNone;
          } else if (!m.contains("deletionTimestamp")) {
            m["deletionTimestamp"] = now;
            m["deletionGracePeriodSeconds"] = 0;
          }
          d.obj = std::move(next);
          *pending = true;
          return d;
        }
        d.op = WriteDecision::Op::kDelete;
        d.obj = std::move(next);
        return d;
      };
  guaranteedUpdate(
      info, key,
      [mutate = std::move(mutate), dry_run = opts->dry_run](const ObjectPtr& current) -> Result<WriteDecision> {
        auto d = mutate(current);
        if (d) d->dry_run = dry_run;
        return d;
      },
      [done = std::move(done), pending, &info](Result<WriteOutcome> r) {
        if (!r) return done(errorResponse(r.status()));
        // A deletion still pending (grace period, finalizers) answers with
        // the object; a finished one with a Status naming it, except for
        // the kinds whose upstream storage returns the deleted object.
        if (*pending || returnsDeletedObject(info)) return done(jsonResponse(200, r->obj->json));
        const Json& meta = objectAt(r->obj->obj, "metadata");
        Json details = {{"name", getString(meta, "name")}, {"kind", info.resource}, {"uid", getString(meta, "uid")}};
        if (!info.group.empty()) details["group"] = info.group;
        done(jsonResponse(200, Json({{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()},
                                     {"status", "Success"}, {"details", details}}).dump()));
      });
}

void Resources::removeCollection(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done) {
  // List with the request's selectors, then delete each item.
  Request list_req = req;
  list_req.method = "GET";
  list_req.headers["accept"] = "application/json";
  list_req.query.erase(std::remove_if(list_req.query.begin(), list_req.query.end(),
                                      [](const auto& kv) { return kv.first == "limit" || kv.first == "continue"; }),
                       list_req.query.end());
  RequestInfo list_ri = ri;
  list_ri.verb = "list";
  list(list_ri, info, list_req, [this, ri, &info, req, done = std::move(done)](Response lr) mutable {
    if (lr.status != 200) return done(std::move(lr));
    auto parsed = parseJson(lr.body);
    if (!parsed) return done(errorResponse(parsed.status()));
    Json items = (*parsed)["items"];
    struct State {
      std::mutex mu;
      Json deleted = Json::array();
      size_t remaining;
      Responder done;
      std::string list_kind, api_version;
    };
    auto state = std::make_shared<State>();
    state->remaining = items.size();
    state->done = std::move(done);
    state->list_kind = info.listKind();
    state->api_version = info.apiVersion();
    auto finish = [state] {
      Json out = {{"kind", state->list_kind}, {"apiVersion", state->api_version}, {"metadata", Json::object()},
                  {"items", state->deleted}};
      state->done(jsonResponse(200, out.dump()));
    };
    if (items.empty()) return finish();
    for (const auto& item : items) {
      RequestInfo one = ri;
      one.verb = "delete";
      one.name = api::nameOf(item);
      one.ns = api::namespaceOf(item);
      remove(one, info, req, [state, finish](Response r) {
        std::lock_guard lock(state->mu);
        if (r.status == 200 || r.status == 202) {
          auto j = parseJson(r.body);
          if (j) state->deleted.push_back(std::move(*j));
        }
        if (--state->remaining == 0) finish();
      });
    }
  });
}

void Resources::scale(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done) {
  std::string key = info.storeKey(ri.ns, ri.name);
  auto toScale = [&info](const Json& obj) {
    const Json* spec_r = api::atPath(obj, info.scale_spec_replicas);
    const Json* status_r = api::atPath(obj, info.scale_status_replicas);
    const Json* sel = api::atPath(obj, info.scale_selector);
    std::string selector;
    if (sel && sel->is_object()) {
      if (auto* ml = find(*sel, "matchLabels"); ml && ml->is_object())
        for (auto it = ml->begin(); it != ml->end(); ++it)
          selector += (selector.empty() ? "" : ",") + it.key() + "=" + (it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
    }
    const Json& m = obj["metadata"];
    Json meta = {{"name", m.value("name", "")}, {"namespace", m.value("namespace", "")}, {"uid", m.value("uid", "")},
                 {"resourceVersion", m.value("resourceVersion", "")}, {"creationTimestamp", m.value("creationTimestamp", "")}};
    return Json{{"kind", "Scale"},
                {"apiVersion", "autoscaling/v1"},
                {"metadata", meta},
                {"spec", {{"replicas", spec_r && spec_r->is_number() ? spec_r->get<int64_t>() : 0}}},
                {"status", {{"replicas", status_r && status_r->is_number() ? status_r->get<int64_t>() : 0}, {"selector", selector}}}};
  };
  if (ri.verb == "get") {
    ObjectPtr o = ctx_.cache->get(key);
    if (!o) return done(errorResponse(notFound(info.qualifiedResource(), ri.name)));
    return done(jsonResponse(200, toScale(o->obj).dump()));
  }
  if (ri.verb != "update" && ri.verb != "patch")
    return done(errorResponse(Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource")));
  Json patch_doc;
  PatchType pt = PatchType::kMerge;
  if (ri.verb == "patch") {
    auto type = patchTypeOf(req);
    if (!type) return done(errorResponse(type.status()));
    pt = *type;
    auto parsed = pt == PatchType::kApply ? parseYaml(req.body) : parseJson(req.body);
    if (!parsed) return done(errorResponse(parsed.status()));
    patch_doc = std::move(*parsed);
  } else {
    auto parsed = decodeBody(req);
    if (!parsed) return done(errorResponse(parsed.status()));
    patch_doc = std::move(*parsed);
  }
  bool dry_run = isDryRun(req);
  guaranteedUpdate(
      info, key,
      [this, &info, toScale, patch_doc = std::move(patch_doc), pt, verb = ri.verb, name = ri.name, dry_run,
       manager = fieldManagerOf(req)](const ObjectPtr& current) -> Result<WriteDecision> {
        if (!current) return notFound(info.qualifiedResource(), name);
        Json scale_obj = toScale(current->obj);
        Json next_scale;
        if (verb == "update") {
          next_scale = patch_doc;
        } else {
          auto p = applyPatch(pt, scale_obj, patch_doc, "io.k8s.api.autoscaling.v1.Scale");
          if (!p) return p.status();
          next_scale = std::move(*p);
        }
        std::string rv = clientResourceVersion(next_scale);
        bool precondition = verb == "update" && !rv.empty();
        if (!rv.empty() && rv != std::to_string(current->mod_revision))
          return conflict(info.qualifiedResource(), name,
                          "the object has been modified; please apply your changes to the latest version and try again");
        const Json* replicas = api::atPath(next_scale, "spec.replicas");
        if (!replicas || !replicas->is_number_integer() || replicas->get<int64_t>() < 0) {
          Status st(Code::kInvalid, fmt::format("Scale.autoscaling \"{}\" is invalid: spec.replicas: Invalid value: {}: must be greater than or equal to 0",
                                                name, replicas ? replicas->dump() : "null"));
          st.causes.push_back({"FieldValueInvalid", "must be greater than or equal to 0", "spec.replicas"});
          return st;
        }
        Json next = current->obj;
        *api::atPath(next, info.scale_spec_replicas, true) = replicas->get<int64_t>();
        Json recorded = next;
        if (auto st = admitUpdate(ctx_, info, "scale", next, current->obj); !st) return st;
        FieldOwnership(info, "scale", *ctx_.clock).recordUpdate(next, &current->obj, recorded, manager);
        WriteDecision d = decide(current, std::move(next), precondition);
        d.dry_run = dry_run;
        return d;
      },
      [done = std::move(done), toScale](Result<WriteOutcome> r) {
        if (!r) return done(errorResponse(r.status()));
        done(jsonResponse(200, toScale(r->obj->obj).dump()));
      });
}

void Resources::serve(const RequestInfo& ri, const api::ResourceInfo& info, Request req, Responder done) {
  if (info.namespaced && ri.ns.empty() && ri.verb != "list" && ri.verb != "watch") {
    return done(errorResponse(Status(Code::kNotFound, "the server could not find the requested resource")));
  }
  bool namespace_itself = info.kind == "Namespace" && info.group.empty() && ri.ns == ri.name;
  if (!info.namespaced && !ri.ns.empty() && !namespace_itself) {
    return done(errorResponse(Status(Code::kNotFound, "the server could not find the requested resource")));
  }
  if (namespace_itself && !ri.ns.empty()) {
    RequestInfo cluster = ri;
    cluster.ns.clear();
    return serve(cluster, info, std::move(req), std::move(done));
  }
  if (info.kind == "Pod" && info.group.empty() && !ri.name.empty() &&
      (ri.subresource == "log" || ri.subresource == "exec" || ri.subresource == "attach" ||
       ri.subresource == "portforward"))
    return podStream(ri, info, req, std::move(done));
  if (!acceptable(req)) {
    return done(errorResponse(Status(Code::kNotAcceptable,
                                     "only the following media types are accepted: application/json, application/yaml, "
                                     "application/vnd.kubernetes.protobuf")));
  }
  if (ri.name.empty() && (ri.verb == "update" || ri.verb == "patch")) {
    return done(errorResponse(Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource")));
  }
  if (ri.subresource == "scale") {
    if (!info.has_scale) return done(errorResponse(Status(Code::kNotFound, "the server could not find the requested resource")));
    return scale(ri, info, req, std::move(done));
  }
  bool core_pods = info.kind == "Pod" && info.group.empty();
  if (core_pods && (ri.subresource == "binding" || ri.subresource == "eviction")) {
    if (ri.verb != "create")
      return done(errorResponse(Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource")));
    if (ri.subresource == "binding") return bind(ri, info, req, std::move(done));
    return evict(ri, info, req, std::move(done));
  }
  if (!ri.subresource.empty()) {
    bool ok = (ri.subresource == "status" && info.has_status) ||
              (ri.subresource == "finalize" && info.kind == "Namespace" && info.group.empty() && ri.verb == "update");
    if (!ok) return done(errorResponse(Status(Code::kNotFound, "the server could not find the requested resource")));
    if (ri.verb == "get") return get(ri, info, req, std::move(done));
    if (ri.verb == "update") return update(ri, info, req, std::move(done));
    if (ri.verb == "patch") return patch(ri, info, req, std::move(done));
    return done(errorResponse(Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource")));
  }
  const std::string& v = ri.verb;
  if (v == "get") return get(ri, info, req, std::move(done));
  if (v == "list") return list(ri, info, req, std::move(done));
  if (v == "watch") return watch(ri, info, req, std::move(done));
  if (v == "create") return create(ri, info, req, std::move(done));
  if (v == "update") return update(ri, info, req, std::move(done));
  if (v == "patch") return patch(ri, info, req, std::move(done));
  if (v == "delete") return remove(ri, info, req, std::move(done));
  if (v == "deletecollection") {
    if (std::find(info.verbs.begin(), info.verbs.end(), "deletecollection") == info.verbs.end())
      return done(errorResponse(Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource")));
    return removeCollection(ri, info, req, std::move(done));
  }
  done(errorResponse(Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource")));
}

}  // namespace capstan::apiserver
