#pragma once
// libnftables in-process: nft's own parser and evaluator, no fork/exec.
// Each run() is one buffer and so one netlink batch: the kernel applies all
// of it or none of it.
//
// libnftables keeps a cache of the kernel's ruleset in its context (all
// tables of the network namespace, not only ours), reused while the
// ruleset's generation is unchanged: a change to a big table runs in a few
// milliseconds with it, four times that without. The cache is also most of
// an idle proxy's heap (19 of an idle agent's 22 MiB), so the owner calls
// release() when it goes idle, and the next run() makes a new context
// (about 20 us, plus the cache's refill).
//
// Threading: an Nftables is used by one thread at a time. A context's
// netlink socket belongs to the network namespace of the thread that made
// it, so a proxy that works in another namespace runs its commands (and
// releases) on a thread that has entered it (see enterNetworkNamespace).

#include <memory>
#include <string>

#include "common/status.h"

struct nft_ctx;

namespace capstan::proxy {

class Nftables {
 public:
  // dry_run: commands are parsed and evaluated (the kernel's current
  // ruleset is read for the cache) but nothing is changed: `nft --check`.
  // Fails when libnftables cannot make a context.
  static Result<std::unique_ptr<Nftables>> open(bool dry_run = false);
  ~Nftables();
  Nftables(const Nftables&) = delete;
  Nftables& operator=(const Nftables&) = delete;

  // Runs the commands in `text` as one transaction. On failure the Status
  // carries nft's error messages (with the offending line).
  Status run(const std::string& text);
  // Whether table `name` of family ip exists (`list tables`).
  Result<bool> hasTable(const std::string& name);
  // Frees the context and its cache; the next run() makes a new one.
  void release();
  bool holdsContext() const { return ctx_ != nullptr; }

 private:
  explicit Nftables(nft_ctx* ctx, bool dry_run) : ctx_(ctx), dry_run_(dry_run) {}
  nft_ctx* ctx_;  // null after release()
  bool dry_run_;
};

// Moves the calling thread into the network namespace at `path` (a
// /run/netns/<name> or /proc/<pid>/ns/net file). Empty path: no change.
Status enterNetworkNamespace(const std::string& path);

}  // namespace capstan::proxy
