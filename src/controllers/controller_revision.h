#pragma once
// ControllerRevisions for the DaemonSet and StatefulSet controllers, as
// upstream's pkg/controller/history: a revision holds the part of the spec
// that defines a pod (its `data`), is named <owner>-<hash> and labelled
// controller-revision-hash=<hash>; its `revision` number orders history.

#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "controllers/pod_template.h"

namespace capstan::controllers {

// upstream's HashControllerRevision: FNV-1a (32 bit) of the data (and the
// collision count), written with the safe alphabet ("bcdf...789").
std::string revisionHash(const Json& data, int64_t collision_count);

struct RevisionSet {
  client::ObjectPtr current;               // the revision whose data equals the wanted data
  std::vector<client::ObjectPtr> history;  // all of the owner's revisions, oldest revision first
};

// Finds the owner's revision with `data` among `owned` (its revisions),
// creating it (revision = max + 1) or renumbering an older equal one to be
// the newest. `collision_count` is the owner's status.collisionCount.
Result<RevisionSet> ensureRevision(const client::Client& client, const Json& owner, const OwnerKind& kind,
                                   const Json& data, int64_t collision_count,
                                   std::vector<client::ObjectPtr> owned);

// Deletes the oldest revisions beyond `limit` whose hash is not in `in_use`.
Status pruneRevisions(const client::Client& client, const RevisionSet& set, int64_t limit,
                      const std::vector<std::string>& in_use_hashes);

}  // namespace capstan::controllers
