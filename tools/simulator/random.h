// Portable random numbers for the simulator: the same seed gives the same samples with any
// standard library. std::mt19937_64 is specified bit-for-bit by the standard; the std::*
// distributions are not, so the samplers below are our own (inverse CDF where it has a closed
// form, Box-Muller for the normal).
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace sb::sim {

// SplitMix64: a fixed 64-bit mixing function, used to derive independent stream seeds.
uint64_t SplitMix64(uint64_t x);

// Rng
//
// One random stream. The simulator keeps one per purpose (each arrival stream, handle times,
// patience, agent behaviour) so that changing one part of a scenario does not shift the
// numbers drawn by the others. Not thread-safe.
class Rng {
 public:
  // `stream` distinguishes the streams of one seed.
  Rng(uint64_t seed, uint64_t stream);

  // Uniform on the open interval (0, 1): never 0, so log(u) is finite.
  double Uniform01();
  // Exponential with the given mean: -mean * ln(U) (the inverse CDF).
  double Exponential(double mean);
  // Standard normal by Box-Muller (one value per call).
  double StandardNormal();

 private:
  std::mt19937_64 engine_;
};

// Distribution
//
// A non-negative random duration in milliseconds, as written in a scenario:
//   constant (mean), exponential (mean), lognormal (mean, sd), uniform (min, max).
struct Distribution {
  enum class Kind { kConstant, kExponential, kLognormal, kUniform };
  Kind kind = Kind::kConstant;
  double mean_ms = 0;
  double sd_ms = 0;   // lognormal
  double min_ms = 0;  // uniform
  double max_ms = 0;  // uniform

  static Distribution Constant(double ms);
  static Distribution Exponential(double mean_ms);
  // Lognormal with the given mean and standard deviation of the duration itself (not of its
  // logarithm): sigma^2 = ln(1 + sd^2/mean^2), mu = ln(mean) - sigma^2/2.
  static Distribution Lognormal(double mean_ms, double sd_ms);
  static Distribution Uniform(double min_ms, double max_ms);

  // A sample, in milliseconds (>= 0, not rounded).
  double Sample(Rng& rng) const;
  // The expected value, in milliseconds.
  double Mean() const;
  // "exponential(mean 4m)" and the like, for reports.
  std::string Describe() const;
};

}  // namespace sb::sim
