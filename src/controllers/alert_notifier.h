#pragma once
// Sends alerts to AlertReceivers in the formats Alertmanager speaks:
//   Alertmanager  POST URL/api/v2/alerts with a list of postable alerts (the
//                 way Prometheus hands alerts over), so an existing
//                 Alertmanager routes, groups and silences them;
//   Webhook       POST URL with the body Alertmanager sends its webhook
//                 receivers (version "4"), for anything that takes those.
// A firing alert has no endsAt; a resolved one ends at its resolvedAt.

#include <functional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace capstan::controllers::alerts {

// The labels and annotations an Alert object is sent with.
Json alertLabels(const Json& alert);
Json alertAnnotations(const Json& alert);

Json alertmanagerBody(const std::vector<Json>& alerts, const std::string& generator_url);
Json webhookBody(const std::string& receiver, const std::vector<Json>& alerts, const std::string& external_url);

// POSTs a JSON body; an error unless the answer is 2xx. Replaceable in tests.
using Poster = std::function<Status(const std::string& url, const std::string& body, bool insecure_skip_verify)>;
Status postJson(const std::string& url, const std::string& body, bool insecure_skip_verify);

}  // namespace capstan::controllers::alerts
