#pragma once
// Which pods a controller deletes first when it scales down: upstream's
// ActivePodsWithRanks ordering (pkg/controller/controller_utils.go).

#include <vector>

#include "client/informer.h"
#include "common/clock.h"

namespace capstan::controllers {

// Sorts `pods` so that the ones to delete first come first:
//   1. not yet scheduled before scheduled;
//   2. Pending before Unknown before Running;
//   3. not ready before ready;
//   4. lower controller.kubernetes.io/pod-deletion-cost first;
//   5. more `related` pods on the same node first (doubled-up pods);
//   6. ready for a shorter time first (log2 buckets, as LogarithmicScaleDown);
//   7. more container restarts first;
//   8. newer first (log2 buckets); ties by uid.
// `related`: the active pods counted for rule 5 (the owner's and its
// siblings' pods).
void rankPodsForDeletion(std::vector<client::ObjectPtr>& pods, const std::vector<client::ObjectPtr>& related,
                         WallTime now);

}  // namespace capstan::controllers
