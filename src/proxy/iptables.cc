#include "proxy/iptables.h"

#include <unistd.h>

#include <vector>

#include "agent/runtime/process.h"

namespace capstan::proxy {
namespace {

using agent::runtime::ProcessOptions;
using agent::runtime::runProcess;

std::string findTool(const std::string& tool) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/"}) {
    std::string path = dir + tool;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

// Runs `argv`; Internal with its stderr when it exits non-zero.
Status run(const std::vector<std::string>& argv, const std::string& input = "") {
  ProcessOptions po;
  po.stdin_data = input;
  po.timeout = std::chrono::seconds(30);
  auto r = runProcess(argv, po);
  if (!r) return r.status();
  if (r->exit_code != 0)
    return Status(Code::kInternal, argv[0] + " exited with " + std::to_string(r->exit_code) + ": " +
                                       agent::runtime::firstLine(r->err.empty() ? r->out : r->err));
  return Status::ok();
}

Result<std::map<std::string, std::set<std::string>>> listOurs(const std::string& tool, const std::string& prefix) {
  std::map<std::string, std::set<std::string>> out;
  for (const char* table : {"nat", "filter"}) {
    auto r = runProcess({tool + "-save", "-t", table});
    if (!r) return r.status();
    if (r->exit_code != 0) continue;  // the table does not exist (module not loaded): nothing of ours
    for (auto& [t, chains] : ourChains(r->out, prefix)) out[t].insert(chains.begin(), chains.end());
  }
  return out;
}

std::vector<std::string> hookArgs(const std::string& tool, const std::string& op, const IptablesHook& h) {
  std::vector<std::string> argv = {tool, "-w", "5", "-t", h.table, op, h.chain};
  if (op == "-I") argv.push_back("1");
  argv.insert(argv.end(), h.rule.begin(), h.rule.end());
  return argv;
}

}  // namespace

Result<std::unique_ptr<Iptables>> Iptables::open(IptablesOptions options, const std::string& tool) {
  std::string path = findTool(tool);
  if (path.empty() || findTool(tool + "-restore").empty() || findTool(tool + "-save").empty())
    return Status(Code::kNotFound, tool + ", " + tool + "-save or " + tool + "-restore is not installed");
  return std::unique_ptr<Iptables>(new Iptables(std::move(options), path));
}

Status Iptables::sync(const std::map<std::string, ServiceInfo>& services) {
  if (!known_) {
    auto ours = listOurs(tool_, options_.prefix);
    if (!ours) return ours.status();
    existing_ = std::move(*ours);
  }
  std::map<std::string, std::set<std::string>> wanted;
  std::string text = iptablesRestoreText(services, options_, existing_, &wanted);
  Status st = run({tool_ + "-restore", "-w", "5", "--noflush"}, text);
  // Every sync, as kube-proxy does: someone may have flushed a built-in chain.
  if (st)
    for (const auto& h : iptablesHooks(options_)) {
      if (run(hookArgs(tool_, "-C", h))) continue;
      st = run(hookArgs(tool_, "-I", h));
      if (!st) break;
    }
  known_ = static_cast<bool>(st);
  if (st) existing_ = std::move(wanted);
  return st;
}

Status Iptables::cleanup(const std::string& prefix, const std::string& tool) {
  std::string path = findTool(tool);
  if (path.empty() || findTool(tool + "-save").empty() || findTool(tool + "-restore").empty()) return Status::ok();
  auto ours = listOurs(path, prefix);
  if (!ours) return ours.status();
  if (ours->empty()) return Status::ok();  // nothing of ours: nothing to unhook either
  IptablesOptions o;
  o.prefix = prefix;
  for (const auto& h : iptablesHooks(o))
    while (run(hookArgs(path, "-D", h))) {
    }
  return run({path + "-restore", "-w", "5", "--noflush"}, iptablesDeleteText(*ours));
}

}  // namespace capstan::proxy
