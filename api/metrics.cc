// Prometheus text rendering of request metrics, counters and gauges.
#include "api/metrics.h"

#include <cstdio>
#include <tuple>

namespace mandated::api {
namespace {

std::string EscapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string FormatDouble(double v) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

std::string RenderLabels(const std::map<std::string, std::string>& labels) {
  std::string rendered;
  for (const auto& [k, v] : labels) {
    rendered += (rendered.empty() ? "" : ",") + k + "=\"" + EscapeLabel(v) + "\"";
  }
  return rendered;
}

}  // namespace

Metrics::Metrics() = default;

const std::vector<double>& Metrics::LatencyBucketsSeconds() {
  static const std::vector<double> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                               0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                               1,      2.5,     5,      10};
  return kBuckets;
}

void Metrics::ObserveRequest(const std::string& route, const std::string& method, int status,
                             int64_t duration_micros) {
  const double seconds = static_cast<double>(duration_micros) / 1e6;
  const auto& bounds = LatencyBucketsSeconds();
  std::lock_guard<std::mutex> lock(mu_);
  RouteStats& s = routes_[{route, method}];
  if (s.buckets.empty()) {
    s.buckets.assign(bounds.size(), 0);
  }
  s.by_status[status]++;
  s.count++;
  s.sum_seconds += seconds;
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (seconds <= bounds[i]) {
      s.buckets[i]++;
      break;
    }
  }
}

void Metrics::IncrementCounter(const std::string& name, const std::string& help,
                               const std::map<std::string, std::string>& labels, uint64_t delta) {
  const std::string rendered = RenderLabels(labels);
  std::lock_guard<std::mutex> lock(mu_);
  CounterFamily& f = counters_[name];
  f.help = help;
  f.by_labels[rendered] += delta;
}

void Metrics::RegisterGauge(const std::string& name, const std::string& help,
                            const std::map<std::string, std::string>& labels,
                            std::function<double()> read) {
  std::lock_guard<std::mutex> lock(mu_);
  GaugeFamily& f = gauges_[name];
  f.help = help;
  f.series.emplace_back(RenderLabels(labels), std::move(read));
}

std::string Metrics::RenderPrometheus() const {
  const auto& bounds = LatencyBucketsSeconds();
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  out += "# HELP mandated_http_requests_total HTTP requests served, by route, method and status.\n";
  out += "# TYPE mandated_http_requests_total counter\n";
  for (const auto& [key, s] : routes_) {
    for (const auto& [status, n] : s.by_status) {
      out += "mandated_http_requests_total{route=\"" + EscapeLabel(key.first) + "\",method=\"" +
             key.second + "\",status=\"" + std::to_string(status) + "\"} " + std::to_string(n) +
             "\n";
    }
  }
  out += "# HELP mandated_http_request_duration_seconds Time from request parsed to response "
         "ready, by route and method.\n";
  out += "# TYPE mandated_http_request_duration_seconds histogram\n";
  for (const auto& [key, s] : routes_) {
    const std::string labels =
        "route=\"" + EscapeLabel(key.first) + "\",method=\"" + key.second + "\"";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds.size(); ++i) {
      cumulative += s.buckets[i];
      out += "mandated_http_request_duration_seconds_bucket{" + labels + ",le=\"" +
             FormatDouble(bounds[i]) + "\"} " + std::to_string(cumulative) + "\n";
    }
    out += "mandated_http_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} " +
           std::to_string(s.count) + "\n";
    out += "mandated_http_request_duration_seconds_sum{" + labels + "} " +
           FormatDouble(s.sum_seconds) + "\n";
    out += "mandated_http_request_duration_seconds_count{" + labels + "} " +
           std::to_string(s.count) + "\n";
  }
  for (const auto& [name, f] : counters_) {
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " counter\n";
    for (const auto& [labels, v] : f.by_labels) {
      out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(v) + "\n";
    }
  }
  for (const auto& [name, f] : gauges_) {
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " gauge\n";
    for (const auto& [labels, read] : f.series) {
      out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + FormatDouble(read()) +
             "\n";
    }
  }
  return out;
}

}  // namespace mandated::api
