#pragma once
// Kubernetes' resource.Quantity: "100m", "0.5", "1Gi", "129e6", "1k", ...
// parsed exactly (no floating point) into the two views the scheduler and
// the agent need: milli-units (MilliValue) and units (Value), each rounded
// up as upstream rounds them, saturating at the int64 range.

#include <cstdint>
#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace capstan::api {

struct Quantity {
  int64_t milli = 0;  // MilliValue(): ceil(q * 1000)
  int64_t value = 0;  // Value(): ceil(q)
};

// The syntax of resource.ParseQuantity:
//   <sign>? <digits>(.<digits>)? ( <binarySI> | <decimalSI> | e<sign>?<digits> )?
// binarySI Ki Mi Gi Ti Pi Ei, decimalSI n u m k M G T P E. Anything else
// (spaces, empty, "1.2.3", "1 Gi", "1KiB") is BadRequest "quantities must
// match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'".
Result<Quantity> parseQuantity(std::string_view text);

// A quantity as found in JSON: a string, or a number (which upstream's
// decoder also accepts).
Result<Quantity> parseQuantityValue(const Json& value);

}  // namespace capstan::api
