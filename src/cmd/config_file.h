#pragma once
// --config FILE: every flag read from a YAML file, as k3s does
// ("https-listen-port: 6443", "tls-san: [a, b]").

#include <CLI/CLI.hpp>

namespace capstan::cmd {

class YamlConfig : public CLI::Config {
 public:
  std::string to_config(const CLI::App*, bool, bool, std::string) const override;
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;
};

}  // namespace capstan::cmd
