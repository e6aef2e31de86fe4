#include "store/memory/memory_store.h"

#include <algorithm>

namespace capstan::store {

MemoryStore::MemoryStore() : watchers_(std::make_shared<WatcherSet>()) {}

const MemoryStore::Version* MemoryStore::at(const std::vector<Version>& versions, int64_t rev) const {
  const Version* found = nullptr;
  for (const auto& v : versions) {
    if (v.kv.mod_revision > rev) break;
    found = &v;
  }
  if (!found || found->tombstone) return nullptr;
  return found;
}

Result<RangeResult> MemoryStore::range(const RangeRequest& req) {
  std::lock_guard lock(mu_);
  int64_t rev = req.revision == 0 ? revision_ : req.revision;
  if (rev > revision_) return Status(Code::kBadRequest, "requested revision is in the future");
  if (req.revision != 0 && rev < compacted_)
    return Status(Code::kGone, "required revision has been compacted");
  RangeResult out;
  out.revision = rev;
  auto it = versions_.lower_bound(req.key);
  for (; it != versions_.end(); ++it) {
    if (req.end.empty()) {
      if (it->first != req.key) break;
    } else if (req.end != std::string(1, '\0') && it->first >= req.end) {
      break;
    }
    const Version* v = at(it->second, rev);
    if (!v) continue;
    if (req.limit > 0 && static_cast<int64_t>(out.kvs.size()) >= req.limit) {
      out.more = true;
      break;
    }
    out.kvs.push_back(v->kv);
  }
  return out;
}

void MemoryStore::txn(Txn t, TxnCallback done) {
  TxnResult res;
  std::vector<Event> events;
  {
    std::lock_guard lock(mu_);
    bool ok = true;
    for (const auto& c : t.compares) {
      auto it = versions_.find(c.key);
      const Version* v = it == versions_.end() ? nullptr : at(it->second, revision_);
      int64_t mod = v ? v->kv.mod_revision : 0;
      if (mod != c.mod_revision) ok = false;
    }
    if (!ok) {
      res.succeeded = false;
      res.revision = revision_;
      for (const auto& c : t.compares) {
        auto it = versions_.find(c.key);
        const Version* v = it == versions_.end() ? nullptr : at(it->second, revision_);
        res.kvs.push_back(v ? v->kv : KeyValue{c.key, "", 0, 0});
      }
    } else {
      int64_t rev = revision_ + 1;
      bool wrote = false;
      for (auto& op : t.ops) {
        auto& vs = versions_[op.key];
        const Version* cur = at(vs, revision_);
        if (op.type == Op::Type::kPut) {
          KeyValue kv{op.key, op.value, cur ? cur->kv.create_revision : rev, rev};
          vs.push_back({kv, false});
          events.push_back({EventType::kPut, kv, cur == nullptr, std::move(op.decoded)});
          res.kvs.push_back(kv);
          wrote = true;
        } else {
          if (!cur) {
            res.kvs.push_back(KeyValue{op.key, "", 0, 0});
            continue;
          }
          KeyValue kv = cur->kv;
          kv.mod_revision = rev;
          vs.push_back({kv, true});
          events.push_back({EventType::kDelete, kv, false});
          res.kvs.push_back(kv);
          wrote = true;
        }
      }
      if (wrote) revision_ = rev;
      res.succeeded = true;
      res.revision = revision_;
      watchers_->deliver(events);
      for (auto& e : events) e.decoded.reset();  // history keeps the bytes only
      log_.insert(log_.end(), std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
    }
  }
  done(std::move(res));
}

Result<std::unique_ptr<Watch>> MemoryStore::watch(const std::string& prefix, int64_t from_revision,
                                                  WatchCallback cb) {
  std::lock_guard lock(mu_);
  if (from_revision != 0 && from_revision <= compacted_)
    return Status(Code::kGone, "required revision has been compacted");
  if (from_revision != 0 && from_revision <= revision_) {
    std::vector<Event> replay;
    for (const auto& e : log_)
      if (e.kv.mod_revision >= from_revision && e.kv.key.compare(0, prefix.size(), prefix) == 0)
        replay.push_back(e);
    if (!replay.empty()) cb(replay);
  }
  return watchers_->add(prefix, std::move(cb));
}

Status MemoryStore::compact(int64_t revision) {
  std::lock_guard lock(mu_);
  if (revision <= compacted_) return Status(Code::kGone, "revision already compacted");
  if (revision > revision_) return Status(Code::kBadRequest, "revision is in the future");
  for (auto it = versions_.begin(); it != versions_.end();) {
    auto& vs = it->second;
    // Keep the newest version at or below `revision` (unless a tombstone) and all newer.
    size_t keep_from = 0;
    for (size_t i = 0; i < vs.size(); ++i)
      if (vs[i].kv.mod_revision <= revision) keep_from = i;
    if (!vs.empty() && vs[keep_from].kv.mod_revision <= revision && vs[keep_from].tombstone) ++keep_from;
    vs.erase(vs.begin(), vs.begin() + static_cast<long>(keep_from));
    it = vs.empty() ? versions_.erase(it) : std::next(it);
  }
  log_.erase(std::remove_if(log_.begin(), log_.end(),
                            [&](const Event& e) { return e.kv.mod_revision <= revision; }),
             log_.end());
  compacted_ = revision;
  return Status::ok();
}

int64_t MemoryStore::currentRevision() {
  std::lock_guard lock(mu_);
  return revision_;
}

int64_t MemoryStore::compactedRevision() {
  std::lock_guard lock(mu_);
  return compacted_;
}

}  // namespace capstan::store
