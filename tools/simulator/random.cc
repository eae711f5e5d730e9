#include "simulator/random.h"

#include <cmath>
#include <numbers>

#include "absl/strings/str_cat.h"
#include "routing/config/duration.h"

namespace sb::sim {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

Rng::Rng(uint64_t seed, uint64_t stream) : engine_(SplitMix64(seed ^ SplitMix64(stream))) {}

double Rng::Uniform01() {
  // 53 random bits, shifted by half a step so that neither 0 nor 1 can come out.
  const uint64_t bits = engine_() >> 11;
  return (static_cast<double>(bits) + 0.5) * 0x1.0p-53;
}

double Rng::Exponential(double mean) { return -mean * std::log(Uniform01()); }

double Rng::StandardNormal() {
  const double u1 = Uniform01();
  const double u2 = Uniform01();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

Distribution Distribution::Constant(double ms) {
  Distribution d;
  d.kind = Kind::kConstant;
  d.mean_ms = ms;
  return d;
}

Distribution Distribution::Exponential(double mean_ms) {
  Distribution d;
  d.kind = Kind::kExponential;
  d.mean_ms = mean_ms;
  return d;
}

Distribution Distribution::Lognormal(double mean_ms, double sd_ms) {
  Distribution d;
  d.kind = Kind::kLognormal;
  d.mean_ms = mean_ms;
  d.sd_ms = sd_ms;
  return d;
}

Distribution Distribution::Uniform(double min_ms, double max_ms) {
  Distribution d;
  d.kind = Kind::kUniform;
  d.min_ms = min_ms;
  d.max_ms = max_ms;
  d.mean_ms = (min_ms + max_ms) / 2;
  return d;
}

double Distribution::Sample(Rng& rng) const {
  switch (kind) {
    case Kind::kConstant:
      return mean_ms;
    case Kind::kExponential:
      return rng.Exponential(mean_ms);
    case Kind::kLognormal: {
      if (mean_ms <= 0) return 0;
      const double cv2 = (sd_ms * sd_ms) / (mean_ms * mean_ms);
      const double sigma2 = std::log1p(cv2);
      const double mu = std::log(mean_ms) - sigma2 / 2;
      return std::exp(mu + std::sqrt(sigma2) * rng.StandardNormal());
    }
    case Kind::kUniform:
      return min_ms + (max_ms - min_ms) * rng.Uniform01();
  }
  return mean_ms;
}

double Distribution::Mean() const { return mean_ms; }

std::string Distribution::Describe() const {
  auto d = [](double ms) { return routing::config::FormatDurationMs(std::llround(ms)); };
  switch (kind) {
    case Kind::kConstant:
      return absl::StrCat("constant(", d(mean_ms), ")");
    case Kind::kExponential:
      return absl::StrCat("exponential(mean ", d(mean_ms), ")");
    case Kind::kLognormal:
      return absl::StrCat("lognormal(mean ", d(mean_ms), ", sd ", d(sd_ms), ")");
    case Kind::kUniform:
      return absl::StrCat("uniform(", d(min_ms), "..", d(max_ms), ")");
  }
  return "";
}

}  // namespace sb::sim
