#pragma once
// Completion indexes of Indexed Jobs and their text form in
// status.completedIndexes: sorted, consecutive runs as ranges, "0-2,4".

#include <set>
#include <string>
#include <string_view>

namespace capstan::controllers {

// Parses "1,3-5"; malformed parts and values outside [0, limit) are skipped.
std::set<int> parseIndexes(std::string_view text, int limit);
std::string formatIndexes(const std::set<int>& indexes);

}  // namespace capstan::controllers
