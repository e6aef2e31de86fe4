#pragma once
#include "controllers/controller.h"

namespace capstan::controllers {

// Every active namespace has the ConfigMap kube-root-ca.crt holding the
// cluster CA under ca.crt, as kube-controller-manager's root-ca-cert-publisher
// keeps it: pods mount it (the kube-api-access volume) to trust the API
// server. A changed or deleted copy is put back. Idle when no CA is given.
class RootCaPublisher final : public Controller {
 public:
  static constexpr const char* kConfigMapName = "kube-root-ca.crt";

  explicit RootCaPublisher(Context& ctx);
  ~RootCaPublisher() override { stop(); }

 protected:
  Status sync(const std::string& key) override;
};

}  // namespace capstan::controllers
