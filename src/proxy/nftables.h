#pragma once
// libnftables in-process: nft's own parser and evaluator, no fork/exec.
// Each run() is one buffer and so one netlink batch: the kernel applies all
// of it or none of it.
//
// Threading: a context is used by one thread at a time. Its netlink socket
// belongs to the network namespace of the thread that first runs a command,
// so a proxy that works in another namespace creates and uses its context
// on a thread that has entered it (see enterNetworkNamespace).

#include <memory>
#include <string>

#include "common/status.h"

struct nft_ctx;

namespace capstan::proxy {

class Nftables {
 public:
  // dry_run: commands are parsed and evaluated (the kernel's current
  // ruleset is read for the cache) but nothing is changed: `nft --check`.
  static Result<std::unique_ptr<Nftables>> open(bool dry_run = false);
  ~Nftables();
  Nftables(const Nftables&) = delete;
  Nftables& operator=(const Nftables&) = delete;

  // Runs the commands in `text` as one transaction. On failure the Status
  // carries nft's error messages (with the offending line).
  Status run(const std::string& text);
  // Whether table `name` of family ip exists (`list tables`).
  Result<bool> hasTable(const std::string& name);

 private:
  explicit Nftables(nft_ctx* ctx) : ctx_(ctx) {}
  nft_ctx* ctx_;
};

// Moves the calling thread into the network namespace at `path` (a
// /run/netns/<name> or /proc/<pid>/ns/net file). Empty path: no change.
Status enterNetworkNamespace(const std::string& path);

}  // namespace capstan::proxy
