#include "proxy/nftables.h"

#include <fcntl.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace capstan::proxy {

namespace {

Result<nft_ctx*> newContext(bool dry_run) {
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (!ctx) return Status(Code::kInternal, "nft_ctx_new failed");
  // Messages go to buffers, not to our stdout/stderr.
  if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
    nft_ctx_free(ctx);
    return Status(Code::kInternal, "nft: cannot buffer output");
  }
  nft_ctx_set_dry_run(ctx, dry_run);
  return ctx;
}

}  // namespace

Result<std::unique_ptr<Nftables>> Nftables::open(bool dry_run) {
  auto ctx = newContext(dry_run);
  if (!ctx) return ctx.status();
  return std::unique_ptr<Nftables>(new Nftables(*ctx, dry_run));
}

Nftables::~Nftables() { release(); }

void Nftables::release() {
  if (ctx_) nft_ctx_free(ctx_);
  ctx_ = nullptr;
}

Status Nftables::run(const std::string& text) {
  if (!ctx_) {
    auto ctx = newContext(dry_run_);
    if (!ctx) return ctx.status();
    ctx_ = *ctx;
  }
  int rc = nft_run_cmd_from_buffer(ctx_, text.c_str());
  if (rc == 0) return Status::ok();
  const char* err = nft_ctx_get_error_buffer(ctx_);
  std::string msg = err && *err ? err : "nft failed";
  // The first lines say what and where; a whole ruleset's worth of
  // follow-on errors does not help a log reader.
  if (msg.size() > 4096) msg = msg.substr(0, 4096) + "...";
  return Status(Code::kInternal, "nft: " + msg);
}

Result<bool> Nftables::hasTable(const std::string& name) {
  Status st = run("list tables ip");
  const char* out = ctx_ ? nft_ctx_get_output_buffer(ctx_) : nullptr;  // and empties it
  if (!st) return st;
  std::string want = "table ip " + name + "\n";
  std::string_view listed = out ? out : "";
  for (size_t at = listed.find(want); at != std::string_view::npos; at = listed.find(want, at + 1))
    if (at == 0 || listed[at - 1] == '\n') return true;
  return false;
}

Status enterNetworkNamespace(const std::string& path) {
  if (path.empty()) return Status::ok();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status(Code::kNotFound, "open " + path + ": " + std::strerror(errno));
  int rc = ::setns(fd, CLONE_NEWNET);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status(Code::kInternal, "setns " + path + ": " + std::strerror(err));
  return Status::ok();
}

}  // namespace capstan::proxy
