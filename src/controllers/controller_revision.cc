#include "controllers/controller_revision.h"

#include <algorithm>

#include "controllers/object_fields.h"

namespace capstan::controllers {

std::string revisionHash(const Json& data, int64_t collision_count) {
  uint32_t h = 2166136261u;
  auto add = [&](unsigned char c) {
    h ^= c;
    h *= 16777619u;
  };
  for (unsigned char c : data.dump()) add(c);
  if (collision_count > 0)
    for (int i = 0; i < 4; ++i) add(static_cast<unsigned char>((collision_count >> (8 * i)) & 0xff));
  static constexpr char kSafe[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (char c : std::to_string(h)) out += kSafe[static_cast<unsigned char>(c) % (sizeof(kSafe) - 1)];
  return out;
}

Result<RevisionSet> ensureRevision(const client::Client& client, const Json& owner, const OwnerKind& kind,
                                   const Json& data, int64_t collision_count,
                                   std::vector<client::ObjectPtr> owned) {
  std::sort(owned.begin(), owned.end(), [](const client::ObjectPtr& a, const client::ObjectPtr& b) {
    return intField(*a, "revision", 0) < intField(*b, "revision", 0);
  });
  RevisionSet out{nullptr, owned};
  int64_t max_revision = owned.empty() ? 0 : intField(*owned.back(), "revision", 0);
  const std::string ns = client::namespaceOf(owner);
  for (const auto& r : owned) {
    if (!r->contains("data") || (*r)["data"] != data) continue;
    if (r == owned.back()) {
      out.current = r;
      return out;
    }
    // An older revision rolled back to: it becomes the newest again.
    auto patched = client.patch(client::res::kControllerRevisions, ns, client::nameOf(*r),
                                client::PatchType::kMerge, {{"revision", max_revision + 1}});
    if (!patched) return patched.status();
    out.current = std::make_shared<const Json>(std::move(*patched));
    return out;
  }
  std::string hash = revisionHash(data, collision_count);
  std::string prefix = client::nameOf(owner).substr(0, 223);
  const Json& tmpl_labels = objectField(objectField(objectField(data, "spec"), "template"), "metadata");
  Json labels = objectField(tmpl_labels, "labels");
  labels["controller-revision-hash"] = hash;
  Json rev = {{"apiVersion", "apps/v1"},
              {"kind", "ControllerRevision"},
              {"metadata",
               {{"name", prefix + "-" + hash},
                {"namespace", ns},
                {"labels", labels},
                {"ownerReferences", Json::array({controllerRef(owner, kind)})}}},
              {"data", data},
              {"revision", max_revision + 1}};
  auto created = client.create(client::res::kControllerRevisions, ns, rev);
  if (!created && created.status().code() == Code::kAlreadyExists) {
    auto existing = client.get(client::res::kControllerRevisions, ns, prefix + "-" + hash);
    if (!existing) return existing.status();
    if ((*existing)["data"] != data || controllerUid(*existing) != client::uidOf(owner))
      return Status(Code::kConflict, "controller revision hash collision: " + prefix + "-" + hash);
    out.current = std::make_shared<const Json>(std::move(*existing));
    return out;
  }
  if (!created) return created.status();
  out.current = std::make_shared<const Json>(std::move(*created));
  out.history.push_back(out.current);
  return out;
}

Status pruneRevisions(const client::Client& client, const RevisionSet& set, int64_t limit,
                      const std::vector<std::string>& in_use_hashes) {
  std::vector<client::ObjectPtr> prunable;
  for (const auto& r : set.history) {
    if (set.current && client::uidOf(*r) == client::uidOf(*set.current)) continue;
    std::string hash = stringField(labelsOf(*r), "controller-revision-hash");
    std::string name = client::nameOf(*r);
    bool used = std::any_of(in_use_hashes.begin(), in_use_hashes.end(),
                            [&](const std::string& h) { return h == hash || h == name; });
    if (!used) prunable.push_back(r);
  }
  for (size_t i = 0; i + std::max<int64_t>(0, limit) < prunable.size(); ++i) {
    auto d = client.remove(client::res::kControllerRevisions, client::namespaceOf(*prunable[i]),
                           client::nameOf(*prunable[i]));
    if (!d && d.status().code() != Code::kNotFound) return d.status();
  }
  return Status::ok();
}

}  // namespace capstan::controllers
