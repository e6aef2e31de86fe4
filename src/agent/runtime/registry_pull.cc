#include "agent/runtime/image_store_impl.h"

namespace capstan::agent::runtime {

Result<Image> ImageStoreImpl::pull(std::string_view name, const PullOptions& options) {
  return Status(Code::kInternal, "pull not implemented yet");
}

}  // namespace capstan::agent::runtime
