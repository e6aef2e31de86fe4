#include "cmd/config_file.h"

#include <yaml-cpp/yaml.h>

namespace capstan::cmd {
namespace {

Result<std::vector<std::string>> flagsFromFile(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const std::exception& e) {
    return Status(Code::kInvalid, "config file " + path + ": " + e.what());
  }
  std::vector<std::string> out;
  if (!root || root.IsNull()) return out;
  if (!root.IsMap()) return Status(Code::kInvalid, "config file " + path + ": must be a mapping of flag names to values");
  for (const auto& kv : root) {
    std::string name = kv.first.as<std::string>();
    auto add = [&](const YAML::Node& v) -> Status {
      if (!v.IsScalar()) return Status(Code::kInvalid, "config file " + path + ": " + name + " must be a scalar or a list of scalars");
      std::string value = v.Scalar();
      if (value == "true" && !v.Tag().empty() && v.Tag() != "!") {
        out.push_back("--" + name);  // a boolean flag
      } else if (value == "false" && v.Tag() != "!") {
        // an unset boolean flag: nothing to pass
      } else {
        out.push_back("--" + name + "=" + value);
      }
      return Status::ok();
    };
    if (kv.second.IsSequence()) {
      for (const auto& v : kv.second)
        if (auto st = add(v); !st) return st;
    } else if (auto st = add(kv.second); !st) {
      return st;
    }
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> expandConfigFlags(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    std::string file;
    if (a == "--config" || a == "-c") {
      if (i + 1 >= argc) return Status(Code::kInvalid, "--config needs a file");
      file = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      file = a.substr(9);
    } else {
      out.push_back(a);
      continue;
    }
    auto flags = flagsFromFile(file);
    if (!flags) return flags.status();
    out.insert(out.end(), flags->begin(), flags->end());
  }
  return out;
}

}  // namespace capstan::cmd
