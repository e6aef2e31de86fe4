// ImageStore::pull against Debian's docker-registry on loopback, into
// which the test pushes the busybox test image over the registry API, and
// against a small in-process registry that demands a bearer token and
// redirects blobs to a second origin (the Docker Hub / S3 shape).

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "agent/runtime/image_store.h"
#include "agent/runtime/layer_unpack.h"
#include "common/base64.h"
#include "common/json.h"
#include "runtime/fixture.h"

namespace capstan::agent::testing {
namespace {
namespace fs = std::filesystem;
using runtime::ImageStore;
using runtime::PullOptions;

constexpr const char* kRegistryBin = "/usr/bin/docker-registry";

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// The busybox image as the builder lays it out.
struct TestImage {
  std::string manifest_digest, manifest, config_digest, config, layer_digest, layer, diff_id;
};

const TestImage& testImage() {
  static TestImage img = [] {
    TestImage t;
    std::string layout = busyboxImageDir() + "/layout";
    auto blob = [&](const std::string& d) { return readAll(layout + "/blobs/sha256/" + d.substr(7)); };
    auto index = parseJson(readAll(layout + "/index.json"));
    if (!index) return t;
    t.manifest_digest = getString((*index)["manifests"][0], "digest");
    t.manifest = blob(t.manifest_digest);
    auto m = parseJson(t.manifest);
    t.config_digest = getString((*m)["config"], "digest");
    t.layer_digest = getString((*m)["layers"][0], "digest");
    t.config = blob(t.config_digest);
    t.layer = blob(t.layer_digest);
    t.diff_id = (*parseJson(t.config))["rootfs"]["diff_ids"][0].get<std::string>();
    return t;
  }();
  return img;
}

// A minimal HTTP client for pushing (libcurl).
struct HttpReply {
  long status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

size_t collect(char* d, size_t s, size_t n, void* u) {
  static_cast<std::string*>(u)->append(d, s * n);
  return s * n;
}
size_t collectHeader(char* d, size_t s, size_t n, void* u) {
  std::string line(d, s * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    (*static_cast<std::map<std::string, std::string>*>(u))[name] = value;
  }
  return s * n;
}

HttpReply http(const std::string& method, const std::string& url, const std::string& body = "",
               const std::string& content_type = "") {
  HttpReply r;
  CURL* e = curl_easy_init();
  curl_slist* h = nullptr;
  if (!content_type.empty()) h = curl_slist_append(h, ("Content-Type: " + content_type).c_str());
  h = curl_slist_append(h, "Expect:");
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(e, CURLOPT_PROXY, "");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  if (method == "PUT" || method == "POST") {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, collectHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &r.headers);
  if (curl_easy_perform(e) == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(h);
  curl_easy_cleanup(e);
  return r;
}

// Debian's docker-registry on 127.0.0.1:<free port>, storage and config in
// a temp dir; killed by its pid (and by PR_SET_PDEATHSIG should the test
// process die first), its dir removed.
class LocalRegistry {
 public:
  bool start() {
    dir_ = "/tmp/capstan-rt-registry-" + randomToken(6);
    fs::create_directories(dir_ + "/data");
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = freePort();
      std::ofstream(dir_ + "/config.yml") << "version: 0.1\n"
                                             "log: {level: info, accesslog: {disabled: false}}\n"
                                             "storage: {filesystem: {rootdirectory: "
                                          << dir_ << "/data}, delete: {enabled: true}}\n"
                                          << "http: {addr: 127.0.0.1:" << port_ << "}\n";
      std::string log = dir_ + "/registry.log";
      std::string config = dir_ + "/config.yml";
      pid_ = fork();
      if (pid_ == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(kRegistryBin, kRegistryBin, "serve", config.c_str(), static_cast<char*>(nullptr));
        _exit(127);
      }
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
      while (std::chrono::steady_clock::now() < deadline) {
        if (http("GET", base() + "/v2/").status == 200) return true;
        int st;
        if (waitpid(pid_, &st, WNOHANG) == pid_) break;  // exited (port taken?): try another port
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      stop();
    }
    return false;
  }
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st;
      for (int i = 0; i < 100 && waitpid(pid_, &st, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (kill(pid_, 0) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
      }
      pid_ = -1;
    }
  }
  void removeAll() {
    stop();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string base() const { return "http://" + host(); }
  std::string log() const { return readAll(dir_ + "/registry.log"); }
  std::string storage() const { return dir_ + "/data/docker/registry/v2"; }

  // Monolithic upload: POST a session, PUT the bytes with their digest.
  ::testing::AssertionResult pushBlob(const std::string& repo, const std::string& data,
                                      const std::string& digest) {
    auto session = http("POST", base() + "/v2/" + repo + "/blobs/uploads/");
    if (session.status != 202) return ::testing::AssertionFailure() << "upload POST: " << session.status;
    std::string loc = session.headers["location"];
    if (loc.rfind("http", 0) != 0) loc = base() + loc;
    loc += (loc.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + digest;
    auto put = http("PUT", loc, data, "application/octet-stream");
    if (put.status != 201)
      return ::testing::AssertionFailure() << "upload PUT: " << put.status << " " << put.body;
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult pushManifest(const std::string& repo, const std::string& ref,
                                          const std::string& body, const std::string& media_type) {
    auto put = http("PUT", base() + "/v2/" + repo + "/manifests/" + ref, body, media_type);
    if (put.status != 201)
      return ::testing::AssertionFailure() << "manifest PUT: " << put.status << " " << put.body;
    return ::testing::AssertionSuccess();
  }

  // Waits until `needle` shows up in the access log (lines are written
  // after the response, so a request's line may lag its reply).
  bool waitForLog(const std::string& needle) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (log().find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  size_t count(const std::string& needle) {
    std::string l = log();
    size_t n = 0;
    for (size_t p = l.find(needle); p != std::string::npos; p = l.find(needle, p + 1)) ++n;
    return n;
  }

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

std::string sha256Of(const std::string& data) { return "sha256:" + runtime::sha256Hex(data); }

class RegistryPullTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!fs::exists(kRegistryBin)) return;
    registry_ = new LocalRegistry;
    if (!registry_->start()) return;
    const TestImage& img = testImage();
    ok_ = registry_->pushBlob("busybox", img.config, img.config_digest) &&
          registry_->pushBlob("busybox", img.layer, img.layer_digest) &&
          registry_->pushManifest("busybox", "1", img.manifest, "application/vnd.oci.image.manifest.v1+json");
    // A multi-platform index whose arm64 entry has another config.
    Json arm_config = *parseJson(img.config);
    arm_config["architecture"] = "arm64";
    std::string arm_config_text = arm_config.dump();
    Json arm_manifest = *parseJson(img.manifest);
    arm_manifest["config"]["digest"] = sha256Of(arm_config_text);
    arm_manifest["config"]["size"] = arm_config_text.size();
    std::string arm_manifest_text = arm_manifest.dump();
    Json index = {{"schemaVersion", 2},
                  {"mediaType", "application/vnd.oci.image.index.v1+json"},
                  {"manifests",
                   {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                     {"digest", sha256Of(arm_manifest_text)},
                     {"size", arm_manifest_text.size()},
                     {"platform", {{"os", "linux"}, {"architecture", "arm64"}}}},
                    {{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                     {"digest", img.manifest_digest},
                     {"size", img.manifest.size()},
                     {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}}}}};
    ok_ =
        ok_ && registry_->pushBlob("busybox", arm_config_text, sha256Of(arm_config_text)) &&
        registry_->pushManifest("busybox", sha256Of(arm_manifest_text), arm_manifest_text,
                                "application/vnd.oci.image.manifest.v1+json") &&
        registry_->pushManifest("busybox", "multi", index.dump(), "application/vnd.oci.image.index.v1+json");
  }
  static void TearDownTestSuite() {
    if (registry_) registry_->removeAll();
    delete registry_;
    registry_ = nullptr;
  }

  void SetUp() override {
    if (!fs::exists(kRegistryBin))
      GTEST_SKIP() << "docker-registry is not installed (scripts/deps.sh installs it)";
    ASSERT_TRUE(registry_ && ok_) << "the local registry did not start or the push failed; log:\n"
                                  << (registry_ ? registry_->log() : "");
    root_ = "/tmp/capstan-rt-pull-" + randomToken(6);
    auto s = ImageStore::open(root_);
    ASSERT_TRUE(s) << s.status().message();
    store_ = std::move(*s);
    options_.insecure_registries = {registry_->host()};
    options_.timeout_seconds = 60;
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  static inline LocalRegistry* registry_ = nullptr;
  static inline bool ok_ = false;
  std::string root_;
  std::unique_ptr<ImageStore> store_;
  PullOptions options_;
};

TEST_F(RegistryPullTest, PullsByTagThenReusesBlobs) {
  const TestImage& img = testImage();
  const std::string name = registry_->host() + "/busybox:1";
  const std::string blob_get = "\"GET /v2/busybox/blobs/";
  size_t gets_before = registry_->count(blob_get);

  auto image = store_->pull(name, options_);
  ASSERT_TRUE(image) << image.status().message();
  EXPECT_EQ(image->names, std::vector<std::string>{name});
  EXPECT_EQ(image->manifest_digest, img.manifest_digest);
  EXPECT_EQ(image->id, img.config_digest);
  EXPECT_EQ(image->layer_digests, std::vector<std::string>{img.diff_id});
  EXPECT_EQ(image->config.cmd, std::vector<std::string>{"/bin/sh"});
  EXPECT_EQ(image->size, img.manifest.size() + img.config.size() + img.layer.size());
  ASSERT_EQ(image->rootfs.layer_dirs.size(), 1u);
  EXPECT_TRUE(fs::is_regular_file(image->rootfs.layer_dirs[0] + "/bin/busybox"));
  EXPECT_TRUE(fs::is_symlink(image->rootfs.layer_dirs[0] + "/bin/sh"));
  auto resolved = store_->resolve(name);
  ASSERT_TRUE(resolved);
  EXPECT_EQ(resolved->manifest_digest, img.manifest_digest);
  // Config and layer were fetched once each; nothing is left in tmp.
  ASSERT_TRUE(registry_->waitForLog(blob_get + img.layer_digest));
  ASSERT_TRUE(registry_->waitForLog(blob_get + img.config_digest));
  EXPECT_EQ(registry_->count(blob_get), gets_before + 2);
  for (const auto& e : fs::directory_iterator(root_ + "/blobs/sha256"))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();

  struct stat before {};
  ASSERT_EQ(stat((root_ + "/blobs/sha256/" + img.layer_digest.substr(7)).c_str(), &before), 0);

  // Again (imagePullPolicy Always): the manifest is fetched, no blob is.
  auto again = store_->pull(name, options_);
  ASSERT_TRUE(again) << again.status().message();
  EXPECT_EQ(again->manifest_digest, img.manifest_digest);
  EXPECT_EQ(store_->list().size(), 1u);
  // A marker request: once it is logged, the pull's requests are too.
  http("GET", registry_->base() + "/v2/_catalog?marker=" + randomToken(8));
  ASSERT_TRUE(registry_->waitForLog("/v2/_catalog?marker="));
  EXPECT_EQ(registry_->count(blob_get), gets_before + 2) << "a blob was downloaded again";
  struct stat after {};
  ASSERT_EQ(stat((root_ + "/blobs/sha256/" + img.layer_digest.substr(7)).c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
}

TEST_F(RegistryPullTest, PullsByDigest) {
  const TestImage& img = testImage();
  const std::string name = registry_->host() + "/busybox@" + img.manifest_digest;
  auto image = store_->pull(name, options_);
  ASSERT_TRUE(image) << image.status().message();
  EXPECT_EQ(image->manifest_digest, img.manifest_digest);
  EXPECT_EQ(image->names, std::vector<std::string>{name});
  EXPECT_TRUE(store_->resolve(name));
  EXPECT_TRUE(fs::exists(image->rootfs.layer_dirs.at(0) + "/bin/busybox"));

  // A digest the registry does not have.
  std::string unknown = registry_->host() + "/busybox@sha256:" + std::string(64, '0');
  auto missing = store_->pull(unknown, options_);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.status().code(), Code::kNotFound) << missing.status().message();
}

TEST_F(RegistryPullTest, ChoosesLinuxAmd64FromAnIndex) {
  const TestImage& img = testImage();
  auto image = store_->pull(registry_->host() + "/busybox:multi", options_);
  ASSERT_TRUE(image) << image.status().message();
  EXPECT_EQ(image->manifest_digest, img.manifest_digest);
  EXPECT_EQ(image->id, img.config_digest);  // not the arm64 config

  PullOptions arm = options_;
  arm.platform_arch = "arm64";
  auto arm_image = store_->pull(registry_->host() + "/busybox:multi", arm);
  ASSERT_TRUE(arm_image) << arm_image.status().message();
  EXPECT_NE(arm_image->id, img.config_digest);

  PullOptions s390x = options_;
  s390x.platform_arch = "s390x";
  auto none = store_->pull(registry_->host() + "/busybox:multi", s390x);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.status().code(), Code::kNotFound);
  EXPECT_NE(none.status().message().find("no match for platform linux/s390x"), std::string::npos)
      << none.status().message();
}

TEST_F(RegistryPullTest, MissingTagAndRepositoryAreNotFound) {
  const std::string tag = registry_->host() + "/busybox:missing";
  auto r = store_->pull(tag, options_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(), "failed to resolve reference \"" + tag + "\": " + tag + ": not found");

  const std::string repo = registry_->host() + "/missing:1";
  auto m = store_->pull(repo, options_);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.status().code(), Code::kNotFound);
  EXPECT_EQ(m.status().message(), "failed to resolve reference \"" + repo + "\": " + repo + ": not found");
  EXPECT_TRUE(store_->list().empty());
}

TEST_F(RegistryPullTest, NothingListeningIsUnavailable) {
  int port = freePort();
  std::string host = "127.0.0.1:" + std::to_string(port);
  PullOptions o = options_;
  o.insecure_registries = {host};
  o.timeout_seconds = 10;
  auto start = std::chrono::steady_clock::now();
  auto r = store_->pull(host + "/busybox:1", o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().message();
  EXPECT_NE(r.status().message().find("failed to resolve reference \"" + host +
                                      "/busybox:1\": failed to do request"),
            std::string::npos)
      << r.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(RegistryPullTest, HttpsIsUsedUnlessTheRegistryIsInsecure) {
  // The registry speaks plain HTTP; without --insecure-registry the pull
  // tries TLS and fails to connect properly.
  PullOptions tls = options_;
  tls.insecure_registries.clear();
  tls.timeout_seconds = 10;
  auto r = store_->pull(registry_->host() + "/busybox:1", tls);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().message();
  EXPECT_NE(r.status().message().find("https://" + registry_->host() + "/v2/busybox/manifests/1"),
            std::string::npos)
      << r.status().message();
}

TEST_F(RegistryPullTest, CorruptBlobIsRejected) {
  const TestImage& img = testImage();
  // A layer the registry stores under a digest its bytes do not have:
  // push honest bytes, then change them in the registry's storage.
  std::string honest = "layer-" + randomToken(16);
  std::string digest = sha256Of(honest);
  ASSERT_TRUE(registry_->pushBlob("corrupt", honest, digest));
  std::string data =
      registry_->storage() + "/blobs/sha256/" + digest.substr(7, 2) + "/" + digest.substr(7) + "/data";
  ASSERT_TRUE(fs::exists(data)) << data;
  std::string evil = honest;
  evil[0] = 'L';
  std::ofstream(data, std::ios::binary | std::ios::trunc) << evil;
  Json manifest = *parseJson(img.manifest);
  manifest["layers"][0]["digest"] = digest;
  manifest["layers"][0]["size"] = honest.size();
  ASSERT_TRUE(registry_->pushBlob("corrupt", img.config, img.config_digest));
  ASSERT_TRUE(
      registry_->pushManifest("corrupt", "1", manifest.dump(), "application/vnd.oci.image.manifest.v1+json"));

  auto r = store_->pull(registry_->host() + "/corrupt:1", options_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_NE(r.status().message().find("digest mismatch"), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(root_ + "/blobs/sha256/" + digest.substr(7)));
  for (const auto& e : fs::directory_iterator(root_ + "/blobs/sha256"))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  EXPECT_TRUE(store_->list().empty());
}

TEST_F(RegistryPullTest, ConcurrentPullsOfOneImage) {
  const TestImage& img = testImage();
  Result<runtime::Image> a = Status(Code::kInternal, "not run"), b = a;
  std::thread t1([&] { a = store_->pull(registry_->host() + "/busybox:1", options_); });
  std::thread t2([&] { b = store_->pull(registry_->host() + "/busybox:multi", options_); });
  t1.join();
  t2.join();
  ASSERT_TRUE(a) << a.status().message();
  ASSERT_TRUE(b) << b.status().message();
  EXPECT_EQ(a->manifest_digest, img.manifest_digest);
  EXPECT_EQ(b->manifest_digest, img.manifest_digest);
  auto one = store_->resolve(registry_->host() + "/busybox:1");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->names.size(), 2u);  // one image carrying both names
  EXPECT_TRUE(fs::exists(one->rootfs.layer_dirs.at(0) + "/bin/busybox"));
}

// An in-process registry for repository auth/busybox: manifests and blobs
// need "Bearer <token>", the token comes from /token for alice:secret
// (or, in basic mode, the registry takes alice:secret itself), and blobs
// redirect to /storage on a second port, as Docker Hub does to its CDN.
class AuthRegistry {
 public:
  enum class Mode { kBearer, kBasic };
  explicit AuthRegistry(Mode mode) : mode_(mode) {
    for (int* fd : {&api_fd_, &storage_fd_}) {
      *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      bind(*fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      listen(*fd, 16);
      socklen_t len = sizeof addr;
      getsockname(*fd, reinterpret_cast<sockaddr*>(&addr), &len);
      (fd == &api_fd_ ? api_port_ : storage_port_) = ntohs(addr.sin_port);
    }
    thread_ = std::thread([this] { serve(); });
  }
  ~AuthRegistry() {
    stop_ = true;
    thread_.join();
    close(api_fd_);
    close(storage_fd_);
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(api_port_); }

  struct Request {
    bool storage;
    std::string path, authorization;
  };
  std::vector<Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd fds[2] = {{api_fd_, POLLIN, 0}, {storage_fd_, POLLIN, 0}};
      if (poll(fds, 2, 50) <= 0) continue;
      for (auto& p : fds) {
        if (!(p.revents & POLLIN)) continue;
        int c = accept4(p.fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) handle(c, p.fd == storage_fd_);
      }
    }
  }

  void handle(int c, bool storage) {
    timeval tv{5, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = read(c, buf, sizeof buf);
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
    }
    std::istringstream in(req);
    std::string method, path, line, authorization;
    in >> method >> path;
    std::getline(in, line);
    while (std::getline(in, line) && line != "\r") {
      if (line.rfind("Authorization:", 0) == 0 || line.rfind("authorization:", 0) == 0) {
        authorization = line.substr(14);
        while (!authorization.empty() && authorization.front() == ' ') authorization.erase(0, 1);
        if (!authorization.empty() && authorization.back() == '\r') authorization.pop_back();
      }
    }
    {
      std::lock_guard lock(mu_);
      requests_.push_back({storage, path, authorization});
    }
    std::string resp = respond(storage, path, authorization);
    ssize_t off = 0;
    while (off < static_cast<ssize_t>(resp.size())) {
      ssize_t n = write(c, resp.data() + off, resp.size() - off);
      if (n <= 0) break;
      off += n;
    }
    close(c);
  }

  static std::string reply(int status, const std::string& reason, const std::string& body,
                           const std::vector<std::string>& headers = {}) {
    std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                    "\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    for (const auto& h : headers) r += h + "\r\n";
    return r + "\r\n" + body;
  }

  std::string respond(bool storage, const std::string& path, const std::string& authorization) {
    const TestImage& img = testImage();
    const std::string basic = "Basic " + base64Encode("alice:secret");
    auto blob = [&](const std::string& d) -> const std::string* {
      if (d == img.config_digest) return &img.config;
      if (d == img.layer_digest) return &img.layer;
      return nullptr;
    };
    if (storage) {
      const std::string* b = path.rfind("/storage/", 0) == 0 ? blob(path.substr(9)) : nullptr;
      return b ? reply(200, "OK", *b, {"Content-Type: application/octet-stream"})
               : reply(404, "Not Found", "");
    }
    if (path.rfind("/token", 0) == 0) {
      if (authorization != basic)
        return reply(401, "Unauthorized", R"({"details":"incorrect username or password"})");
      return reply(200, "OK", R"({"token":"tok-123","expires_in":300})", {"Content-Type: application/json"});
    }
    const std::string want = mode_ == Mode::kBearer ? "Bearer tok-123" : basic;
    if (authorization != want) {
      std::string challenge = mode_ == Mode::kBearer
                                  ? "WWW-Authenticate: Bearer realm=\"http://" + host() +
                                        "/token\",service=\"fake\",scope=\"repository:auth/busybox:pull\""
                                  : "WWW-Authenticate: Basic realm=\"fake\"";
      return reply(401, "Unauthorized",
                   R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})",
                   {challenge, "Content-Type: application/json"});
    }
    const std::string manifests = "/v2/auth/busybox/manifests/";
    const std::string blobs = "/v2/auth/busybox/blobs/";
    if (path == manifests + "1" || path == manifests + img.manifest_digest)
      return reply(200, "OK", img.manifest,
                   {"Content-Type: application/vnd.oci.image.manifest.v1+json",
                    "Docker-Content-Digest: " + img.manifest_digest});
    if (path.rfind(blobs, 0) == 0 && blob(path.substr(blobs.size())))
      return reply(307, "Temporary Redirect", "",
                   {"Location: http://127.0.0.1:" + std::to_string(storage_port_) + "/storage/" +
                    path.substr(blobs.size())});
    return reply(404, "Not Found", R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})",
                 {"Content-Type: application/json"});
  }

  Mode mode_;
  int api_fd_ = -1, storage_fd_ = -1, api_port_ = 0, storage_port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<Request> requests_;
};

class AuthPullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = "/tmp/capstan-rt-authpull-" + randomToken(6);
    auto s = ImageStore::open(root_);
    ASSERT_TRUE(s) << s.status().message();
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  PullOptions options(const AuthRegistry& r, const std::string& user, const std::string& password) {
    PullOptions o;
    o.insecure_registries = {r.host()};
    o.timeout_seconds = 20;
    if (!user.empty()) o.auth[r.host()] = {user, password, ""};
    return o;
  }
  std::string root_;
  std::unique_ptr<ImageStore> store_;
};

TEST_F(AuthPullTest, BearerTokenFlowAndCrossOriginRedirects) {
  AuthRegistry reg(AuthRegistry::Mode::kBearer);
  const TestImage& img = testImage();
  auto image = store_->pull(reg.host() + "/auth/busybox:1", options(reg, "alice", "secret"));
  ASSERT_TRUE(image) << image.status().message();
  EXPECT_EQ(image->manifest_digest, img.manifest_digest);
  EXPECT_TRUE(fs::exists(image->rootfs.layer_dirs.at(0) + "/bin/busybox"));

  const std::string basic = "Basic " + base64Encode("alice:secret");
  int tokens = 0, storage = 0, blob_redirects = 0;
  for (const auto& r : reg.requests()) {
    if (r.storage) {
      ++storage;
      EXPECT_EQ(r.authorization, "") << "credentials leaked to the redirect target " << r.path;
    } else if (r.path.rfind("/token", 0) == 0) {
      ++tokens;
      EXPECT_EQ(r.authorization, basic);
      EXPECT_EQ(r.path, "/token?service=fake&scope=repository%3Aauth%2Fbusybox%3Apull");
    } else if (r.path.find("/blobs/") != std::string::npos) {
      ++blob_redirects;
      EXPECT_EQ(r.authorization, "Bearer tok-123") << r.path;
    }
  }
  EXPECT_EQ(tokens, 1);  // the token is reused for the blobs
  EXPECT_EQ(storage, 2);
  EXPECT_EQ(blob_redirects, 2);
}

TEST_F(AuthPullTest, BearerWithoutOrWithWrongCredentialsIsUnauthorized) {
  AuthRegistry reg(AuthRegistry::Mode::kBearer);
  for (const auto& [user, pass] :
       std::vector<std::pair<std::string, std::string>>{{"", ""}, {"alice", "wrong"}}) {
    auto r = store_->pull(reg.host() + "/auth/busybox:1", options(reg, user, pass));
    ASSERT_FALSE(r) << user;
    EXPECT_EQ(r.status().code(), Code::kUnauthorized) << r.status().message();
    EXPECT_NE(r.status().message().find("failed to authorize"), std::string::npos) << r.status().message();
  }
  EXPECT_TRUE(store_->list().empty());
}

TEST_F(AuthPullTest, BasicChallenge) {
  AuthRegistry reg(AuthRegistry::Mode::kBasic);
  auto image = store_->pull(reg.host() + "/auth/busybox:1", options(reg, "alice", "secret"));
  ASSERT_TRUE(image) << image.status().message();
  EXPECT_EQ(image->manifest_digest, testImage().manifest_digest);

  auto denied = store_->pull(reg.host() + "/auth/busybox:1", options(reg, "alice", "wrong"));
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.status().code(), Code::kUnauthorized) << denied.status().message();
  auto anonymous = store_->pull(reg.host() + "/auth/busybox:1", options(reg, "", ""));
  ASSERT_FALSE(anonymous);
  EXPECT_EQ(anonymous.status().code(), Code::kUnauthorized) << anonymous.status().message();
}

}  // namespace
}  // namespace capstan::agent::testing
