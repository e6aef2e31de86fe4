#include "cmd/config_file.h"

#include <yaml-cpp/yaml.h>

#include <sstream>

namespace capstan::cmd {

std::string YamlConfig::to_config(const CLI::App* app, bool default_also, bool, std::string) const {
  YAML::Emitter out;
  out << YAML::BeginMap;
  for (const CLI::Option* opt : app->get_options()) {
    if (opt->get_lnames().empty() || opt->get_configurable() == false) continue;
    std::string name = opt->get_lnames()[0];
    if (name == "help" || name == "config") continue;
    auto results = opt->results();
    if (results.empty() && default_also && !opt->get_default_str().empty()) results = {opt->get_default_str()};
    if (results.empty()) continue;
    out << YAML::Key << name;
    if (results.size() == 1) out << YAML::Value << results[0];
    else {
      out << YAML::Value << YAML::BeginSeq;
      for (const auto& r : results) out << r;
      out << YAML::EndSeq;
    }
  }
  out << YAML::EndMap;
  return out.c_str();
}

std::vector<CLI::ConfigItem> YamlConfig::from_config(std::istream& input) const {
  std::stringstream ss;
  ss << input.rdbuf();
  YAML::Node root;
  try {
    root = YAML::Load(ss.str());
  } catch (const std::exception& e) {
    throw CLI::ConversionError(std::string("config file is not valid YAML: ") + e.what());
  }
  std::vector<CLI::ConfigItem> items;
  if (!root || root.IsNull()) return items;
  if (!root.IsMap()) throw CLI::ConversionError("config file must be a YAML mapping of flag names to values");
  for (const auto& kv : root) {
    CLI::ConfigItem item;
    item.name = kv.first.as<std::string>();
    if (kv.second.IsSequence()) {
      for (const auto& v : kv.second) item.inputs.push_back(v.as<std::string>());
    } else if (kv.second.IsScalar()) {
      item.inputs.push_back(kv.second.as<std::string>());
    } else {
      throw CLI::ConversionError("config key " + item.name + " must be a scalar or a list");
    }
    items.push_back(std::move(item));
  }
  return items;
}

}  // namespace capstan::cmd
