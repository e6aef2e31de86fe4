#pragma once
// The proxy's iptables mode, for hosts without nftables: runs this
// machine's iptables tools (iptables-restore, iptables-save, iptables; or
// their -legacy / -nft variants) with the rules of proxy/iptables_rules.h.
// Each sync is one iptables-restore --noflush per table, so a table's
// chains change atomically; the jumps from the built-in chains are checked
// (-C) after each sync and inserted when missing.
//
// Threading: one thread at a time; the tools run in the network namespace
// of the calling thread.

#include <map>
#include <memory>
#include <set>
#include <string>

#include "common/status.h"
#include "proxy/iptables_rules.h"

namespace capstan::proxy {

class Iptables {
 public:
  // `tool` names the family: "iptables" (the machine's alternative),
  // "iptables-legacy" or "iptables-nft". NotFound when it is not installed.
  static Result<std::unique_ptr<Iptables>> open(IptablesOptions options, const std::string& tool = "iptables");

  // Makes our chains exactly these services, and the hooks into them.
  Status sync(const std::map<std::string, ServiceInfo>& services);

  // Removes the hooks and every chain of `prefix`. Succeeds, doing
  // nothing, when there are none or the tools are not installed.
  static Status cleanup(const std::string& prefix, const std::string& tool = "iptables");

 private:
  Iptables(IptablesOptions options, std::string tool) : options_(std::move(options)), tool_(std::move(tool)) {}

  IptablesOptions options_;
  std::string tool_;  // absolute path of the iptables binary; -save and -restore beside it
  bool known_ = false;  // existing_ is as the last sync left it
  std::map<std::string, std::set<std::string>> existing_;
};

}  // namespace capstan::proxy
