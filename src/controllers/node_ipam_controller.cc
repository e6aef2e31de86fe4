#include "controllers/node_ipam_controller.h"

#include <arpa/inet.h>
#include <fmt/format.h>

namespace capstan::controllers {
namespace {

bool parseCidr(const std::string& cidr, uint32_t* net, int* bits) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  in_addr a{};
  if (inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &a) != 1) return false;
  *bits = std::atoi(cidr.c_str() + slash + 1);
  if (*bits < 0 || *bits > 32) return false;
  uint32_t mask = *bits == 0 ? 0 : ~uint32_t(0) << (32 - *bits);
  *net = ntohl(a.s_addr) & mask;
  return true;
}

std::string formatCidr(uint32_t net, int bits) {
  in_addr a{htonl(net)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return fmt::format("{}/{}", buf, bits);
}

}  // namespace

NodeIpamController::NodeIpamController(Context& ctx) : Controller("node-ipam", ctx, 1) {
  ctx.informers.get(client::res::kNodes).addHandlers(enqueueHandlers());
}

Status NodeIpamController::sync(const std::string& key) {
  auto& nodes = ctx_.informers.get(client::res::kNodes);
  auto node = nodes.get(key);
  uint32_t cluster = 0;
  int cluster_bits = 0;
  if (!parseCidr(ctx_.options.cluster_cidr, &cluster, &cluster_bits))
    return Status(Code::kInvalid, "bad cluster CIDR " + ctx_.options.cluster_cidr);
  int bits = ctx_.options.node_cidr_mask;
  std::lock_guard lock(mu_);
  for (const auto& n : nodes.list()) {
    uint32_t net = 0;
    int b = 0;
    if (parseCidr(getString(objectAt(*n, "spec"), "podCIDR"), &net, &b)) assigned_.insert(net);
  }
  if (!node || !getString(objectAt(*node, "spec"), "podCIDR").empty()) return Status::ok();
  uint64_t slices = bits > cluster_bits ? (uint64_t(1) << (bits - cluster_bits)) : 1;
  for (uint64_t i = 0; i < slices; ++i) {
    uint32_t net = cluster + static_cast<uint32_t>(i << (32 - bits));
    if (assigned_.count(net)) continue;
    std::string cidr = formatCidr(net, bits);
    auto r = ctx_.client.patch(client::res::kNodes, "", key, client::PatchType::kMerge,
                               {{"spec", {{"podCIDR", cidr}, {"podCIDRs", {cidr}}}}});
    if (!r) return r.status();
    assigned_.insert(net);
    ctx_.events.record(*node, "Normal", "CIDRAssignmentSucceeded", fmt::format("Node {} got CIDR {}", key, cidr));
    return Status::ok();
  }
  ctx_.events.record(*node, "Warning", "CIDRNotAvailable", "Node " + key + " status is now: CIDRNotAvailable");
  return Status(Code::kUnavailable, "no pod CIDR left for node " + key);
}

}  // namespace capstan::controllers
