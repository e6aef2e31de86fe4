// The string rules of k8s.io/apimachinery/pkg/util/validation (DNS names,
// qualified names, label values, ports, config keys, percentages, IPs) with
// upstream's exact messages.
#include <arpa/inet.h>

#include <algorithm>

#include "api/validation_internal.h"

namespace capstan::api::vdetail {

// ---------------------------------------------------------------- string rules

namespace {

constexpr size_t kDns1123LabelMaxLength = 63;
constexpr size_t kDns1123SubdomainMaxLength = 253;
constexpr size_t kDns1035LabelMaxLength = 63;
constexpr size_t kQualifiedNameMaxLength = 63;
constexpr size_t kLabelValueMaxLength = 63;

std::string maxLenError(size_t n) { return "must be no more than " + std::to_string(n) + " characters"; }

// validation.RegexError: the message, examples and the regex in upstream's
// exact punctuation (including its double space before "or").
std::string regexError(std::string msg, std::string_view fmt,
                       std::initializer_list<std::string_view> examples) {
  if (examples.size() == 0) return msg + " (regex used for validation is '" + std::string(fmt) + "')";
  msg += " (e.g. ";
  size_t i = 0;
  for (auto ex : examples) {
    if (i++ > 0) msg += " or ";
    msg += "'" + std::string(ex) + "', ";
  }
  msg += "regex used for validation is '" + std::string(fmt) + "')";
  return msg;
}

bool lowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

bool matchesDns1123Label(std::string_view s) {
  if (s.empty() || !lowerAlnum(s.front()) || !lowerAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return lowerAlnum(c) || c == '-'; });
}

bool matchesDns1123Subdomain(std::string_view s) {
  size_t start = 0;
  for (;;) {
    size_t dot = s.find('.', start);
    if (!matchesDns1123Label(
            s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start)))
      return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool matchesDns1035Label(std::string_view s) {
  if (s.empty() || !(s.front() >= 'a' && s.front() <= 'z') || !lowerAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return lowerAlnum(c) || c == '-'; });
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool matchesQualifiedNamePart(std::string_view s) {
  if (s.empty() || !alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

const char* kDns1123LabelErrMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end "
    "with an alphanumeric character";
const char* kDns1123LabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const char* kDns1123SubdomainErrMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start "
    "and end with an alphanumeric character";
const char* kDns1123SubdomainFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const char* kDns1035LabelErrMsg =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character";
const char* kDns1035LabelFmt = "[a-z]([-a-z0-9]*[a-z0-9])?";
const char* kQualifiedNameErrMsg =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character";
const char* kQualifiedNameFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const char* kLabelValueErrMsg =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start "
    "and end with an alphanumeric character";
const char* kLabelValueFmt = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";

// NameIsDNS*'s prefix mode: a generateName may end in '-'.
std::string maskTrailingDash(std::string_view name) {
  if (name.size() > 1 && name.back() == '-') return std::string(name.substr(0, name.size() - 2)) + "a";
  return std::string(name);
}

}  // namespace

std::vector<std::string> dns1123SubdomainErrors(std::string_view v) {
  std::vector<std::string> errs;
  if (v.size() > kDns1123SubdomainMaxLength) errs.push_back(maxLenError(kDns1123SubdomainMaxLength));
  if (!matchesDns1123Subdomain(v))
    errs.push_back(regexError(kDns1123SubdomainErrMsg, kDns1123SubdomainFmt, {"example.com"}));
  return errs;
}

std::vector<std::string> dns1123LabelErrors(std::string_view v) {
  std::vector<std::string> errs;
  if (v.size() > kDns1123LabelMaxLength) errs.push_back(maxLenError(kDns1123LabelMaxLength));
  if (!matchesDns1123Label(v))
    errs.push_back(regexError(kDns1123LabelErrMsg, kDns1123LabelFmt, {"my-name", "123-abc"}));
  return errs;
}

std::vector<std::string> dns1035LabelErrors(std::string_view v) {
  std::vector<std::string> errs;
  if (v.size() > kDns1035LabelMaxLength) errs.push_back(maxLenError(kDns1035LabelMaxLength));
  if (!matchesDns1035Label(v))
    errs.push_back(regexError(kDns1035LabelErrMsg, kDns1035LabelFmt, {"my-name", "abc-123"}));
  return errs;
}

std::vector<std::string> qualifiedNameErrors(std::string_view v) {
  std::vector<std::string> errs;
  std::string_view name;
  size_t slashes = std::count(v.begin(), v.end(), '/');
  if (slashes == 0) {
    name = v;
  } else if (slashes == 1) {
    size_t slash = v.find('/');
    std::string_view prefix = v.substr(0, slash);
    name = v.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else {
      for (auto& m : dns1123SubdomainErrors(prefix)) errs.push_back("prefix part " + m);
    }
  } else {
    errs.push_back("a qualified name " +
                   regexError(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}) +
                   " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
    return errs;
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > kQualifiedNameMaxLength) {
    errs.push_back("name part " + maxLenError(kQualifiedNameMaxLength));
  }
  if (!matchesQualifiedNamePart(name))
    errs.push_back("name part " +
                   regexError(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}));
  return errs;
}

std::vector<std::string> labelValueErrors(std::string_view v) {
  std::vector<std::string> errs;
  if (v.size() > kLabelValueMaxLength) errs.push_back(maxLenError(kLabelValueMaxLength));
  if (!v.empty() && !matchesQualifiedNamePart(v))
    errs.push_back(regexError(kLabelValueErrMsg, kLabelValueFmt, {"MyValue", "my_value", "12345"}));
  return errs;
}

std::vector<std::string> portNameErrors(std::string_view v) {
  std::vector<std::string> errs;
  if (v.size() > 15) errs.push_back(maxLenError(15));
  if (v.empty() || !std::all_of(v.begin(), v.end(), [](char c) { return lowerAlnum(c) || c == '-'; }))
    errs.push_back("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  if (!std::any_of(v.begin(), v.end(), [](char c) { return c >= 'a' && c <= 'z'; }))
    errs.push_back("must contain at least one letter (a-z)");
  if (v.find("--") != std::string_view::npos) errs.push_back("must not contain consecutive hyphens");
  if (!v.empty() && (v.front() == '-' || v.back() == '-'))
    errs.push_back("must not begin or end with a hyphen");
  return errs;
}

std::vector<std::string> portNumErrors(int64_t port) {
  if (port >= 1 && port <= 65535) return {};
  return {"must be between 1 and 65535, inclusive"};
}

std::vector<std::string> configMapKeyErrors(std::string_view v) {
  std::vector<std::string> errs;
  if (v.size() > kDns1123SubdomainMaxLength) errs.push_back(maxLenError(kDns1123SubdomainMaxLength));
  bool ok = !v.empty() && std::all_of(v.begin(), v.end(),
                                      [](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
  if (!ok)
    errs.push_back(regexError("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                              "[-._a-zA-Z0-9]+", {"key.name", "KEY_NAME", "key-name"}));
  if (v == ".") {
    errs.push_back("must not be '.'");
  } else if (v == "..") {
    errs.push_back("must not be '..'");
  } else if (v.substr(0, 2) == "..") {
    errs.push_back("must not start with '..'");
  }
  return errs;
}

std::vector<std::string> percentErrors(std::string_view v) {
  bool ok = v.size() >= 2 && v.back() == '%' &&
            std::all_of(v.begin(), v.end() - 1, [](char c) { return c >= '0' && c <= '9'; });
  if (ok) return {};
  return {regexError("a valid percent string must be a numeric string followed by an ending '%'", "[0-9]+%",
                     {"1%", "93%"})};
}

bool isIpv4(std::string_view v) {
  std::string s(v);
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1;
}

bool isIpv6(std::string_view v) {
  std::string s(v);
  unsigned char buf[16];
  return s.find(':') != std::string::npos && inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool isIp(std::string_view v) { return isIpv4(v) || isIpv6(v); }

std::vector<std::string> nameIsDnsSubdomain(std::string_view name, bool prefix) {
  return dns1123SubdomainErrors(prefix ? maskTrailingDash(name) : std::string(name));
}
std::vector<std::string> nameIsDnsLabel(std::string_view name, bool prefix) {
  return dns1123LabelErrors(prefix ? maskTrailingDash(name) : std::string(name));
}
std::vector<std::string> nameIsDns1035Label(std::string_view name, bool prefix) {
  return dns1035LabelErrors(prefix ? maskTrailingDash(name) : std::string(name));
}

}  // namespace capstan::api::vdetail
