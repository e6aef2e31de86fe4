#include "agent/streaming/channel.h"

#include <gtest/gtest.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/json.h"

namespace capstan::agent::streaming {
namespace {

TEST(ChannelTest, EncodesAndDecodes) {
  std::string m = encodeChannelMessage(Channel::kStdout, "hello");
  ASSERT_EQ(m.size(), 6u);
  EXPECT_EQ(m[0], '\x01');
  auto d = decodeChannelMessage(m);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->channel, Channel::kStdout);
  EXPECT_EQ(d->payload, "hello");
  // v5's close signal: 0xff then the channel closed.
  auto c = decodeChannelMessage(std::string("\xff\x00", 2));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->channel, Channel::kClose);
  ASSERT_EQ(c->payload.size(), 1u);
  EXPECT_EQ(c->payload[0], '\0');
  EXPECT_FALSE(decodeChannelMessage(""));
  auto empty = decodeChannelMessage(std::string("\x00", 1));
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->channel, Channel::kStdin);
  EXPECT_TRUE(empty->payload.empty());
}

TEST(ChannelTest, ChoosesProtocol) {
  EXPECT_EQ(chooseChannelProtocol("v5.channel.k8s.io"), "v5.channel.k8s.io");
  EXPECT_EQ(chooseChannelProtocol("v4.channel.k8s.io, v5.channel.k8s.io"), "v5.channel.k8s.io");
  EXPECT_EQ(chooseChannelProtocol("v4.channel.k8s.io,channel.k8s.io"), "v4.channel.k8s.io");
  EXPECT_FALSE(chooseChannelProtocol("channel.k8s.io"));
  EXPECT_FALSE(chooseChannelProtocol(""));
}

TEST(ChannelTest, ExitStatus) {
  EXPECT_EQ(exitStatusJson(0), R"({"metadata":{},"status":"Success"})");
  Json j = Json::parse(exitStatusJson(3));
  EXPECT_EQ(j["status"], "Failure");
  EXPECT_EQ(j["reason"], "NonZeroExitCode");
  EXPECT_EQ(j["details"]["causes"][0]["reason"], "ExitCode");
  EXPECT_EQ(j["details"]["causes"][0]["message"], "3");
  Json f = Json::parse(failureStatusJson("bad \xff utf8"));
  EXPECT_EQ(f["status"], "Failure");
}

}  // namespace
}  // namespace capstan::agent::streaming

namespace capstan::agent::streaming {
namespace {

TEST(TerminalResizeTest, AppliesWellFormedSizesOnly) {
  int master = -1, slave = -1;
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  auto size = [&] {
    winsize ws{};
    ::ioctl(slave, TIOCGWINSZ, &ws);
    return std::pair<int, int>(ws.ws_col, ws.ws_row);
  };
  applyTerminalResize(master, R"({"Width":101,"Height":33})");
  EXPECT_EQ(size(), (std::pair<int, int>(101, 33)));
  for (const char* bad : {"", "{", "[]", R"({"Width":-1,"Height":5})", R"({"Width":70000,"Height":5})",
                          R"({"Width":"80","Height":24})", R"({"Width":0,"Height":0})"})
    applyTerminalResize(master, bad);
  EXPECT_EQ(size(), (std::pair<int, int>(101, 33)));
  applyTerminalResize(-1, R"({"Width":1,"Height":1})");  // no terminal: nothing happens
  ::close(master);
  ::close(slave);
}

}  // namespace
}  // namespace capstan::agent::streaming
