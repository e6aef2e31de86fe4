#include "api/managed_fields.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/clock.h"

namespace capstan::api {
namespace {

constexpr int kMaxUpdateManagers = 10;
constexpr std::string_view kApply = "Apply";
constexpr std::string_view kUpdate = "Update";

// Fields no manager ever owns (upstream's stripMeta).
const FieldSet& strippedFields() {
  static const FieldSet kSet = [] {
    FieldSet s;
    for (const char* f : {"apiVersion", "kind", "metadata"}) s.insert({fieldElement(f)});
    for (const char* f : {"name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
                          "generation", "managedFields", "resourceVersion"})
      s.insert({fieldElement("metadata"), fieldElement(f)});
    return s;
  }();
  return kSet;
}

// The fields a write may own: a status write only status, a main-resource
// write of a kind with a status subresource everything but status.
FieldSet ownable(const FieldManagerContext& ctx, const FieldSet& set) {
  static const FieldSet kStatus = [] {
    FieldSet s;
    s.insert({fieldElement("status")});
    return s;
  }();
  if (ctx.subresource == "status") {
    FieldSet out;
    if (set.members().contains(fieldElement("status"))) out.addMember(fieldElement("status"));
    out.addChild(fieldElement("status"), set.child(fieldElement("status")));
    return out;
  }
  if (ctx.has_status && ctx.subresource.empty()) return set.recursiveDifference(kStatus);
  return set;
}

Comparison ownable(const FieldManagerContext& ctx, const Comparison& c) {
  return {ownable(ctx, c.removed), ownable(ctx, c.modified), ownable(ctx, c.added)};
}

Json withoutManagedFields(const Json& obj) {
  Json out = obj;
  if (Json* m = find(out, "metadata"); m && m->is_object()) m->erase("managedFields");
  return out;
}

ManagedFieldsEntry entry(const FieldManagerContext& ctx, const std::string& manager,
                         std::string_view operation) {
  ManagedFieldsEntry e;
  e.manager = manager.empty() ? "unknown" : manager;
  e.operation = std::string(operation);
  e.api_version = ctx.api_version;
  e.subresource = ctx.subresource;
  return e;
}

void dropEmpty(ManagedFields& managed) {
  std::erase_if(managed, [](const auto& kv) { return kv.second.fields.empty(); });
}

int64_t seconds(const std::string& time) {
  auto t = parseRfc3339(time);
  return t ? std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count() : 0;
}

// Keeps at most kMaxUpdateManagers Update entries, folding the oldest into
// one "ancient-changes" entry per apiVersion (upstream's capManagers).
void capUpdateManagers(ManagedFields& managed) {
  std::vector<std::string> updaters;
  for (const auto& [id, e] : managed)
    if (e.operation == kUpdate) updaters.push_back(id);
  if (static_cast<int>(updaters.size()) <= kMaxUpdateManagers) return;
  std::sort(updaters.begin(), updaters.end(), [&](const std::string& a, const std::string& b) {
    int64_t ta = seconds(managed[a].time), tb = seconds(managed[b].time);
    return ta != tb ? ta < tb : a < b;
  });
  std::map<std::string, std::string> first_of_version;
  int length = static_cast<int>(updaters.size());
  for (size_t i = 0; i < updaters.size() && length > kMaxUpdateManagers; ++i) {
    ManagedFieldsEntry e = managed[updaters[i]];
    ManagedFieldsEntry bucket_entry;
    bucket_entry.manager = "ancient-changes";
    bucket_entry.operation = std::string(kUpdate);
    bucket_entry.api_version = e.api_version;
    std::string bucket = managerIdentifier(bucket_entry);
    auto first = first_of_version.find(e.api_version);
    if (first == first_of_version.end()) {
      first_of_version[e.api_version] = updaters[i];
      continue;
    }
    if (!managed.contains(bucket)) {
      ManagedFieldsEntry moved = managed[first->second];
      managed.erase(first->second);
      bucket_entry.fields = moved.fields;
      bucket_entry.time = moved.time;
      managed[bucket] = bucket_entry;
    }
    ManagedFieldsEntry& b = managed[bucket];
    b.fields = e.fields.unionWith(b.fields);
    b.time = e.time;
    managed.erase(updaters[i]);
    --length;
  }
}

// Upstream's printManager: "name" [with subresource "s"] [using apiVersion].
std::string printManager(const ManagedFieldsEntry& e) {
  std::string out = Json(e.manager).dump();
  if (!e.subresource.empty()) out += " with subresource " + Json(e.subresource).dump();
  if (e.operation == kUpdate) out += " using " + e.api_version;
  return out;
}

Status conflictError(const ManagedFields& managed, const std::map<std::string, FieldSet>& conflicts) {
  struct One {
    std::string manager;
    std::string path;
  };
  std::vector<One> all;
  for (const auto& [id, set] : conflicts) {  // identifiers in sorted order, as upstream prints them
    std::string who = printManager(managed.at(id));
    set.forEach([&](const FieldPath& p) { all.push_back({who, pathString(p)}); });
  }
  std::string msg;
  if (all.size() == 1) {
    msg = fmt::format("Apply failed with 1 conflict: conflict with {}: {}", all[0].manager, all[0].path);
  } else {
    std::vector<std::string> lines;
    std::string current;
    for (const auto& c : all) {
      if (c.manager != current || lines.empty()) {
        lines.push_back(fmt::format("conflicts with {}:", c.manager));
        current = c.manager;
      }
      lines.push_back("- " + c.path);
    }
    msg = fmt::format("Apply failed with {} conflicts: {}", all.size(), fmt::join(lines, "\n"));
  }
  Status st(Code::kConflict, msg);
  for (const auto& c : all)
    st.causes.push_back({"FieldManagerConflict", "conflict with " + c.manager, c.path});
  return st;
}

std::string lastAppliedOf(const Json& obj) {
  const Json& ann = objectAt(objectAt(obj, "metadata"), "annotations");
  return getString(ann, kLastAppliedAnnotation);
}

// The fields client-side apply set (per the live object's last-applied
// annotation) that still hold the values it set: the "kubectl" manager may
// take them over without a conflict.
FieldSet lastAppliedFields(const FieldManagerContext& ctx, const Json& live) {
  auto last = parseJson(lastAppliedOf(live));
  if (!last || !last->is_object() || getString(*last, "apiVersion") != ctx.api_version) return {};
  auto set = ctx.typed->toFieldSet(*last);
  auto cmp = ctx.typed->compare(&*last, &live);
  if (!set || !cmp) return {};
  return set->difference(cmp->modified).difference(cmp->added).difference(cmp->removed);
}

// kubectl's last-applied-configuration for an applied configuration.
std::string buildLastApplied(const Json& config) {
  Json c = config;
  if (Json* meta = find(c, "metadata"); meta && meta->is_object())
    if (Json* ann = find(*meta, "annotations"); ann && ann->is_object())
      ann->erase(std::string(kLastAppliedAnnotation));
  return c.dump() + "\n";
}

// Removes what `manager` applied last time (`last`) and applies no more,
// unless another manager owns it (structured-merge-diff's prune).
Json prune(const TypedObjects& typed, const Json& merged, const ManagedFields& managed,
           const FieldSet& last) {
  if (last.empty()) return merged;
  FieldSet last_named = typed.ensureNamedFieldsAreMembers(last);
  Json pruned = typed.removeItems(merged, last_named);
  FieldSet owned;
  for (const auto& [id, e] : managed) owned = owned.unionWith(e.fields);
  auto merged_set = typed.toFieldSet(merged);
  auto pruned_set = typed.toFieldSet(pruned);
  if (!merged_set || !pruned_set) return merged;
  FieldSet all = typed.ensureNamedFieldsAreMembers(*merged_set);
  FieldSet keep =
      typed.ensureNamedFieldsAreMembers(*pruned_set).unionWith(typed.ensureNamedFieldsAreMembers(owned));
  pruned = typed.removeItems(merged, all.difference(keep));
  // Only what this manager applied last time goes.
  auto after = typed.toFieldSet(pruned);
  if (!after) return merged;
  FieldSet gone = all.difference(typed.ensureNamedFieldsAreMembers(*after)).intersection(last_named);
  return typed.removeItems(merged, gone);
}

void setManagedFields(Json& obj, const ManagedFields& managed) {
  Json& meta = obj["metadata"];
  if (!meta.is_object()) meta = Json::object();
  if (managed.empty())
    meta.erase("managedFields");
  else
    meta["managedFields"] = encodeManagedFields(managed);
}

// Records `manager`'s Update from `before` to `after` into `managed`
// (structured-merge-diff's Updater.Update behind upstream's
// managedFieldsUpdater): the changed fields are taken from everyone else,
// removed fields are no longer owned, and the manager's entry gains the
// changed fields with a new time. False when the objects cannot be compared.
bool update(const FieldManagerContext& ctx, ManagedFields& managed, const Json* before, const Json& after,
            const std::string& manager) {
  auto cmp = ctx.typed->compare(before, &after);
  if (!cmp) return false;
  Comparison c = ownable(ctx, *cmp);
  FieldSet changed = c.modified.unionWith(c.added);
  for (auto& [id, e] : managed) e.fields = e.fields.difference(changed).difference(c.removed);
  FieldSet mine = changed.difference(strippedFields());
  ManagedFieldsEntry me = entry(ctx, manager, kUpdate);
  std::string id = managerIdentifier(me);
  if (!mine.empty()) {
    if (auto it = managed.find(id); it != managed.end()) mine = mine.unionWith(it->second.fields);
    me.fields = std::move(mine);
    me.time = ctx.now;
    managed[id] = std::move(me);
  }
  dropEmpty(managed);
  capUpdateManagers(managed);
  return true;
}

}  // namespace

std::string managerIdentifier(const ManagedFieldsEntry& e) {
  // As Go marshals a ManagedFieldsEntry without fieldsType, fieldsV1 and
  // time (and, for Apply, apiVersion): the field order is the struct's.
  Json::string_t out =
      "{\"manager\":" + Json(e.manager).dump() + ",\"operation\":" + Json(e.operation).dump();
  if (e.operation != kApply && !e.api_version.empty()) out += ",\"apiVersion\":" + Json(e.api_version).dump();
  if (!e.subresource.empty()) out += ",\"subresource\":" + Json(e.subresource).dump();
  return out + "}";
}

Result<ManagedFields> decodeManagedFields(const Json* entries) {
  ManagedFields out;
  if (!entries || entries->is_null()) return out;
  if (!entries->is_array()) return Status(Code::kBadRequest, "managedFields must be a list");
  for (size_t i = 0; i < entries->size(); ++i) {
    const Json& j = (*entries)[i];
    if (!j.is_object())
      return Status(Code::kBadRequest, fmt::format("managed fields entry {} is not an object", i));
    ManagedFieldsEntry e;
    e.manager = getString(j, "manager");
    e.operation = getString(j, "operation");
    e.api_version = getString(j, "apiVersion");
    e.subresource = getString(j, "subresource");
    e.time = getString(j, "time");
    if (e.operation != kApply && e.operation != kUpdate)
      return Status(Code::kBadRequest, "operation must be `Apply` or `Update`");
    if (e.api_version.empty()) return Status(Code::kBadRequest, "apiVersion must not be empty");
    std::string type = getString(j, "fieldsType");
    if (type.empty())
      return Status(Code::kBadRequest, fmt::format("missing fieldsType in managed fields entry {}", i));
    if (type != "FieldsV1")
      return Status(Code::kBadRequest,
                    fmt::format("invalid fieldsType \"{}\" in managed fields entry {}", type, i));
    if (const Json* f = find(j, "fieldsV1"); f && !f->is_null()) {
      auto set = FieldSet::fromFieldsV1(*f);
      if (!set) return set.status();
      e.fields = std::move(*set);
    }
    out[managerIdentifier(e)] = std::move(e);
  }
  return out;
}

Json encodeManagedFields(const ManagedFields& managed) {
  std::vector<const ManagedFieldsEntry*> order;
  for (const auto& [id, e] : managed) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const ManagedFieldsEntry* p, const ManagedFieldsEntry* q) {
    if (p->operation != q->operation) return p->operation < q->operation;
    if (int64_t a = seconds(p->time), b = seconds(q->time); a != b) return a < b;
    if (p->manager != q->manager) return p->manager < q->manager;
    if (p->api_version != q->api_version) return p->api_version < q->api_version;
    return p->subresource < q->subresource;
  });
  Json out = Json::array();
  for (const ManagedFieldsEntry* e : order) {
    Json j = {{"manager", e->manager}, {"operation", e->operation}, {"apiVersion", e->api_version}};
    if (!e->time.empty()) j["time"] = e->time;
    j["fieldsType"] = "FieldsV1";
    j["fieldsV1"] = e->fields.toFieldsV1();
    if (!e->subresource.empty()) j["subresource"] = e->subresource;
    out.push_back(std::move(j));
  }
  return out;
}

std::string managerFromUserAgent(std::string_view user_agent) {
  std::string m(user_agent.substr(0, user_agent.find('/')));
  return m.empty() ? "unknown" : m;
}

Json recordUpdate(const FieldManagerContext& ctx, const Json* live, const Json& next,
                  const std::string& manager) {
  const Json* live_entries = live ? find(objectAt(*live, "metadata"), "managedFields") : nullptr;
  auto from_live = [&] {
    auto m = decodeManagedFields(live_entries);
    return m ? std::move(*m) : ManagedFields{};
  };
  ManagedFields managed;
  const Json* sent = find(objectAt(next, "metadata"), "managedFields");
  bool reset = ctx.subresource.empty() && sent && sent->is_array() &&
               (sent->empty() || (sent->size() == 1 && (*sent)[0].is_object() && (*sent)[0].empty()));
  if (!reset) {
    auto decoded =
        ctx.subresource.empty() ? decodeManagedFields(sent) : Result<ManagedFields>(ManagedFields{});
    managed = decoded && !decoded->empty() ? std::move(*decoded) : from_live();
  }
  // An object that never had managed fields is not tracked until it is
  // applied to (upstream's skipNonApplied; creates are always tracked).
  if (managed.empty() && live) return Json::array();
  Json before = live ? withoutManagedFields(*live) : ctx.typed->zeroValue();
  Json after = withoutManagedFields(next);
  if (!update(ctx, managed, &before, after, manager)) {
    // Objects the schema cannot read (e.g. list items without their keys)
    // keep their previous ownership.
    return live_entries && live_entries->is_array() ? *live_entries : Json::array();
  }
  return encodeManagedFields(managed);
}

Result<Json> applyConfig(const FieldManagerContext& ctx, const Json* live, const Json& config,
                         const std::string& manager, bool force) {
  const TypedObjects& typed = *ctx.typed;
  if (const Json* mf = find(objectAt(config, "metadata"), "managedFields"); mf && !mf->is_null())
    return Status(Code::kBadRequest, "metadata.managedFields must be nil");
  ManagedFields managed;
  if (live) {
    auto decoded = decodeManagedFields(find(objectAt(*live, "metadata"), "managedFields"));
    if (!decoded)
      return Status(Code::kInternal, "failed to decode managed fields: " + decoded.status().message());
    managed = std::move(*decoded);
  }
  Json before = live ? withoutManagedFields(*live) : Json::object();
  if (managed.empty() && live) {
    // The fields of an object never tracked so far belong to
    // "before-first-apply" (upstream's skipNonApplied).
    FieldManagerContext main = ctx;
    Json zero = typed.zeroValue();
    if (!update(main, managed, &zero, before, "before-first-apply")) managed.clear();
  }
  auto typed_config_set = typed.toFieldSet(config, false);
  if (!typed_config_set)
    return Status(Code::kBadRequest,
                  "failed to create typed patch object: " + typed_config_set.status().message());
  auto merged = typed.merge(before, config);
  if (!merged) return Status(Code::kBadRequest, "failed to merge config: " + merged.status().message());

  ManagedFieldsEntry me = entry(ctx, manager, kApply);
  std::string id = managerIdentifier(me);
  FieldSet last;
  std::string previous_time;
  if (auto it = managed.find(id); it != managed.end()) {
    last = it->second.fields;
    previous_time = it->second.time;
  }
  me.fields = ownable(ctx, *typed_config_set);
  me.time = previous_time;
  managed[id] = me;
  Json next = prune(typed, *merged, managed, last);

  auto cmp = typed.compare(&before, &next);
  if (!cmp) return Status(Code::kBadRequest, "failed to compare objects: " + cmp.status().message());
  Comparison c = ownable(ctx, *cmp);
  FieldSet changed = c.modified.unionWith(c.added);
  std::map<std::string, FieldSet> conflicts;
  for (const auto& [other, e] : managed) {
    if (other == id) continue;
    FieldSet mine = e.fields.intersection(changed);
    if (!mine.empty()) conflicts[other] = std::move(mine);
  }
  if (!conflicts.empty() && !force) {
    // kubectl taking over from client-side apply: fields it set to the
    // values last-applied still records are not conflicts.
    bool allowed = false;
    if (manager == "kubectl" && live && !lastAppliedOf(*live).empty()) {
      FieldSet ok = lastAppliedFields(ctx, before);
      std::map<std::string, FieldSet> left;
      for (const auto& [other, set] : conflicts) {
        FieldSet rest;
        set.forEach([&](const FieldPath& p) {
          if (!ok.has(p)) rest.insert(p);
        });
        if (!rest.empty()) left[other] = std::move(rest);
      }
      if (left.empty())
        allowed = true;
      else
        conflicts = std::move(left);
    }
    if (!allowed) return conflictError(managed, conflicts);
  }
  for (auto& [other, e] : managed) {
    if (other == id) continue;
    e.fields = e.fields.difference(changed).difference(c.removed);
  }
  managed[id].fields = managed[id].fields.difference(strippedFields());
  bool changed_object = next != before;
  if (changed_object) managed[id].time = ctx.now;
  dropEmpty(managed);

  if (manager == "kubectl" && !lastAppliedOf(next).empty())
    next["metadata"]["annotations"][std::string(kLastAppliedAnnotation)] = buildLastApplied(config);
  setManagedFields(next, managed);
  return next;
}

}  // namespace capstan::api
