#include "controllers/prometheus_text.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>

namespace capstan::controllers {
namespace {

bool nameChar(char c, bool first) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

std::optional<double> parseValue(std::string_view v) {
  if (v == "+Inf") return INFINITY;
  if (v == "-Inf") return -INFINITY;
  if (v == "NaN") return NAN;
  std::string s(v);
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) return std::nullopt;
  return d;
}

// One `name{a="x",b="y"} value [timestamp]` line.
std::optional<Sample> parseLine(std::string_view line) {
  Sample s;
  size_t i = 0;
  while (i < line.size() && nameChar(line[i], i == 0)) ++i;
  if (i == 0) return std::nullopt;
  s.name = std::string(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    ++i;
    for (;;) {
      while (i < line.size() && (line[i] == ' ' || line[i] == ',')) ++i;
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      size_t k = i;
      while (i < line.size() && nameChar(line[i], i == k)) ++i;
      if (i == k || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') return std::nullopt;
      std::string key(line.substr(k, i - k));
      i += 2;
      std::string value;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\' && i + 1 < line.size()) {
          ++i;
          value += line[i] == 'n' ? '\n' : line[i];
        } else {
          value += line[i];
        }
        ++i;
      }
      if (i >= line.size()) return std::nullopt;
      ++i;  // closing quote
      s.labels.emplace(std::move(key), std::move(value));
    }
  }
  while (i < line.size() && line[i] == ' ') ++i;
  size_t v = i;
  while (i < line.size() && line[i] != ' ') ++i;
  auto value = parseValue(line.substr(v, i - v));
  if (!value) return std::nullopt;
  s.value = *value;
  return s;
}

}  // namespace

std::vector<Sample> parsePrometheusText(std::string_view text) {
  std::vector<Sample> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line[0] == '#') continue;
    if (auto s = parseLine(line)) out.push_back(std::move(*s));
  }
  return out;
}

}  // namespace capstan::controllers
