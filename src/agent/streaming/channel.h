#pragma once
// The Kubernetes remotecommand protocols' pieces that do not depend on the
// transport: the channel-prefixed WebSocket messages of
// v4.channel.k8s.io / v5.channel.k8s.io, and the Status sent on the error
// channel when a command ends.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace capstan::agent::streaming {

enum class Channel : uint8_t { kStdin = 0, kStdout = 1, kStderr = 2, kError = 3, kResize = 4, kClose = 255 };

inline constexpr std::string_view kChannelV4 = "v4.channel.k8s.io";
inline constexpr std::string_view kChannelV5 = "v5.channel.k8s.io";
inline constexpr std::string_view kPortForwardProtocol = "portforward.k8s.io";
inline constexpr std::string_view kSpdyTunnelProtocol = "SPDY/3.1+portforward.k8s.io";

struct ChannelMessage {
  Channel channel;
  std::string_view payload;
};

std::string encodeChannelMessage(Channel channel, std::string_view payload);
// nullopt for an empty message (no channel byte).
std::optional<ChannelMessage> decodeChannelMessage(std::string_view message);

// The WebSocket subprotocol to answer for a Sec-WebSocket-Protocol offer
// (comma-separated): v5 preferred, then v4; nullopt when neither is offered.
std::optional<std::string> chooseChannelProtocol(std::string_view offered);

// {"metadata":{},"status":"Success"}, or the NonZeroExitCode Failure with
// the code in details.causes, as kubelet sends on the error channel.
std::string exitStatusJson(int exit_code);
// A Failure Status with `message` (e.g. the command could not start).
std::string failureStatusJson(std::string_view message);

// A resize message (the resize channel's, or a line of SPDY's resize
// stream): {"Width":W,"Height":H}, applied to a terminal with TIOCSWINSZ.
// Malformed messages and sizes out of range are ignored.
void applyTerminalResize(int tty_fd, std::string_view message);

}  // namespace capstan::agent::streaming
