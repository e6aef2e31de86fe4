#pragma once
// The string rules of k8s.io/apimachinery/pkg/util/validation (DNS names,
// qualified names, label values, ports, config keys, percentages, IPs): each
// returns upstream's exact messages, none when the value is valid
// (validation_names.cc). Label selectors (selector.cc) and the validators
// share them.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace capstan::api::vdetail {

std::vector<std::string> dns1123SubdomainErrors(std::string_view v);
std::vector<std::string> dns1123LabelErrors(std::string_view v);
std::vector<std::string> dns1035LabelErrors(std::string_view v);
std::vector<std::string> qualifiedNameErrors(std::string_view v);
std::vector<std::string> labelValueErrors(std::string_view v);
std::vector<std::string> portNameErrors(std::string_view v);
std::vector<std::string> portNumErrors(int64_t port);
std::vector<std::string> configMapKeyErrors(std::string_view v);
std::vector<std::string> percentErrors(std::string_view v);
bool isIp(std::string_view v);
bool isIpv4(std::string_view v);
bool isIpv6(std::string_view v);

std::vector<std::string> nameIsDnsSubdomain(std::string_view name, bool prefix);
std::vector<std::string> nameIsDnsLabel(std::string_view name, bool prefix);
std::vector<std::string> nameIsDns1035Label(std::string_view name, bool prefix);

}  // namespace capstan::api::vdetail
