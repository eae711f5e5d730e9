// Queueing formulas for staffing: Erlang C (M/M/N) and Erlang A (M/M/N+M, exponential patience).
//
// All times are in seconds (double) here: the formulas are scale-free, and the callers convert
// from milliseconds. Every function is pure, thread-compatible and cheap enough to call per
// interval of a forecast. The methods and formulas are written out in docs/insights.md.
//
// Service level, everywhere in insights (docs/insights.md "Service level"):
//   SL(T) = answered within T / (answered + abandoned after T)
// Abandons within T are neutral. Under Erlang C nobody abandons, so SL(T) = P(wait <= T).
#pragma once

#include <cstdint>
#include <optional>

namespace sb::insights {

// Erlang B blocking probability for `agents` servers and `load` Erlangs, by the recursion
// B(0) = 1, B(k) = A B(k-1) / (k + A B(k-1)): no factorials, no overflow, O(agents).
double ErlangB(int agents, double load);

// Erlang C: the figures of an M/M/N queue.
struct ErlangCResult {
  int agents = 0;
  double load = 0;              // offered load A = arrival rate x AHT, in Erlangs
  double probability_wait = 1;  // C(N, A); 1 when N <= A (unstable: the queue grows forever)
  double service_level = 0;     // P(wait <= threshold)
  double asa_s = 0;             // mean wait of all callers (= of answered ones: none abandon)
  double occupancy = 1;         // A / N, capped at 1
  bool stable = false;          // N > A
};

// `rate_per_s` arrivals per second, `aht_s` mean handle time, `threshold_s` the SL threshold.
// With N <= A: probability_wait 1, service_level 0, asa_s +infinity, occupancy 1.
ErlangCResult ErlangC(int agents, double rate_per_s, double aht_s, double threshold_s);

// The fewest agents with ErlangC(...).service_level >= sl_target and occupancy <= max_occupancy
// (max_occupancy in (0, 1]; 1 = no cap). 0 when there is no traffic. Capped at `max_agents`
// (returned as is when even that is not enough).
int ErlangCRequiredAgents(double rate_per_s, double aht_s, double threshold_s, double sl_target,
                          double max_occupancy = 1.0, int max_agents = 100000);

// Erlang A (Palm's M/M/N+M): the figures of an M/M/N queue whose callers abandon after an
// exponential patience with mean `patience_s`.
struct ErlangAResult {
  int agents = 0;
  double load = 0;
  double probability_wait = 0;     // P(an arrival finds all agents busy)
  double probability_abandon = 0;  // P(an arrival abandons)
  double probability_abandon_within_threshold = 0;
  double probability_answered_within_threshold = 0;
  double service_level = 0;      // answered within T / (answered + abandoned after T)
  double asa_s = 0;              // mean wait of the answered
  double mean_wait_s = 0;        // mean wait of all arrivals (answered and abandoned)
  double mean_queue_length = 0;  // Lq
  double occupancy = 0;          // carried load / N = rate x (1 - P(abandon)) x AHT / N
};

// Method (docs/insights.md): the stationary distribution of the birth-death chain (states = number
// in system) is summed in log space and truncated where the terms fall below 1e-16 of the largest;
// the wait of a tagged arrival that finds j callers ahead is a pure-death chain with rates
// N/AHT + i/patience (i = callers ahead), killed at rate 1/patience (its own abandonment), solved
// in closed form for the means and by uniformization for the threshold probabilities (all terms
// positive: no cancellation). Works for hundreds (thousands) of agents and for overload (A > N),
// which Erlang A, unlike Erlang C, handles. `patience_s` = +infinity gives Erlang C (only when
// N > A; otherwise the result is "everyone waits forever": SL 0, P(abandon) 0, ASA +infinity).
ErlangAResult ErlangA(int agents, double rate_per_s, double aht_s, double patience_s,
                      double threshold_s);

// The fewest agents with ErlangA(...).service_level >= sl_target, occupancy <= max_occupancy and
// probability_abandon <= max_abandon, found by bisection (all three are monotone in N). 0 when
// there is no traffic; `max_agents` when not enough.
// Beware: under the SL definition abandons within T are neutral, so with a long threshold an
// overloaded queue whose callers all wait a little less than T (and many abandon) meets the SL.
// `max_abandon` (e.g. 0.05) guards against staffing for that; 1 = no cap.
int ErlangARequiredAgents(double rate_per_s, double aht_s, double patience_s, double threshold_s,
                          double sl_target, double max_occupancy = 1.0, double max_abandon = 1.0,
                          int max_agents = 100000);

// Mean patience from history, the maximum-likelihood estimate for exponential patience with
// censoring: every caller who waited contributes their wait (an abandoned caller's wait is their
// patience; an answered caller's wait is a lower bound on it), and
//   mean patience = total waiting time of all callers / number of abandons.
// nullopt when there were no abandons (no evidence of finite patience: use Erlang C).
std::optional<double> EstimateMeanPatienceS(double total_wait_s, int64_t abandons);

}  // namespace sb::insights
