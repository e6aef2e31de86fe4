#include "agent/runtime/image_store.h"

#include <gtest/gtest.h>

namespace capstan::agent::runtime {
namespace {

struct RefCase {
  const char* in;
  const char* out;  // nullptr: invalid
};

TEST(ImageRefTest, NormalisesLikeDocker) {
  const RefCase cases[] = {
      {"busybox", "docker.io/library/busybox:latest"},
      {"busybox:1", "docker.io/library/busybox:1"},
      {"library/busybox:1.36", "docker.io/library/busybox:1.36"},
      {"user/app", "docker.io/user/app:latest"},
      {"docker.io/busybox", "docker.io/library/busybox:latest"},
      {"index.docker.io/library/busybox:1", "docker.io/library/busybox:1"},
      {"quay.io/coreos/etcd:v3.5", "quay.io/coreos/etcd:v3.5"},
      {"127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest"},
      {"localhost/app:dev", "localhost/app:dev"},
      {"registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"},
      {"busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
       "docker.io/library/busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
      {"", nullptr},
      {"Busybox", nullptr},
      {"busybox:", nullptr},
      {"busybox@sha256:xyz", nullptr},
      {"a//b", nullptr},
  };
  for (const auto& c : cases) {
    auto r = parseImageRef(c.in);
    if (!c.out) {
      EXPECT_FALSE(r) << c.in;
      continue;
    }
    ASSERT_TRUE(r) << c.in << ": " << r.status().message();
    EXPECT_EQ(r->str(), c.out) << c.in;
  }
}

TEST(ImageRefTest, CommandAndArgsOverImageConfig) {
  ImageConfig cfg;
  cfg.entrypoint = {"/entry"};
  cfg.cmd = {"default"};
  using V = std::vector<std::string>;
  EXPECT_EQ(resolveArgs(cfg, {}, {}), (V{"/entry", "default"}));
  EXPECT_EQ(resolveArgs(cfg, {}, {"x"}), (V{"/entry", "x"}));
  EXPECT_EQ(resolveArgs(cfg, {"/bin/sh"}, {}), (V{"/bin/sh"}));
  EXPECT_EQ(resolveArgs(cfg, {"/bin/sh"}, {"-c", "true"}), (V{"/bin/sh", "-c", "true"}));
}

}  // namespace
}  // namespace capstan::agent::runtime
