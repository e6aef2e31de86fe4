// FitError.Error() as upstream words it (pkg/scheduler/framework/types.go).
#include <algorithm>
#include <map>

#include "scheduler/framework.h"

namespace capstan::scheduler {

std::string FitError::message() const {
  if (num_all_nodes == 0 && failures.empty() && pre_filter_msg.empty()) {
    return "no nodes available to schedule pods";
  }
  std::string out = "0/" + std::to_string(num_all_nodes) + " nodes are available:";
  if (!pre_filter_msg.empty()) {
    out += " " + pre_filter_msg + ".";
  } else {
    std::map<std::string_view, int> counts;
    for (const NodeFailure& f : failures) {
      for (const std::string& r : f.reasons) ++counts[r];
    }
    std::vector<std::string> parts;
    parts.reserve(counts.size());
    for (const auto& [reason, n] : counts) parts.push_back(std::to_string(n) + " " + std::string(reason));
    std::sort(parts.begin(), parts.end());
    if (!parts.empty()) {
      out += " ";
      for (size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) out += ", ";
        out += parts[i];
      }
      out += ".";
    }
  }
  if (!post_filter_msg.empty()) out += " " + post_filter_msg + ".";
  return out;
}

}  // namespace capstan::scheduler
