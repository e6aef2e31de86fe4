#pragma once
#include "controllers/controller.h"

namespace capstan::controllers {

// Every active namespace has its `default` ServiceAccount.
class ServiceAccountController final : public Controller {
 public:
  explicit ServiceAccountController(Context& ctx);
  ~ServiceAccountController() override { stop(); }

 protected:
  Status sync(const std::string& key) override;
};

}  // namespace capstan::controllers
