#pragma once
// The garbage collector: objects whose owners (ownerReferences) are all
// gone are deleted; an owner deleted with propagationPolicy=Foreground
// (finalizer foregroundDeletion) waits until its blocking dependents are
// gone; with Orphan (finalizer orphan) its dependents lose the reference.
//
// Queue keys are "<resource index>|<ns>/<name>" over the watched resources.
// Owners are looked up by uid in the informers; an owner missing from the
// caches is confirmed absent with a live GET before anything is deleted.

#include <vector>

#include "api/registry.h"
#include "controllers/controller.h"

namespace capstan::controllers {

class GarbageCollector final : public Controller {
 public:
  GarbageCollector(Context& ctx, const api::Registry& registry, std::vector<client::ResourceRef> watched);
  ~GarbageCollector() override { stop(); }

 protected:
  Status sync(const std::string& key) override;

 private:
  struct Owner {
    bool exists = false;
    bool waiting_for_dependents = false;  // being deleted in the foreground
  };
  void enqueueObject(size_t resource, const Json& obj);
  void enqueueDependents(const std::string& owner_uid);
  Owner lookupOwner(const std::string& ns, const Json& ref);
  std::vector<std::pair<size_t, ObjectPtr>> dependentsOf(const std::string& owner_uid);
  Status processFinalizers(size_t resource, const Json& obj);
  Status processOwners(size_t resource, const Json& obj);
  Status removeFinalizer(size_t resource, const Json& obj, const std::string& finalizer);

  const api::Registry& registry_;
  std::vector<client::ResourceRef> watched_;
};

}  // namespace capstan::controllers
