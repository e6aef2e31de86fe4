#include "client/leader_election.h"

#include "common/clock.h"
#include "common/log.h"

namespace capstan::client {

LeaderElector::LeaderElector(const Client& client, LeaderElectionConfig cfg, std::function<void()> on_started,
                             std::function<void()> on_stopped)
    : client_(client), cfg_(std::move(cfg)), on_started_(std::move(on_started)), on_stopped_(std::move(on_stopped)) {}

LeaderElector::~LeaderElector() { stop(); }

void LeaderElector::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void LeaderElector::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool LeaderElector::sleepFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopping_; });
}

bool LeaderElector::tryAcquireOrRenew() {
  auto now_wall = SystemClock::instance().now();
  auto now = std::chrono::steady_clock::now();
  std::string stamp = formatRfc3339Micro(now_wall);
  int duration_s = std::max<int>(1, std::chrono::duration_cast<std::chrono::seconds>(cfg_.lease_duration).count());

  auto cur = client_.get(res::kLeases, cfg_.lease_namespace, cfg_.lease_name);
  if (!cur) {
    if (cur.status().code() != Code::kNotFound) return false;
    Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", cfg_.lease_name}, {"namespace", cfg_.lease_namespace}}},
                  {"spec",
                   {{"holderIdentity", cfg_.identity},
                    {"leaseDurationSeconds", duration_s},
                    {"acquireTime", stamp},
                    {"renewTime", stamp},
                    {"leaseTransitions", 0}}}};
    auto r = client_.create(res::kLeases, cfg_.lease_namespace, lease);
    if (!r) return false;
    observed_record_ = r->value("spec", Json::object()).dump();
    observed_at_ = now;
    return true;
  }
  Json lease = std::move(*cur);
  Json spec = lease.value("spec", Json::object());
  std::string record = spec.dump();
  if (record != observed_record_) {
    observed_record_ = record;
    observed_at_ = now;
  }
  std::string holder = spec.value("holderIdentity", "");
  bool ours = holder == cfg_.identity;
  bool expired = holder.empty() || now - observed_at_ > cfg_.lease_duration;
  if (!ours && !expired) return false;

  if (!ours) {
    spec["acquireTime"] = stamp;
    spec["leaseTransitions"] = spec.value("leaseTransitions", 0) + 1;
  }
  spec["holderIdentity"] = cfg_.identity;
  spec["leaseDurationSeconds"] = duration_s;
  spec["renewTime"] = stamp;
  lease["spec"] = spec;
  auto r = client_.update(res::kLeases, cfg_.lease_namespace, lease);  // CAS on resourceVersion
  if (!r) return false;
  observed_record_ = r->value("spec", Json::object()).dump();
  observed_at_ = now;
  return true;
}

void LeaderElector::release() {
  auto cur = client_.get(res::kLeases, cfg_.lease_namespace, cfg_.lease_name);
  if (!cur || cur->value("spec", Json::object()).value("holderIdentity", "") != cfg_.identity) return;
  Json lease = std::move(*cur);
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  (void)client_.update(res::kLeases, cfg_.lease_namespace, lease);
}

void LeaderElector::run() {
  for (;;) {
    // Acquire.
    while (!tryAcquireOrRenew())
      if (!sleepFor(cfg_.retry_period)) return;
    leader_ = true;
    LOG_INFO("became leader", "lease", cfg_.lease_namespace + "/" + cfg_.lease_name, "identity", cfg_.identity);
    if (on_started_) on_started_();
    // Renew until stopped or a renewal fails for longer than the deadline.
    auto last_renew = std::chrono::steady_clock::now();
    bool stopping = false;
    for (;;) {
      if (!sleepFor(cfg_.retry_period)) {
        stopping = true;
        break;
      }
      if (tryAcquireOrRenew()) {
        last_renew = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - last_renew > cfg_.renew_deadline) {
        break;
      }
    }
    leader_ = false;
    LOG_INFO("leadership lost or released", "lease", cfg_.lease_name, "identity", cfg_.identity);
    if (on_stopped_) on_stopped_();
    if (stopping) {
      release();
      return;
    }
  }
}

}  // namespace capstan::client
