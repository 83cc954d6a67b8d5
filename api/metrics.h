// Metrics: request counters and latency histograms per route, plus named counters and gauges
// other modules register, rendered in the Prometheus text exposition format (version 0.0.4).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mandated::api {

// Thread safety: all methods are safe from any thread.
class Metrics {
 public:
  Metrics();

  // Records one finished request. `route` is the pattern ("unmatched" when none).
  void ObserveRequest(const std::string& route, const std::string& method, int status,
                      int64_t duration_micros);

  // A monotonically increasing counter with fixed labels (e.g. {"role","agent"}).
  void IncrementCounter(const std::string& name, const std::string& help,
                        const std::map<std::string, std::string>& labels, uint64_t delta = 1);
  // A gauge computed when /metrics is scraped.
  void RegisterGauge(const std::string& name, const std::string& help,
                     std::function<double()> read) {
    RegisterGauge(name, help, {}, std::move(read));
  }
  void RegisterGauge(const std::string& name, const std::string& help,
                     const std::map<std::string, std::string>& labels,
                     std::function<double()> read);

  std::string RenderPrometheus() const;

  static const std::vector<double>& LatencyBucketsSeconds();

 private:
  struct RouteStats {
    std::map<int, uint64_t> by_status;  // guarded by mu_
    std::vector<uint64_t> buckets;      // cumulative counts are computed at render time
    uint64_t count = 0;
    double sum_seconds = 0;
  };
  struct CounterFamily {
    std::string help;
    std::map<std::string, uint64_t> by_labels;  // rendered label set -> value
  };

  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, RouteStats> routes_;  // (route, method)
  std::map<std::string, CounterFamily> counters_;
  struct GaugeFamily {
    std::string help;
    std::vector<std::pair<std::string, std::function<double()>>> series;  // labels, read
  };
  std::map<std::string, GaugeFamily> gauges_;
};

}  // namespace mandated::api
