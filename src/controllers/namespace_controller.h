#pragma once
#include <vector>

#include "controllers/controller.h"

namespace capstan::controllers {

class NamespaceController final : public Controller {
 public:
  // `namespaced`: every namespaced resource to empty (from the kind registry).
  NamespaceController(Context& ctx, std::vector<client::ResourceRef> namespaced);
  ~NamespaceController() override { stop(); }

 protected:
  Status sync(const std::string& key) override;

 private:
  std::vector<client::ResourceRef> namespaced_;
};

}  // namespace capstan::controllers
