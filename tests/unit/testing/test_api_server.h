#pragma once
// A real ApiServer for tests: memory store, HTTPS on a free loopback port,
// and a data dir of its own named after the running test, removed at the
// end. Tests reach it in-process (adminClient()) or over HTTPS (port(),
// dir() for the CA and the join token).

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "apiserver/api_server.h"
#include "client/client.h"

namespace capstan::test_support {

class TestApiServer {
 public:
  // `prefix` names the data dir; `tweak` may change the options first.
  explicit TestApiServer(const std::string& prefix,
                         const std::function<void(apiserver::ApiServerOptions&)>& tweak = nullptr) {
    dir_ = std::filesystem::temp_directory_path() /
           (prefix + "-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    apiserver::ApiServerOptions o;
    o.data_dir = dir_.string();
    o.port = 0;
    o.bind_address = "127.0.0.1";
    o.datastore_endpoint = "memory://";
    if (tweak) tweak(o);
    auto s = apiserver::ApiServer::start(o);
    if (!s) {
      ADD_FAILURE() << "ApiServer::start: " << s.status().message();
      return;
    }
    server_ = std::move(*s);
  }
  ~TestApiServer() {
    if (server_) server_->stop();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  TestApiServer(const TestApiServer&) = delete;
  TestApiServer& operator=(const TestApiServer&) = delete;

  bool ok() const { return server_ != nullptr; }
  apiserver::ApiServer& server() { return *server_; }
  const std::filesystem::path& dir() const { return dir_; }
  // An in-process client acting as a cluster admin.
  std::unique_ptr<client::Client> adminClient(const std::string& field_manager = "test") {
    return std::make_unique<client::Client>(server_->inProcessTransport({"test", "", {"system:masters"}}),
                                            field_manager);
  }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<apiserver::ApiServer> server_;
};

}  // namespace capstan::test_support
