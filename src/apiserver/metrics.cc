#include "apiserver/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace capstan::apiserver {

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& requests =
      prometheus::BuildCounter()
          .Name("apiserver_request_total")
          .Help("Counter of apiserver requests broken out for each verb, group, version, resource, scope, component, and HTTP response code.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& durations =
      prometheus::BuildHistogram()
          .Name("apiserver_request_duration_seconds")
          .Help("Response latency distribution in seconds for each verb, group, version, resource, subresource, scope and component.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& longrunning =
      prometheus::BuildGauge()
          .Name("apiserver_longrunning_requests")
          .Help("Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& store =
      prometheus::BuildHistogram()
          .Name("etcd_request_duration_seconds")
          .Help("Store request latency in seconds for each operation and object type.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& objects =
      prometheus::BuildGauge()
          .Name("apiserver_storage_objects")
          .Help("Number of stored objects at the time of last check split by kind.")
          .Register(*registry);

  prometheus::Family<prometheus::Gauge>& certificates =
      prometheus::BuildGauge()
          .Name("capstan_certificate_expiration_timestamp_seconds")
          .Help("When each certificate of the server expires (ca, serving, admin), in seconds since the Unix epoch.")
          .Register(*registry);

  const prometheus::Histogram::BucketBoundaries request_buckets{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0,
                                                                1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60};
  const prometheus::Histogram::BucketBoundaries store_buckets{0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032,
                                                              0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096};
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

namespace {
prometheus::Labels labelsOf(const RequestLabels& l) {
  return {{"verb", l.verb},         {"group", l.group}, {"version", l.version}, {"resource", l.resource},
          {"subresource", l.subresource}, {"scope", l.scope}, {"component", "apiserver"}};
}
}  // namespace

void Metrics::setCertificateExpiry(const std::string& certificate, double unix_seconds) {
  impl_->certificates.Add({{"certificate", certificate}}).Set(unix_seconds);
}

void Metrics::observeRequest(const RequestLabels& l, int code, double seconds) {
  auto labels = labelsOf(l);
  impl_->durations.Add(labels, impl_->request_buckets).Observe(seconds);
  labels["code"] = std::to_string(code);
  impl_->requests.Add(labels).Increment();
}

void Metrics::watchStarted(const RequestLabels& l) { impl_->longrunning.Add(labelsOf(l)).Increment(); }
void Metrics::watchEnded(const RequestLabels& l) { impl_->longrunning.Add(labelsOf(l)).Decrement(); }

void Metrics::observeStore(const std::string& operation, const std::string& type, double seconds) {
  impl_->store.Add({{"operation", operation}, {"type", type}}, impl_->store_buckets).Observe(seconds);
}

void Metrics::setObjectCount(const std::string& resource, double count) {
  impl_->objects.Add({{"resource", resource}}).Set(count);
}

std::string Metrics::scrape() const {
  prometheus::TextSerializer s;
  return s.Serialize(impl_->registry->Collect());
}

prometheus::Registry& Metrics::registry() { return *impl_->registry; }

}  // namespace capstan::apiserver
