#pragma once
// Removes UDP conntrack entries that would keep a flow going to an endpoint
// that is no longer the service's, as kube-proxy's conntrack cleanup does.
// UDP has no connection to end: a client that keeps its source port (a DNS
// resolver, a game, a syslog sender) would otherwise follow the old entry
// to the old endpoint, or to the rejection the service answered while it
// had none, until the entry times out (30 s and more, renewed by traffic).
//
// Threading: one handle per thread; it works in the network namespace of
// the thread that opened it.

#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "common/status.h"

struct nfct_handle;

namespace capstan::proxy {

// Entries of UDP flows whose original destination is `orig_dst`:`orig_dport`
// (the service address, or any address when empty, e.g. for a node port)
// and, when `endpoint` is set, that were translated to that endpoint (the
// reply comes from it). Without `endpoint`, every flow to the destination
// goes: what a service without endpoints rejected.
struct UdpFlow {
  std::string orig_dst;
  int orig_dport = 0;
  std::string endpoint;

  bool operator<(const UdpFlow& o) const {
    return std::tie(orig_dst, orig_dport, endpoint) < std::tie(o.orig_dst, o.orig_dport, o.endpoint);
  }
  bool operator==(const UdpFlow&) const = default;
};

class Conntrack {
 public:
  static Result<std::unique_ptr<Conntrack>> open();
  ~Conntrack();

  // Deletes the entries matching any of `flows`; returns how many went.
  Result<int> remove(const std::vector<UdpFlow>& flows);

 private:
  explicit Conntrack(nfct_handle* h) : h_(h) {}
  nfct_handle* h_;
};

}  // namespace capstan::proxy
