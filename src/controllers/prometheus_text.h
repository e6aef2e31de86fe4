#pragma once
// Reads samples from the Prometheus text exposition format (version 0.0.4),
// as the API server's /metrics serves it, for checks that look at the
// server's own metrics (controllers/alert_checks.h). Comments, HELP and TYPE
// lines are skipped; a malformed line is skipped, never an error.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace capstan::controllers {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

std::vector<Sample> parsePrometheusText(std::string_view text);

}  // namespace capstan::controllers
