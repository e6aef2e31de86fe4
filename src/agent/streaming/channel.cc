#include "agent/streaming/channel.h"

#include <sys/ioctl.h>

#include "common/json.h"

namespace capstan::agent::streaming {

std::string encodeChannelMessage(Channel channel, std::string_view payload) {
  std::string m;
  m.reserve(payload.size() + 1);
  m.push_back(static_cast<char>(channel));
  m.append(payload);
  return m;
}

std::optional<ChannelMessage> decodeChannelMessage(std::string_view message) {
  if (message.empty()) return std::nullopt;
  return ChannelMessage{static_cast<Channel>(static_cast<uint8_t>(message[0])), message.substr(1)};
}

std::optional<std::string> chooseChannelProtocol(std::string_view offered) {
  bool v4 = false, v5 = false;
  size_t pos = 0;
  while (pos <= offered.size()) {
    size_t comma = offered.find(',', pos);
    if (comma == std::string_view::npos) comma = offered.size();
    std::string_view p = offered.substr(pos, comma - pos);
    while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
    while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
    if (p == kChannelV5) v5 = true;
    if (p == kChannelV4) v4 = true;
    pos = comma + 1;
  }
  if (v5) return std::string(kChannelV5);
  if (v4) return std::string(kChannelV4);
  return std::nullopt;
}

std::string exitStatusJson(int exit_code) {
  if (exit_code == 0) return R"({"metadata":{},"status":"Success"})";
  Json j = {{"metadata", Json::object()},
            {"status", "Failure"},
            {"message", "command terminated with non-zero exit code: error executing command [...], exit code " +
                            std::to_string(exit_code)},
            {"reason", "NonZeroExitCode"},
            {"details", {{"causes", Json::array({{{"reason", "ExitCode"}, {"message", std::to_string(exit_code)}}})}}}};
  return j.dump();
}

std::string failureStatusJson(std::string_view message) {
  Json j = {{"metadata", Json::object()}, {"status", "Failure"}, {"message", std::string(message)}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void applyTerminalResize(int tty_fd, std::string_view message) {
  if (tty_fd < 0) return;
  Json size = Json::parse(message, nullptr, false);
  if (!size.is_object()) return;
  auto dim = [&](const char* key) -> int {
    auto it = size.find(key);
    return it != size.end() && it->is_number_unsigned() && it->get<uint64_t>() <= 0xffff ? it->get<int>() : -1;
  };
  int w = dim("Width"), h = dim("Height");
  if (w <= 0 || h <= 0) return;
  winsize ws{};
  ws.ws_col = static_cast<unsigned short>(w);
  ws.ws_row = static_cast<unsigned short>(h);
  ::ioctl(tty_fd, TIOCSWINSZ, &ws);
}

}  // namespace capstan::agent::streaming
