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

// What a comparison of `before` and `after` leaves out: metadata.managedFields
// itself, and the fields the write may not own (as ownable above), so that
// they are neither copied away nor walked. `scratch` holds the set when it
// depends on the objects (status writes: every top-level field but status).
const FieldSet& unownedFields(const FieldManagerContext& ctx, const Json* before, const Json& after,
                              FieldSet& scratch) {
  static const FieldSet kManagedFields = [] {
    FieldSet s;
    s.insert({fieldElement("metadata"), fieldElement("managedFields")});
    return s;
  }();
  static const FieldSet kManagedFieldsAndStatus = [] {
    FieldSet s = kManagedFields;
    s.insert({fieldElement("status")});
    return s;
  }();
  if (ctx.subresource == "status") {
    scratch = kManagedFields;
    for (const Json* obj : {before, &after})
      if (obj && obj->is_object())
        for (const auto& [key, value] : obj->items())
          if (key != "status") scratch.insert({fieldElement(key)});
    return scratch;
  }
  return ctx.has_status && ctx.subresource.empty() ? kManagedFieldsAndStatus : kManagedFields;
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

// Live entries an update leaves alone are stored again as they are, as
// encoding them would write the same JSON; those it cannot change are not
// even decoded (a status write does not touch the spec's entries).
struct StoredEntries {
  std::map<std::string, const Json*> entries;    // by manager identifier
  std::map<std::string, const Json*> undecoded;  // their fieldsV1: canonical, not empty
};

// Drops the entries left without fields (undecoded ones have some).
void dropEmpty(ManagedFields& managed, const StoredEntries* stored = nullptr) {
  std::erase_if(managed, [&](const auto& kv) {
    return kv.second.fields.empty() && !(stored && stored->undecoded.contains(kv.first));
  });
}

int64_t seconds(const std::string& time) {
  auto t = parseRfc3339(time);
  return t ? std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count() : 0;
}

// Keeps at most kMaxUpdateManagers Update entries, folding the oldest into
// one "ancient-changes" entry per apiVersion (upstream's capManagers). True
// when it changed anything.
bool capUpdateManagers(ManagedFields& managed) {
  std::vector<std::string> updaters;
  for (const auto& [id, e] : managed)
    if (e.operation == kUpdate) updaters.push_back(id);
  if (static_cast<int>(updaters.size()) <= kMaxUpdateManagers) return false;
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
  return true;
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

// Decodes the undecoded entries an update may change: those with fields
// under a top-level element it changed or removed, the updater's own (`id`),
// and all of them when capUpdateManagers may fold entries.
bool decodeTouched(ManagedFields& managed, StoredEntries& stored, const FieldSet& changed,
                   const FieldSet& removed, const std::string& id) {
  if (stored.undecoded.empty()) return true;
  auto updaters = std::count_if(managed.begin(), managed.end(),
                                [](const auto& kv) { return kv.second.operation == kUpdate; });
  bool all = updaters >= kMaxUpdateManagers;
  auto under = [](const FieldSet& set, const std::string& pe) {
    return set.members().contains(pe) || set.children().contains(pe);
  };
  for (auto it = stored.undecoded.begin(); it != stored.undecoded.end();) {
    bool touched = all || it->first == id;
    for (auto f = it->second->begin(); !touched && f != it->second->end(); ++f)
      touched = under(changed, f.key()) || under(removed, f.key());
    if (!touched) {
      ++it;
      continue;
    }
    auto set = FieldSet::fromFieldsV1(*it->second);
    if (!set) return false;  // not reached: canonical FieldsV1 is valid
    managed[it->first].fields = std::move(*set);
    it = stored.undecoded.erase(it);
  }
  return true;
}

// Records `manager`'s Update from `before` to `after` into `managed`
// (structured-merge-diff's Updater.Update behind upstream's
// managedFieldsUpdater): the changed fields are taken from everyone else,
// removed fields are no longer owned, and the manager's entry gains the
// changed fields with a new time. The objects' managedFields are not
// compared. False when the objects cannot be compared. With `stored`, the
// entries of `managed` it names may be undecoded; those the update changes
// are decoded or no longer kept as stored.
bool update(const FieldManagerContext& ctx, ManagedFields& managed, const Json* before, const Json& after,
            const std::string& manager, StoredEntries* stored = nullptr) {
  FieldSet scratch;
  auto cmp = ctx.typed->compare(before, &after, unownedFields(ctx, before, after, scratch));
  if (!cmp) return false;
  FieldSet changed = std::move(cmp->modified);
  if (changed.empty())
    changed = std::move(cmp->added);  // a create: no copy
  else
    changed.unite(cmp->added);
  ManagedFieldsEntry me = entry(ctx, manager, kUpdate);
  std::string id = managerIdentifier(me);
  if (stored && !decodeTouched(managed, *stored, changed, cmp->removed, id)) return false;
  auto changed_entry = [&](const std::string& changed_id) {
    if (stored) stored->entries.erase(changed_id);
  };
  for (auto& [other, e] : managed) {
    bool taken = e.fields.subtract(changed);
    if (e.fields.subtract(cmp->removed) || taken) changed_entry(other);
  }
  FieldSet mine = std::move(changed);
  mine.subtract(strippedFields());
  if (!mine.empty()) {
    if (auto it = managed.find(id); it != managed.end()) mine.unite(it->second.fields);
    me.fields = std::move(mine);
    me.time = ctx.now;
    managed[id] = std::move(me);
    changed_entry(id);
  }
  dropEmpty(managed, stored);
  if (capUpdateManagers(managed) && stored) stored->entries.clear();
  return true;
}

// Whether encodeManagedFields writes `e` exactly as the stored entry `j`,
// given that its fieldsV1 is canonical: the same fields with the same
// values, and no others.
bool encodesAs(const Json& j, const ManagedFieldsEntry& e) {
  auto is = [&](std::string_view key, std::string_view value) {
    const Json* v = find(j, key);
    return v && v->is_string() && v->get_ref<const std::string&>() == value;
  };
  const Json* fields = find(j, "fieldsV1");
  size_t size = 5 + !e.time.empty() + !e.subresource.empty();
  return j.size() == size && fields && fields->is_object() && is("manager", e.manager) &&
         is("operation", e.operation) && is("apiVersion", e.api_version) && is("fieldsType", "FieldsV1") &&
         (e.time.empty() || is("time", e.time)) &&
         (e.subresource.empty() || is("subresource", e.subresource));
}

// decodeManagedFields; with `stored`, the entries encoding would write as
// they are go there instead of being decoded (their fields stay empty).
Result<ManagedFields> decodeEntries(const Json* entries, StoredEntries* stored) {
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
    const Json* f = find(j, "fieldsV1");
    std::string id = managerIdentifier(e);
    if (stored && f && f->is_object() && !f->empty() && encodesAs(j, e) &&
        FieldSet::isCanonicalFieldsV1(*f)) {
      stored->entries[id] = &j;
      stored->undecoded[id] = f;
      out[id] = std::move(e);
      continue;
    }
    if (f && !f->is_null()) {
      auto set = FieldSet::fromFieldsV1(*f);
      if (!set) return set.status();
      e.fields = std::move(*set);
    }
    if (stored) {  // a later duplicate replaces an earlier one
      stored->entries.erase(id);
      stored->undecoded.erase(id);
    }
    out[id] = std::move(e);
  }
  return out;
}

// encodeManagedFields, writing the entries found in `stored` as they are.
Json encodeEntries(const ManagedFields& managed, const std::map<std::string, const Json*>& stored) {
  std::vector<const ManagedFields::value_type*> order;
  for (const auto& kv : managed) order.push_back(&kv);
  std::stable_sort(order.begin(), order.end(), [](const auto* pk, const auto* qk) {
    const ManagedFieldsEntry* p = &pk->second;
    const ManagedFieldsEntry* q = &qk->second;
    if (p->operation != q->operation) return p->operation < q->operation;
    if (int64_t a = seconds(p->time), b = seconds(q->time); a != b) return a < b;
    if (p->manager != q->manager) return p->manager < q->manager;
    if (p->api_version != q->api_version) return p->api_version < q->api_version;
    return p->subresource < q->subresource;
  });
  Json out = Json::array();
  for (const auto* kv : order) {
    if (auto it = stored.find(kv->first); it != stored.end()) {
      out.push_back(*it->second);
      continue;
    }
    const ManagedFieldsEntry* e = &kv->second;
    Json j = {{"manager", e->manager}, {"operation", e->operation}, {"apiVersion", e->api_version}};
    if (!e->time.empty()) j["time"] = e->time;
    j["fieldsType"] = "FieldsV1";
    j["fieldsV1"] = e->fields.toFieldsV1();
    if (!e->subresource.empty()) j["subresource"] = e->subresource;
    out.push_back(std::move(j));
  }
  return out;
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

Result<ManagedFields> decodeManagedFields(const Json* entries) { return decodeEntries(entries, nullptr); }

Json encodeManagedFields(const ManagedFields& managed) { return encodeEntries(managed, {}); }

std::string managerFromUserAgent(std::string_view user_agent) {
  std::string m(user_agent.substr(0, user_agent.find('/')));
  return m.empty() ? "unknown" : m;
}

Json recordUpdate(const FieldManagerContext& ctx, const Json* live, const Json& next,
                  const std::string& manager) {
  const Json* live_entries = live ? find(objectAt(*live, "metadata"), "managedFields") : nullptr;
  StoredEntries stored;  // only for entries from the live object
  auto from_live = [&] {
    auto m = decodeEntries(live_entries, &stored);
    if (m) return std::move(*m);
    stored = {};
    return ManagedFields{};
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
  if (!update(ctx, managed, live ? live : &ctx.typed->zeroValue(), next, manager, &stored)) {
    // Objects the schema cannot read (e.g. list items without their keys)
    // keep their previous ownership.
    return live_entries && live_entries->is_array() ? *live_entries : Json::array();
  }
  return encodeEntries(managed, stored.entries);
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
    const Json& zero = typed.zeroValue();
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

  FieldSet scratch;
  auto cmp = typed.compare(&before, &next, unownedFields(ctx, &before, next, scratch));
  if (!cmp) return Status(Code::kBadRequest, "failed to compare objects: " + cmp.status().message());
  const Comparison& c = *cmp;
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
