// GET, LIST and WATCH, served from the watch cache (or, for a continued or
// exact-revision list the cache has moved past, from the store's history).
#include <charconv>

#include "api/selector.h"
#include "apiserver/resources.h"
#include "apiserver/responses.h"
#include "apiserver/watch_stream.h"
#include "common/base64.h"

namespace capstan::apiserver {
namespace {

Result<int64_t> parseNonNegative(const std::string& s, const char* what) {
  if (s.empty()) return int64_t{0};
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0)
    return Status(Code::kBadRequest, std::string("invalid ") + what + ": \"" + s + "\"");
  return v;
}

struct ContinueToken {
  int64_t rv = 0;
  std::string start;  // first key to return
};

std::string encodeContinue(const ContinueToken& t) {
  return base64Encode(Json({{"v", "meta.k8s.io/v1"}, {"rv", t.rv}, {"start", t.start}}).dump());
}

Result<ContinueToken> decodeContinue(const std::string& s, const std::string& prefix) {
  auto raw = base64Decode(s);
  Status bad(Code::kBadRequest, "continue key is not valid: " + s);
  if (!raw) return bad;
  auto j = parseJson(*raw);
  if (!j || !j->is_object() || !(*j)["rv"].is_number_integer() || !(*j)["start"].is_string()) return bad;
  ContinueToken t{(*j)["rv"].get<int64_t>(), (*j)["start"].get<std::string>()};
  if (t.start.compare(0, prefix.size(), prefix) != 0) return bad;
  return t;
}

std::string listPrefix(const RequestInfo& ri, const api::ResourceInfo& info) {
  std::string p = info.storePrefix();
  if (info.namespaced && !ri.ns.empty()) p += ri.ns + "/";
  return p;
}

struct Selectors {
  api::LabelSelector labels;
  api::FieldSelector fields;
};

Result<Selectors> parseSelectors(const api::ResourceInfo& info, const Request& req) {
  auto ls = api::LabelSelector::parse(req.param("labelSelector"));
  if (!ls) return ls.status();
  auto fs = api::FieldSelector::parse(req.param("fieldSelector"));
  if (!fs) return fs.status();
  static const Json kEmpty = Json::object();
  if (auto st = fs->check([&](std::string_view f) { return api::selectableFieldValue(info, kEmpty, f); }); !st) {
    return Status(Code::kBadRequest, "field label not supported: " + st.message().substr(st.message().rfind(' ') + 1));
  }
  return Selectors{std::move(*ls), std::move(*fs)};
}

bool selected(const Selectors& s, const api::ResourceInfo& info, const Json& obj) {
  static const Json kNull;
  const Json* labels = nullptr;
  if (auto* m = find(obj, "metadata")) labels = find(*m, "labels");
  if (!s.labels.empty() && !s.labels.matches(labels ? *labels : kNull)) return false;
  if (!s.fields.empty() && !s.fields.matches([&](std::string_view f) { return api::selectableFieldValue(info, obj, f); }))
    return false;
  return true;
}

Status tooOldContinue() {
  Status st(Code::kGone,
            "The provided continue parameter is too old to display a consistent list result. You can start a new "
            "list without the continue parameter, or use the continue token in this response to retrieve the "
            "remainder of the results. Continuing with the provided token results in an inconsistent list - objects "
            "that were created, modified, or deleted between the time the first chunk was returned and now may show "
            "up in the list.");
  st.reason_override = "Expired";
  return st;
}

}  // namespace

void Resources::get(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done) {
  ObjectPtr o = ctx_.cache->get(info.storeKey(ri.ns, ri.name));
  if (!o) return done(errorResponse(notFound(info.qualifiedResource(), ri.name)));
  if (wantsTable(req)) {
    Json t = api::toTable(info, {&o->obj}, includeObjectParam(req), ctx_.clock->now());
    t["metadata"]["resourceVersion"] = std::to_string(o->mod_revision);
    return done(jsonResponse(200, t.dump()));
  }
  done(jsonResponse(200, o->json));
}

void Resources::list(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done) {
  auto sel = parseSelectors(info, req);
  if (!sel) return done(errorResponse(sel.status()));
  auto limit = parseNonNegative(req.param("limit"), "limit");
  if (!limit) return done(errorResponse(limit.status()));
  std::string prefix = listPrefix(ri, info);

  std::optional<ContinueToken> token;
  if (std::string c = req.param("continue"); !c.empty()) {
    auto t = decodeContinue(c, prefix);
    if (!t) return done(errorResponse(t.status()));
    token = *t;
  }
  int64_t exact = 0;
  std::string rv_param = req.param("resourceVersion");
  std::string rv_match = req.param("resourceVersionMatch");
  if (!rv_match.empty() && rv_match != "Exact" && rv_match != "NotOlderThan")
    return done(errorResponse(Status(Code::kBadRequest, "resourceVersionMatch: Unsupported value: \"" + rv_match +
                                                            "\": supported values: \"Exact\", \"NotOlderThan\"")));
  int64_t rv_num = 0;
  if (!rv_param.empty()) {
    auto r = parseNonNegative(rv_param, "resourceVersion");
    if (!r) return done(errorResponse(r.status()));
    rv_num = *r;
  } else if (!rv_match.empty()) {
    return done(errorResponse(Status(Code::kBadRequest, "resourceVersionMatch is forbidden unless resourceVersion is provided")));
  }
  if (rv_match == "Exact") exact = rv_num;
  if (token) exact = token->rv;

  int64_t cache_rev = ctx_.cache->revision();
  if (rv_match == "NotOlderThan" && rv_num > cache_rev) {
    Status st(Code::kTimeout, "Too large resource version: " + std::to_string(rv_num) + ", current: " + std::to_string(cache_rev));
    return done(errorResponse(st));
  }

  std::vector<ObjectPtr> objs;
  int64_t list_rev = 0;
  if (exact != 0 && exact != cache_rev) {
    // An older snapshot: read it from the store's history.
    std::string start = token ? token->start : prefix;
    auto r = ctx_.store->range({start, store::prefixEnd(prefix), exact, 0});
    if (!r) {
      if (r.status().code() == Code::kGone) return done(errorResponse(token ? tooOldContinue() : [&] {
        Status st(Code::kGone, "too old resource version: " + std::to_string(exact));
        st.reason_override = "Expired";
        return st;
      }()));
      return done(errorResponse(r.status()));
    }
    for (const auto& kv : r->kvs) {
      auto o = ObjectCache::decode(kv, kv.mod_revision);
      if (o) objs.push_back(*o);
    }
    list_rev = exact;
  } else {
    objs = ctx_.cache->list(prefix, &list_rev);
    if (token) {
      auto it = std::lower_bound(objs.begin(), objs.end(), token->start,
                                 [](const ObjectPtr& o, const std::string& k) { return o->key < k; });
      objs.erase(objs.begin(), it);
    }
  }

  std::vector<const Json*> items;
  std::string next_key;
  int64_t remaining = 0;
  bool unfiltered = sel->labels.empty() && sel->fields.empty();
  for (size_t i = 0; i < objs.size(); ++i) {
    if (!selected(*sel, info, objs[i]->obj)) continue;
    if (*limit > 0 && static_cast<int64_t>(items.size()) >= *limit) {
      next_key = objs[i]->key;
      // As upstream, the count is given only when no selector filters it.
      if (unfiltered) remaining = static_cast<int64_t>(objs.size() - i);
      break;
    }
    items.push_back(&objs[i]->obj);
  }
  std::string cont = next_key.empty() ? "" : encodeContinue({list_rev, next_key});

  if (wantsTable(req)) {
    Json t = api::toTable(info, items, includeObjectParam(req), ctx_.clock->now());
    t["metadata"]["resourceVersion"] = std::to_string(list_rev);
    if (!cont.empty()) t["metadata"]["continue"] = cont;
    if (remaining > 0) t["metadata"]["remainingItemCount"] = remaining;
    return done(jsonResponse(200, t.dump()));
  }
  // Items are already serialized in the cache: concatenate them.
  std::string body;
  body.reserve(128 + items.size() * 1024);
  body += R"({"kind":")" + info.listKind() + R"(","apiVersion":")" + info.apiVersion() +
          R"(","metadata":{"resourceVersion":")" + std::to_string(list_rev) + "\"";
  if (!cont.empty()) body += R"(,"continue":")" + cont + "\"";
  if (remaining > 0) body += R"(,"remainingItemCount":)" + std::to_string(remaining);
  body += R"(},"items":[)";
  size_t n = 0;
  for (size_t i = 0; i < objs.size() && n < items.size(); ++i) {
    if (&objs[i]->obj != items[n]) continue;
    if (n) body += ',';
    body += objs[i]->json;
    ++n;
  }
  body += "]}";
  done(jsonResponse(200, std::move(body)));
}

void Resources::watch(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done) {
  auto sel = parseSelectors(info, req);
  if (!sel) return done(errorResponse(sel.status()));
  WatchOptions opts;
  opts.info = &info;
  opts.prefix = listPrefix(ri, info);
  if (!ri.name.empty()) {
    // A watch on /pods/NAME (deprecated form) watches that object.
    auto fs = api::FieldSelector::parse("metadata.name=" + ri.name);
    if (fs) sel->fields = *fs;
  }
  opts.labels = sel->labels;
  opts.fields = sel->fields;
  std::string rv = req.param("resourceVersion");
  if (rv.empty() || rv == "0") {
    opts.send_initial = true;
  } else {
    auto r = parseNonNegative(rv, "resourceVersion");
    if (!r) return done(errorResponse(r.status()));
    opts.after = *r;
  }
  opts.table = wantsTable(req);
  opts.include = includeObjectParam(req);
  opts.bookmarks = req.param("allowWatchBookmarks") == "true";
  opts.metric_labels = {"WATCH", info.group, info.version, info.resource, "", ri.ns.empty() ? "cluster" : "namespace"};
  auto timeout = parseNonNegative(req.param("timeoutSeconds"), "timeoutSeconds");
  if (!timeout) return done(errorResponse(timeout.status()));

  Response r;
  r.content_type = opts.table ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "application/json";
  r.stream = std::make_shared<WatchStream>(*ctx_.cache, *ctx_.metrics, *ctx_.clock, std::move(opts));
  // Without timeoutSeconds, end the watch after 30-60 minutes as
  // kube-apiserver does, so clients spread their re-watches.
  r.stream_timeout = *timeout > 0 ? std::chrono::seconds(*timeout)
                                  : std::chrono::seconds(1800 + (std::hash<std::string>{}(req.remote + rv) % 1800));
  done(std::move(r));
}

}  // namespace capstan::apiserver
