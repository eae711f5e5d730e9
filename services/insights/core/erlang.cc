#include "insights/core/erlang.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace sb::insights {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Terms of the stationary distribution below this fraction of the largest are dropped.
constexpr double kLogNegligible = -37.0;  // ~1e-16
// States beyond the largest plausible queue are never needed; this only bounds a runaway loop.
constexpr int64_t kMaxQueueStates = 2'000'000;

bool Valid(double x) { return std::isfinite(x) && x >= 0; }

// log(P(Poisson(mean) >= k)) bounded above by Chernoff: -m + k (1 + log(m / k)) for k > m.
double LogPoissonTailBound(double mean, double k) {
  if (k <= mean) return 0;
  if (mean <= 0) return -kInf;
  return -mean + k * (1 + std::log(mean / k));
}

}  // namespace

double ErlangB(int agents, double load) {
  if (agents <= 0) return 1;
  if (!(load > 0)) return 0;
  double b = 1;
  for (int k = 1; k <= agents; ++k) b = load * b / (k + load * b);
  return b;
}

ErlangCResult ErlangC(int agents, double rate_per_s, double aht_s, double threshold_s) {
  ErlangCResult r;
  r.agents = agents;
  if (!Valid(rate_per_s) || !Valid(aht_s) || !Valid(threshold_s) || agents < 0) return r;
  const double a = rate_per_s * aht_s;
  r.load = a;
  if (a == 0) {  // no traffic: nobody waits
    r.probability_wait = 0;
    r.service_level = 1;
    r.asa_s = 0;
    r.occupancy = 0;
    r.stable = true;
    return r;
  }
  if (agents <= a) {
    r.probability_wait = 1;
    r.service_level = 0;
    r.asa_s = kInf;
    r.occupancy = 1;
    return r;
  }
  const double n = agents;
  const double b = ErlangB(agents, a);
  const double c = n * b / (n - a * (1 - b));
  r.stable = true;
  r.probability_wait = c;
  r.service_level = std::clamp(1 - c * std::exp(-(n - a) * threshold_s / aht_s), 0.0, 1.0);
  r.asa_s = c * aht_s / (n - a);
  r.occupancy = a / n;
  return r;
}

int ErlangCRequiredAgents(double rate_per_s, double aht_s, double threshold_s, double sl_target,
                          double max_occupancy, int max_agents) {
  const double a = rate_per_s * aht_s;
  if (!(a > 0) || !std::isfinite(a)) return 0;
  if (!(max_occupancy > 0) || max_occupancy > 1) max_occupancy = 1;
  const double lower = std::max(std::floor(a) + 1, std::ceil(a / max_occupancy));
  if (lower > max_agents) return max_agents;
  for (int n = static_cast<int>(lower); n < max_agents; ++n) {
    const ErlangCResult r = ErlangC(n, rate_per_s, aht_s, threshold_s);
    if (r.service_level >= sl_target && r.occupancy <= max_occupancy) return n;
  }
  return max_agents;
}

ErlangAResult ErlangA(int agents, double rate_per_s, double aht_s, double patience_s,
                      double threshold_s) {
  ErlangAResult r;
  r.agents = agents;
  if (!Valid(rate_per_s) || !Valid(aht_s) || !(patience_s > 0) || !Valid(threshold_s) ||
      agents < 0 || aht_s == 0) {
    return r;
  }
  const double lambda = rate_per_s;
  const double mu = 1 / aht_s;
  const double a = lambda / mu;
  r.load = a;
  if (lambda == 0) {
    r.service_level = 1;
    r.probability_answered_within_threshold = 1;
    return r;
  }
  if (std::isinf(patience_s)) {  // Erlang C
    const ErlangCResult c = ErlangC(agents, rate_per_s, aht_s, threshold_s);
    r.probability_wait = c.probability_wait;
    r.service_level = c.service_level;
    r.probability_answered_within_threshold = c.service_level;
    r.asa_s = c.asa_s;
    r.mean_wait_s = c.asa_s;
    r.mean_queue_length = c.stable ? lambda * c.asa_s : kInf;
    r.occupancy = c.occupancy;
    return r;
  }
  const double theta = 1 / patience_s;
  const int n = agents;
  const double n_mu = n * mu;

  // Unnormalized log stationary probabilities, log pi_0 = 0.
  std::vector<double> logp;
  logp.reserve(static_cast<size_t>(n) + 64);
  logp.push_back(0);
  const double log_a = std::log(a);
  for (int k = 1; k <= n; ++k) logp.push_back(logp.back() + log_a - std::log(k));
  double max_log = *std::max_element(logp.begin(), logp.end());
  for (int64_t j = 1; j < kMaxQueueStates; ++j) {
    const double ratio = lambda / (n_mu + j * theta);
    const double next = logp.back() + std::log(ratio);
    logp.push_back(next);
    max_log = std::max(max_log, next);
    if (ratio < 1 && next < max_log + kLogNegligible) break;
  }
  double total = 0;
  for (double lp : logp) total += std::exp(lp - max_log);
  std::vector<double> p(logp.size());
  for (size_t k = 0; k < logp.size(); ++k) p[k] = std::exp(logp[k] - max_log) / total;
  const size_t jmax = logp.size() - 1 - static_cast<size_t>(n);  // largest number ahead kept

  // pi_k for k < N: served at once.
  double p_immediate = 0;
  for (int k = 0; k < n; ++k) p_immediate += p[k];
  r.probability_wait = std::max(0.0, 1 - p_immediate);
  double lq = 0;
  for (size_t j = 1; j <= jmax; ++j) lq += static_cast<double>(j) * p[n + j];
  r.mean_queue_length = lq;
  r.mean_wait_s = lq / lambda;

  // Tagged arrival with j ahead: s_j = P(served), g_j = E[wait; served].
  std::vector<double> s(jmax + 1), g(jmax + 1);
  double p_served = p_immediate, wait_served = 0;
  for (size_t j = 0; j <= jmax; ++j) {
    const double rate = n_mu + static_cast<double>(j) * theta;
    const double out = rate + theta;
    const double prev_s = j == 0 ? 1 : s[j - 1];
    const double prev_g = j == 0 ? 0 : g[j - 1];
    s[j] = prev_s * rate / out;
    g[j] = s[j] / out + rate / out * prev_g;
    p_served += p[n + j] * s[j];
    wait_served += p[n + j] * g[j];
  }
  r.probability_abandon = std::clamp(1 - p_served, 0.0, 1.0);
  r.asa_s = p_served > 0 ? wait_served / p_served : 0;
  r.occupancy = n > 0 ? std::min(1.0, a * (1 - r.probability_abandon) / n) : 0;

  // Threshold probabilities by uniformization over j = 0..jcut. Beyond jcut a caller cannot be
  // served within T (bound below 1e-14): P(abandon within T) = 1 - exp(-theta T) there.
  const double t = threshold_s;
  size_t jcut = jmax;
  for (size_t j = 0; j <= jmax; ++j) {
    const double bound = std::min(std::log(std::max(s[j], 1e-300)),
                                  LogPoissonTailBound((n_mu + j * theta) * t, j + 1.0));
    if (bound < -32.2) {  // 1e-14
      jcut = j;
      break;
    }
  }
  const double big_lambda = n_mu + (jcut + 1.0) * theta;
  const double m = big_lambda * t;
  const int64_t kmax = static_cast<int64_t>(std::ceil(m + 12 * std::sqrt(m) + 30));
  std::vector<double> fs(jcut + 1, 0.0), fx(jcut + 1, 0.0), next_s(jcut + 1), next_x(jcut + 1);
  std::vector<double> acc_s(jcut + 1, 0.0), acc_x(jcut + 1, 0.0);
  const double kill = theta / big_lambda;
  double weight_sum = 0;
  for (int64_t step = 0; step <= kmax; ++step) {
    // Poisson(m) weight of `step` jumps, from logs: no underflow of the leading terms.
    const double w =
        m == 0 ? (step == 0 ? 1 : 0)
               : std::exp(-m + static_cast<double>(step) * std::log(m) - std::lgamma(step + 1.0));
    weight_sum += w;
    for (size_t j = 0; j <= jcut; ++j) {
      acc_s[j] += w * fs[j];
      acc_x[j] += w * fx[j];
    }
    for (size_t j = 0; j <= jcut; ++j) {
      const double prog = (n_mu + j * theta) / big_lambda;
      const double stay = 1 - prog - kill;
      next_s[j] = prog * (j == 0 ? 1 : fs[j - 1]) + stay * fs[j];
      next_x[j] = kill + prog * (j == 0 ? 0 : fx[j - 1]) + stay * fx[j];
    }
    fs.swap(next_s);
    fx.swap(next_x);
  }
  double ans_within = p_immediate, ab_within = 0;
  const double ab_far = 1 - std::exp(-theta * t);
  for (size_t j = 0; j <= jmax; ++j) {
    if (j <= jcut) {
      ans_within += p[n + j] * acc_s[j];
      ab_within += p[n + j] * acc_x[j];
    } else {
      ab_within += p[n + j] * ab_far;
    }
  }
  r.probability_answered_within_threshold = std::clamp(ans_within, 0.0, 1.0);
  r.probability_abandon_within_threshold = std::clamp(ab_within, 0.0, r.probability_abandon);
  const double denominator = 1 - r.probability_abandon_within_threshold;
  r.service_level =
      denominator > 0 ? std::clamp(r.probability_answered_within_threshold / denominator, 0.0, 1.0)
                      : 0;
  return r;
}

int ErlangARequiredAgents(double rate_per_s, double aht_s, double patience_s, double threshold_s,
                          double sl_target, double max_occupancy, double max_abandon,
                          int max_agents) {
  if (!(rate_per_s * aht_s > 0) || !std::isfinite(rate_per_s * aht_s)) return 0;
  if (std::isinf(patience_s)) {  // nobody abandons
    return ErlangCRequiredAgents(rate_per_s, aht_s, threshold_s, sl_target, max_occupancy,
                                 max_agents);
  }
  if (!(max_occupancy > 0) || max_occupancy > 1) max_occupancy = 1;
  auto ok = [&](int n) {
    const ErlangAResult r = ErlangA(n, rate_per_s, aht_s, patience_s, threshold_s);
    return r.service_level >= sl_target && r.occupancy <= max_occupancy &&
           r.probability_abandon <= max_abandon;
  };
  // Exponential search for a feasible upper bound, then bisection on [lo, hi].
  int lo = 0;  // infeasible (no agents: nobody is answered)
  int hi = std::max(1, static_cast<int>(std::ceil(rate_per_s * aht_s)));
  while (!ok(hi)) {
    if (hi >= max_agents) return max_agents;
    lo = hi;
    hi = std::min(max_agents, hi * 2);
  }
  while (hi - lo > 1) {
    const int mid = lo + (hi - lo) / 2;
    if (ok(mid)) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

std::optional<double> EstimateMeanPatienceS(double total_wait_s, int64_t abandons) {
  if (abandons <= 0 || !(total_wait_s >= 0)) return std::nullopt;
  return total_wait_s / static_cast<double>(abandons);
}

}  // namespace sb::insights
