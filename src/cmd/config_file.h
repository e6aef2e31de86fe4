#pragma once
// --config FILE: every flag read from a YAML file, as k3s does
// ("https-listen-port: 6443", "tls-san: [a, b]"). The file's entries become
// flags at the place of --config, so flags given later on the command line
// win.

#include <string>
#include <vector>

#include "common/status.h"

namespace capstan::cmd {

// argv with each "--config FILE" (or "--config=FILE") replaced by the flags
// the file holds. Errors name the file and what is wrong with it.
Result<std::vector<std::string>> expandConfigFlags(int argc, char** argv);

}  // namespace capstan::cmd
