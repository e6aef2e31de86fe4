#pragma once
// ldns for C++. Its common.h defines bool, false and true as macros (true
// as the int 1) unless <stdbool.h> came first, and the macros then outlive
// the include: Json{{"ready", true}} below it would hold the number 1.
// <stdbool.h> in C++ defines none of them and marks them present.

#include <type_traits>

// The order matters.
// clang-format off
#include <stdbool.h>  // NOLINT(modernize-deprecated-headers)
#include <ldns/ldns.h>
// clang-format on

static_assert(std::is_same_v<decltype(true), bool>, "ldns/common.h redefined true");
