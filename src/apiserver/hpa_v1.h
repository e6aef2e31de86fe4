#pragma once
// Private to the API server: autoscaling/v1 HorizontalPodAutoscalers, as far
// as `kubectl autoscale` needs them. kubectl up to 1.32 posts an
// autoscaling/v1 object (1.33 posts v2 as protobuf, and falls back to v1
// when that is refused). Only create is served in v1: the body is converted
// to autoscaling/v2 (targetCPUUtilizationPercentage becomes a cpu
// Utilization metric, as upstream's conversion does), created through the
// v2 path (same admission, defaults and validation), and the answer
// converted back. Get, list, watch and update of v1 are not served (404):
// clients read HPAs through v2, the preferred version.
//
// Pure functions; thread-safe.

#include "apiserver/http.h"
#include "apiserver/request_info.h"
#include "common/json.h"

namespace capstan::apiserver {

// A POST of a JSON body to /apis/autoscaling/v1/namespaces/NS/horizontalpodautoscalers.
bool isHpaV1Create(const RequestInfo& ri, const Request& req);

// Convert_v1_HorizontalPodAutoscaler_To_autoscaling_HorizontalPodAutoscaler (to v2).
Json hpaV1ToV2(const Json& v1);
// And back: the v2 object as an autoscaling/v1 client sees it.
Json hpaV2ToV1(const Json& v2);

}  // namespace capstan::apiserver
