#include "agent/pod_sync.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "agent/lifecycle.h"
#include "agent/runtime/registry_auth.h"
#include "common/log.h"

namespace capstan::agent {
namespace fs = std::filesystem;
namespace {

std::vector<network::PortMapping> hostPortsOf(const Json& spec) {
  std::vector<network::PortMapping> out;
  for (const char* kind : {"initContainers", "containers"})
    for (const auto& c : arrayAt(spec, kind))
      for (const auto& p : arrayAt(c, "ports")) {
        int hp = p.value("hostPort", 0);
        if (hp <= 0) continue;
        std::string proto = p.value("protocol", "TCP");
        std::transform(proto.begin(), proto.end(), proto.begin(), ::tolower);
        out.push_back({hp, p.value("containerPort", 0), proto, p.value("hostIP", "")});
      }
  return out;
}

std::string readSmall(const std::string& path, size_t limit) {
  std::ifstream f(path, std::ios::binary);
  std::string s(limit, '\0');
  f.read(s.data(), static_cast<std::streamsize>(limit));
  s.resize(static_cast<size_t>(f.gcount()));
  return s;
}

// The attempt number after this container's.
int nextAttempt(const runtime::ContainerStatus& c) {
  auto it = c.labels.find(kLabelAttempt);
  return (it == c.labels.end() ? 0 : std::atoi(it->second.c_str())) + 1;
}

}  // namespace

PodSync::PodSync(AgentImpl& agent, ObjectPtr pod)
    : a_(agent), pod_(std::move(pod)), meta_(objectAt(*pod_, "metadata")), spec_(objectAt(*pod_, "spec")) {
  ns_ = meta_.value("namespace", "");
  name_ = meta_.value("name", "");
  uid_ = meta_.value("uid", "");
}

Json PodSync::podRef() const { return *pod_; }

Status PodSync::run() {
  view_.host_ip = a_.node_->nodeIp();
  view_.start_time = SystemClock::instance().now();
  for (auto& c : a_.containersOf(ns_, name_))
    if (c.status.labels[kLabelPodUid] == uid_) attempts_[c.status.labels[kLabelContainer]].push_back(c.status);

  std::string hostname = spec_.value("hostname", name_);
  // The pod's service-account tokens are fetched while its sandbox is made:
  // each costs the server a signature, and CNI mostly waits on its plugins.
  std::future<void> tokens;
  if (!serviceAccountTokenSources(*pod_).empty())
    tokens = std::async(std::launch::async, [this, pod = pod_] { fetchServiceAccountTokens(*pod, a_.lookup()); });
  auto sb = a_.network_->createSandbox(uid_, hostname.substr(0, 63), hostPortsOf(spec_));
  if (tokens.valid()) tokens.wait();
  if (!sb) {
    a_.events_.record(podRef(), "Warning", "FailedCreatePodSandBox",
                      "Failed to create pod sandbox: " + sb.status().message());
    (void)report();
    return sb.status();
  }
  sandbox_ = *sb;
  view_.pod_ip = sandbox_.ip;
  view_.sandbox_ready = true;
  if (auto st = writePodEtcFiles(*pod_, a_.podDirs(uid_), sandbox_.ip, a_.opts_.dns); !st) return st;

  auto vols = prepareVolumes(*pod_, a_.podDirs(uid_), a_.lookup());
  if (!vols) {
    a_.events_.record(podRef(), "Warning", "FailedMount", "MountVolume.SetUp failed: " + vols.status().message());
    for (const char* kind : {"initContainers", "containers"})
      for (const auto& c : arrayAt(spec_, kind)) {
        ContainerView v{c.value("name", ""), c.value("image", "")};
        v.init = std::string(kind) == "initContainers";
        v.waiting_reason = "ContainerCreating";
        (v.init ? view_.init_containers : view_.containers).push_back(v);
      }
    (void)report();
    a_.queue_.addAfter(client::keyOf(*pod_), std::chrono::seconds(2));
    return Status::ok();
  }
  volumes_ = std::move(*vols);

  // Init containers, one after another; app containers once all succeeded.
  view_.initialized = true;
  for (const auto& c : arrayAt(spec_, "initContainers")) {
    ContainerView v{c.value("name", ""), c.value("image", "")};
    v.init = true;
    if (view_.initialized) {
      bool done = ensureContainer(c, v, true);
      const auto& at = v.attempts;
      bool succeeded = done && !at.empty() && at[0].state == runtime::ContainerState::kExited && at[0].exit_code == 0;
      if (!succeeded) view_.initialized = false;
    } else {
      v.waiting_reason = "PodInitializing";
    }
    view_.init_containers.push_back(std::move(v));
  }
  std::set<std::string> probed;
  for (const auto& c : arrayAt(spec_, "containers")) {
    ContainerView v{c.value("name", ""), c.value("image", "")};
    if (view_.initialized) {
      if (ensureContainer(c, v, false) && v.attempts[0].state == runtime::ContainerState::kRunning) {
        trackProbes(c, v.attempts[0]);
        v.started = a_.prober_->started(v.attempts[0].id);
        v.ready = a_.prober_->ready(v.attempts[0].id);
        probed.insert(v.attempts[0].id);
      }
    } else {
      v.waiting_reason = "PodInitializing";
      v.attempts = attempts_[v.name];
    }
    view_.containers.push_back(std::move(v));
  }
  a_.prober_->retain(uid_, probed);
  Status st = report();
  if (requeue_.count() > 0) a_.queue_.addAfter(client::keyOf(*pod_), requeue_);
  return st;
}

void PodSync::trackProbes(const Json& container, const runtime::ContainerStatus& running) {
  ProbeTarget t{.pod_key = ns_ + "/" + name_,
                .pod_uid = uid_,
                .pod_ip = sandbox_.ip,
                .container_id = running.id,
                .container_name = container.value("name", ""),
                .container = container,
                .termination_grace_seconds = spec_.value("terminationGracePeriodSeconds", int64_t{30})};
  // The container's start on the monotonic clock the prober schedules by.
  auto& clock = SystemClock::instance();
  auto age = running.started_at ? clock.now() - *running.started_at : std::chrono::system_clock::duration{0};
  t.started = clock.monotonic() - std::chrono::duration_cast<std::chrono::steady_clock::duration>(age);
  a_.prober_->ensure(t);
}

bool PodSync::shouldRestart(const runtime::ContainerStatus& last) const {
  std::string policy = spec_.value("restartPolicy", "Always");
  if (policy == "Always") return true;
  if (policy == "OnFailure") return last.exit_code != 0;
  return false;
}

Result<runtime::Image> PodSync::ensureImage(const Json& container, ContainerView& view) {
  std::string image = container.value("image", "");
  std::string policy = container.value("imagePullPolicy", "IfNotPresent");
  auto local = a_.images_->resolve(image);
  if (local && policy != "Always") {
    // kubelet says so each time it starts a container from a local image.
    a_.events_.record(podRef(), "Normal", "Pulled",
                      fmt::format("Container image \"{}\" already present on machine", image));
    return local;
  }
  if (!local && policy == "Never") {
    view.waiting_reason = "ErrImageNeverPull";
    view.waiting_message = fmt::format("Container image \"{}\" is not present with pull policy of Never", image);
    a_.events_.record(podRef(), "Warning", "ErrImageNeverPull", view.waiting_message);
    return Status(Code::kNotFound, view.waiting_message);
  }
  // ImagePullBackOff as kubelet's: after a failed pull, no new attempt
  // until the back-off (10 s doubling to 5 min) has passed.
  std::string key = uid_ + "/" + view.name;
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(a_.mu_);
    auto it = a_.image_backoff_.find(key);
    if (it != a_.image_backoff_.end() && now < it->second.next_start) {
      view.waiting_reason = "ImagePullBackOff";
      view.waiting_message = fmt::format("Back-off pulling image \"{}\"", image);
      a_.events_.record(podRef(), "Normal", "BackOff", view.waiting_message);
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(it->second.next_start - now);
      requeue_ = requeue_.count() ? std::min(requeue_, left) : left;
      return Status(Code::kUnavailable, view.waiting_message);
    }
  }
  a_.events_.record(podRef(), "Normal", "Pulling", fmt::format("Pulling image \"{}\"", image));
  runtime::PullOptions opts;
  opts.insecure_registries = a_.opts_.insecure_registries;
  // imagePullSecrets (kubernetes.io/dockerconfigjson or dockercfg): the
  // first secret naming a registry wins; a missing one is skipped, as
  // kubelet then pulls with what it has.
  auto lookup = a_.lookup();
  for (const auto& secret_ref : arrayAt(spec_, "imagePullSecrets")) {
    if (!secret_ref.is_object()) continue;
    auto data = lookup.secret(ns_, getString(secret_ref, "name"));
    if (!data) continue;
    for (const char* key : {".dockerconfigjson", ".dockercfg"})
      if (auto it = data->find(key); it != data->end())
        if (auto auths = runtime::parseDockerConfig(it->second))
          for (auto& [host, cred] : *auths) opts.auth.emplace(host, cred);
  }
  auto start = std::chrono::steady_clock::now();
  auto pulled = a_.images_->pull(image, opts);
  if (!pulled) {
    if (local) return local;  // Always with a registry down: kubelet fails; keep running what we have
    a_.events_.record(podRef(), "Warning", "Failed",
                      fmt::format("Failed to pull image \"{}\": {}", image, pulled.status().message()));
    view.waiting_reason = "ErrImagePull";
    view.waiting_message = pulled.status().message();
    std::lock_guard lock(a_.mu_);
    Backoff& b = a_.image_backoff_[key];
    b.delay = b.delay.count() == 0 ? a_.opts_.backoff_initial : std::min(b.delay * 2, a_.opts_.backoff_max);
    b.next_start = now + b.delay;
    requeue_ = requeue_.count() ? std::min(requeue_, b.delay) : b.delay;
    return pulled.status();
  }
  {
    std::lock_guard lock(a_.mu_);
    a_.image_backoff_.erase(key);
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  a_.events_.record(podRef(), "Normal", "Pulled", fmt::format("Successfully pulled image \"{}\" in {}ms", image, ms));
  return pulled;
}

bool PodSync::ensureContainer(const Json& container, ContainerView& view, bool init) {
  view.attempts = attempts_[view.name];
  const runtime::ContainerStatus* last = view.attempts.empty() ? nullptr : &view.attempts[0];
  if (last && !last->labels.empty()) {
    auto it = last->labels.find(kLabelImageId);
    if (it != last->labels.end()) view.image_id = it->second;
  }
  if (last && last->state == runtime::ContainerState::kRunning) {
    if (!init && spec_.value("restartPolicy", "Always") != "Never") prepareRestart(container, view, *last);
    return true;
  }
  if (last && last->state == runtime::ContainerState::kExited) {
    auto attempt = last->labels.find(kLabelAttempt);
    std::string tm =
        readSmall(terminationLogPath(a_.podDirs(uid_), view.name,
                                     attempt == last->labels.end() ? 0 : std::atoi(attempt->second.c_str())),
                  4096);
    view.termination_message = tm;
    bool finished = !shouldRestart(*last) || (init && last->exit_code == 0 && last->reason != "StartError");
    if (finished) {  // for good: no restart will want what was prepared
      a_.runtime_->discardPrepared(last->id);
      return true;
    }
  }
  std::string bkey = uid_ + "/" + view.name;
  auto now = std::chrono::steady_clock::now();
  if (last) {
    std::lock_guard lock(a_.mu_);
    Backoff& b = a_.backoff_[bkey];
    // A container that ran long enough starts its backoff afresh.
    if (last->started_at && last->finished_at &&
        *last->finished_at - *last->started_at >= a_.opts_.backoff_reset)
      b = Backoff{};
    if (now < b.next_start) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(b.next_start - now);
      view.waiting_reason = "CrashLoopBackOff";
      view.waiting_message = fmt::format("back-off {}s restarting failed container={} pod={}_{}({})",
                                         std::chrono::duration_cast<std::chrono::seconds>(b.delay).count(), view.name,
                                         name_, ns_, uid_);
      a_.events_.record(podRef(), "Warning", "BackOff", "Back-off restarting failed container " + view.name + " in pod " +
                                                            name_ + "_" + ns_ + "(" + uid_ + ")");
      requeue_ = requeue_.count() ? std::min(requeue_, left) : left;
      return false;
    }
  }
  auto image = ensureImage(container, view);
  if (!image) return false;
  view.image_id = image->manifest_digest;
  Status st = startContainer(container, view, *image, last ? nextAttempt(*last) : 0);
  if (last) {
    std::lock_guard lock(a_.mu_);
    Backoff& b = a_.backoff_[bkey];
    b.delay = b.delay.count() == 0 ? a_.opts_.backoff_initial : std::min(b.delay * 2, a_.opts_.backoff_max);
    b.next_start = now + b.delay;
  }
  // Older attempts than the previous one are not needed any more.
  for (size_t i = 1; i < view.attempts.size(); ++i)
    if (i >= 2) (void)a_.runtime_->remove(view.attempts[i].id);
  if (view.attempts.size() > 2) view.attempts.resize(2);
  if (!st) {
    if (view.waiting_reason.empty()) {
      view.waiting_reason = "CreateContainerConfigError";
      view.waiting_message = st.message();
      requeue_ = std::chrono::seconds(2);
    }
    return false;
  }
  return view.attempts[0].state == runtime::ContainerState::kRunning;
}

Result<runtime::ContainerSpec> PodSync::containerSpec(const Json& container, const ContainerView& view,
                                                      const runtime::Image& image, int attempt) {
  auto env = containerEnv(*pod_, container, a_.lookup());
  if (!env) return env.status();
  std::map<std::string, std::string> env_map;
  std::vector<std::string> final_env;
  auto put = [&](const std::string& kv) {
    auto eq = kv.find('=');
    std::string k = kv.substr(0, eq);
    if (!env_map.count(k)) final_env.push_back(kv);
    else
      for (auto& e : final_env)
        if (e.compare(0, k.size() + 1, k + "=") == 0) e = kv;
    env_map[k] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  };
  for (const auto& e : image.config.env) put(e);
  put("HOSTNAME=" + spec_.value("hostname", name_));
  for (const auto& e : *env) put(e);
  std::vector<std::string> command, args;
  for (auto& s : stringsOf(arrayAt(container, "command"))) command.push_back(expandVars(s, env_map));
  for (auto& s : stringsOf(arrayAt(container, "args"))) args.push_back(expandVars(s, env_map));
  auto argv = runtime::resolveArgs(image.config, command, args);
  if (argv.empty()) return Status(Code::kInvalid, "no command specified");
  auto security = containerSecurity(*pod_, container, image.config);
  if (!security) return security.status();

  PodDirs dirs = a_.podDirs(uid_);
  auto mounts =
      containerMounts(*pod_, container, volumes_, dirs, terminationLogPath(dirs, view.name, attempt));
  if (!mounts) return mounts.status();

  runtime::ContainerSpec cs;
  cs.id = fmt::format("{}_{}_{}", uid_, view.name, attempt);
  cs.pod_uid = uid_;
  cs.rootfs = image.rootfs;
  cs.args = std::move(argv);
  cs.env = std::move(final_env);
  std::string wd = container.value("workingDir", "");
  cs.cwd = !wd.empty() ? wd : (!image.config.working_dir.empty() ? image.config.working_dir : "/");
  cs.hostname = spec_.value("hostname", name_).substr(0, 63);
  cs.tty = container.value("tty", false);
  cs.stdin = container.value("stdin", false);
  cs.stdin_once = container.value("stdinOnce", false);
  cs.mounts = std::move(*mounts);
  cs.namespaces = {sandbox_.net_ns, sandbox_.ipc_ns, sandbox_.uts_ns};
  cs.resources = containerResources(container);
  if (a_.opts_.pod_max_pids > 0) cs.resources.pids_limit = a_.opts_.pod_max_pids;
  cs.security = *security;
  cs.log_path = a_.logPath(*pod_, view.name, attempt);
  cs.labels = {{kLabelNamespace, ns_},
               {kLabelPodName, name_},
               {kLabelPodUid, uid_},
               {kLabelContainer, view.name},
               {kLabelAttempt, std::to_string(attempt)},
               {kLabelImage, container.value("image", "")},
               {kLabelImageId, image.manifest_digest}};
  if (view.init) cs.labels[kLabelInit] = "true";
  for (auto& [k, v] : hookLabels(container, sandbox_.ip)) cs.labels[k] = v;
  return cs;
}

Status PodSync::startContainer(const Json& container, ContainerView& view, const runtime::Image& image, int attempt) {
  auto spec = containerSpec(container, view, image, attempt);
  if (!spec) {
    a_.events_.record(podRef(), "Warning", "Failed", "Error: " + spec.status().message());
    return spec.status();
  }
  const runtime::ContainerSpec& cs = *spec;
  std::error_code ec;
  fs::create_directories(fs::path(cs.log_path).parent_path(), ec);

  auto started = a_.runtime_->start(cs);
  if (!started) {
    // AlreadyExists: a previous pass started it; the runtime knows it.
    if (started.status().code() == Code::kAlreadyExists) {
      auto s = a_.runtime_->status(cs.id);
      if (s) view.attempts.insert(view.attempts.begin(), *s);
      return Status::ok();
    }
    a_.events_.record(podRef(), "Warning", "Failed", "Error: " + started.status().message());
    return started.status();
  }
  view.attempts.insert(view.attempts.begin(), *started);
  if (started->state == runtime::ContainerState::kRunning) {
    a_.events_.record(podRef(), "Normal", "Created", "Created container " + view.name);
    a_.events_.record(podRef(), "Normal", "Started", "Started container " + view.name);
    runPostStart(container, view);
  } else {
    a_.events_.record(podRef(), "Warning", "Failed", "Error: " + started->message);
  }
  return Status::ok();
}

void PodSync::prepareRestart(const Json& container, const ContainerView& view, const runtime::ContainerStatus& running) {
  if (!a_.opts_.prepare_restarts || a_.runtime_->hasPrepared(running.id)) return;
  // The image it runs, if it is still what the image name resolves to
  // here; a restart that pulls another image makes its container afresh.
  auto image = a_.images_->resolve(container.value("image", ""));
  auto image_id = running.labels.find(kLabelImageId);
  if (!image || image_id == running.labels.end() || image->manifest_digest != image_id->second) return;
  auto spec = containerSpec(container, view, *image, nextAttempt(running));
  if (!spec) return;  // the restart reports it
  a_.runtime_->prepare(running.id, *spec);  // which makes the log's dir, as start() does
}

// The postStart hook, on this pass: the status reports the container only
// once the hook returned; a failed hook kills the container (its exit then
// restarts it per restartPolicy).
void PodSync::runPostStart(const Json& container, ContainerView& view) {
  const Json& handler = objectAt(objectAt(container, "lifecycle"), "postStart");
  if (handler.empty()) return;
  runtime::ContainerStatus& c = view.attempts[0];
  HookTarget t{.pod = fmt::format("{}_{}({})", name_, ns_, uid_),
               .pod_ip = sandbox_.ip,
               .container_id = c.id,
               .container_name = view.name,
               .container = container};
  HookResult r = runLifecycleHandler(*a_.runtime_, t, handler, kPostStartTimeout);
  if (!r.ok) {
    a_.events_.record(podRef(), "Warning", "FailedPostStartHook", r.message);
    auto grace = std::chrono::seconds(spec_.value("terminationGracePeriodSeconds", int64_t{30}));
    auto killed = a_.killContainer(c, grace, "FailedPostStartHook");
    if (!killed) LOG_WARN("stopping a container after its postStart hook failed", "container", c.id, "error",
                          killed.status().message());
  }
  // It may have exited meanwhile, by itself or killed.
  if (auto now = a_.runtime_->status(c.id)) c = *now;
}

Status PodSync::report() {
  Json status = buildPodStatus(*pod_, view_, SystemClock::instance().now());
  const Json& current = objectAt(*pod_, "status");
  // Keep the first startTime.
  if (current.contains("startTime")) status["startTime"] = current["startTime"];
  if (status.value("phase", "") == "Running" && current.value("phase", "Pending") == "Pending")
    a_.observePodRunning(uid_);
  if (status == current) return Status::ok();
  auto r = a_.client_.patch(client::res::kPods, ns_, name_, client::PatchType::kMerge, {{"status", status}}, "status");
  if (!r && r.status().code() == Code::kNotFound) return Status::ok();
  return r.status();
}

}  // namespace capstan::agent
