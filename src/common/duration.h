#pragma once
// Go's time.ParseDuration, as Kubernetes' and kubelet's flags and fields
// take durations: a sequence of decimal numbers, each with a unit (ns, us,
// ms, s, m, h): "0s", "90s", "1m30s", "1.5h", "250ms"; a bare "0" too.
// Negative and malformed durations give nullopt. Precision: milliseconds.

#include <chrono>
#include <optional>
#include <string_view>

namespace capstan {

std::optional<std::chrono::milliseconds> parseGoDuration(std::string_view text);

}  // namespace capstan
