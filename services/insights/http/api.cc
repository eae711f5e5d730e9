#include "insights/http/api.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace sb::insights::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(absl::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

absl::Status BadParameter(absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("BAD_PARAMETER: ", message));
}

absl::string_view Get(const QueryParams& params, absl::string_view key) {
  auto it = params.find(key);
  return it == params.end() ? absl::string_view() : absl::string_view(it->second);
}

absl::StatusOr<std::string> RequiredTenant(const QueryParams& params) {
  std::string tenant(absl::StripAsciiWhitespace(Get(params, "tenant")));
  if (tenant.empty()) return BadParameter("tenant is required (?tenant=...)");
  return tenant;
}

// An integer parameter; absent or empty → `fallback`.
absl::StatusOr<int64_t> IntParam(const QueryParams& params, absl::string_view key, int64_t fallback,
                                 int64_t min, int64_t max) {
  const absl::string_view text = Get(params, key);
  if (text.empty()) return fallback;
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    return BadParameter(absl::StrCat(key, " must be an integer, got '", text, "'"));
  }
  if (value < min || value > max) {
    return BadParameter(absl::StrCat(key, " must be in [", min, ", ", max, "], got ", value));
  }
  return value;
}

absl::StatusOr<double> DoubleParam(const QueryParams& params, absl::string_view key, double min,
                                   double max) {
  const absl::string_view text = Get(params, key);
  if (text.empty()) return 0.0;
  double value = 0;
  if (!absl::SimpleAtod(text, &value) || !std::isfinite(value)) {
    return BadParameter(absl::StrCat(key, " must be a number, got '", text, "'"));
  }
  if (value < min || value > max) {
    return BadParameter(absl::StrCat(key, " must be in [", min, ", ", max, "], got ", text));
  }
  return value;
}

absl::StatusOr<bool> BoolParam(const QueryParams& params, absl::string_view key) {
  const std::string text = absl::AsciiStrToLower(Get(params, key));
  if (text.empty() || text == "0" || text == "false" || text == "no") return false;
  if (text == "1" || text == "true" || text == "yes") return true;
  return BadParameter(absl::StrCat(key, " must be true or false, got '", text, "'"));
}

// An optional time parameter: absent → the field stays unset.
absl::Status SetTime(const QueryParams& params, absl::string_view key,
                     const std::function<google::protobuf::Timestamp*()>& field) {
  const absl::string_view text = Get(params, key);
  if (text.empty()) return absl::OkStatus();
  absl::StatusOr<int64_t> ms = ParseTimeMs(text);
  if (!ms.ok()) {
    return BadParameter(absl::StrCat(key, " must be RFC 3339 (2026-11-23T08:00:00Z) or ",
                                     "milliseconds since the epoch, got '", text, "'"));
  }
  *field() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(*ms);
  return absl::OkStatus();
}

template <typename Message>
HttpReply JsonReply(const absl::StatusOr<Message>& result) {
  if (!result.ok()) return ErrorReply(result.status());
  return HttpReply{200, "application/json", ToJson(*result)};
}

HttpReply Intervals(InsightsSource& source, const QueryParams& params) {
  iv1::GetIntervalsRequest request;
  absl::StatusOr<std::string> tenant = RequiredTenant(params);
  if (!tenant.ok()) return ErrorReply(tenant.status());
  request.set_tenant_id(*tenant);
  request.set_queue_id(std::string(Get(params, "queue")));
  for (const absl::Status& s : {SetTime(params, "from", [&] { return request.mutable_from(); }),
                                SetTime(params, "to", [&] { return request.mutable_to(); })}) {
    if (!s.ok()) return ErrorReply(s);
  }
  absl::StatusOr<bool> include_open = BoolParam(params, "include_open");
  if (!include_open.ok()) return ErrorReply(include_open.status());
  request.set_include_open(*include_open);
  return JsonReply(source.GetIntervals(request));
}

HttpReply Forecast(InsightsSource& source, const QueryParams& params) {
  iv1::GetForecastRequest request;
  absl::StatusOr<std::string> tenant = RequiredTenant(params);
  if (!tenant.ok()) return ErrorReply(tenant.status());
  request.set_tenant_id(*tenant);
  const std::string queue(Get(params, "queue"));
  if (queue.empty()) return ErrorReply(BadParameter("queue is required (?queue=...)"));
  request.set_queue_id(queue);
  request.set_day(std::string(Get(params, "day")));
  request.set_seasonality(std::string(Get(params, "seasonality")));
  request.set_weighting(std::string(Get(params, "weighting")));
  constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
  absl::StatusOr<int64_t> periods = IntParam(params, "periods", 0, 0, 1000);
  absl::StatusOr<double> alpha = DoubleParam(params, "alpha", 0, 1);
  absl::StatusOr<double> sl_target = DoubleParam(params, "sl_target", 0, 1);
  absl::StatusOr<int64_t> threshold = IntParam(params, "sl_threshold_ms", 0, 0, kMaxInt64);
  absl::StatusOr<double> max_occupancy = DoubleParam(params, "max_occupancy", 0, 1);
  absl::StatusOr<double> max_abandon = DoubleParam(params, "max_abandon", 0, 1);
  absl::StatusOr<int64_t> patience = IntParam(params, "patience_ms", 0, 0, kMaxInt64);
  for (const absl::Status& s :
       {periods.status(), alpha.status(), sl_target.status(), threshold.status(),
        max_occupancy.status(), max_abandon.status(), patience.status()}) {
    if (!s.ok()) return ErrorReply(s);
  }
  request.set_periods(static_cast<int32_t>(*periods));
  request.set_alpha(*alpha);
  request.set_sl_target(*sl_target);
  request.set_sl_threshold_ms(*threshold);
  request.set_max_occupancy(*max_occupancy);
  request.set_max_abandon(*max_abandon);
  request.set_patience_ms(*patience);
  return JsonReply(source.GetForecast(request));
}

}  // namespace

std::string SplitTarget(absl::string_view target, QueryParams& params) {
  params.clear();
  const size_t q = target.find('?');
  const std::string path = PercentDecode(target.substr(0, q), /*plus_is_space=*/false);
  if (q == absl::string_view::npos) return path;
  for (absl::string_view pair : absl::StrSplit(target.substr(q + 1), '&', absl::SkipEmpty())) {
    const size_t eq = pair.find('=');
    std::string key = PercentDecode(pair.substr(0, eq), true);
    std::string value =
        eq == absl::string_view::npos ? std::string() : PercentDecode(pair.substr(eq + 1), true);
    params[std::move(key)] = std::move(value);
  }
  return path;
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) {
    // Only a message with an unresolvable Any can fail; ours have none.
    return R"({"code":"INTERNAL","reason":"JSON","message":"cannot print JSON"})";
  }
  return out;
}

HttpReply ErrorReply(const absl::Status& status) {
  int http_status = 500;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      http_status = 400;
      break;
    case absl::StatusCode::kNotFound:
      http_status = 404;
      break;
    case absl::StatusCode::kUnavailable:
      http_status = 503;
      break;
    default:
      break;
  }
  const absl::string_view message = status.message();
  const size_t colon = message.find(':');
  absl::string_view reason = colon == absl::string_view::npos ? "" : message.substr(0, colon);
  // A reason is an UPPER_SNAKE word; a message without one gets the code's name.
  const bool looks_like_reason =
      !reason.empty() && std::all_of(reason.begin(), reason.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
      });
  // The gRPC names: "INVALID_ARGUMENT", "NOT_FOUND", ...
  const std::string code = absl::StatusCodeToString(status.code());
  std::string body = "{\"code\":";
  auto quote = [](absl::string_view s) {
    std::string out = "\"";
    for (char c : s) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            out += absl::StrCat("\\u00", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
          } else {
            out.push_back(c);
          }
      }
    }
    out += "\"";
    return out;
  };
  absl::string_view text = message;
  if (looks_like_reason) text = absl::StripLeadingAsciiWhitespace(message.substr(colon + 1));
  absl::StrAppend(&body, quote(code), ",\"reason\":", quote(looks_like_reason ? reason : code),
                  ",\"message\":", quote(text), "}");
  return HttpReply{http_status, "application/json", std::move(body)};
}

absl::StatusOr<int64_t> ParseTimeMs(absl::string_view text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) || c == '-';
      })) {
    int64_t ms = 0;
    if (absl::SimpleAtoi(text, &ms)) return ms;
  }
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
    return BadParameter(absl::StrCat("a time must be RFC 3339 (2026-11-23T08:00:00Z) or ",
                                     "milliseconds since the epoch, got '", text, "'"));
  }
  return absl::ToUnixMillis(time);
}

absl::StatusOr<iv1::GetFloorRequest> ParseFloorRequest(const QueryParams& params) {
  absl::StatusOr<std::string> tenant = RequiredTenant(params);
  if (!tenant.ok()) return tenant.status();
  iv1::GetFloorRequest request;
  request.set_tenant_id(*tenant);
  return request;
}

HttpReply HandleApi(InsightsSource& source, absl::string_view path, const QueryParams& params) {
  if (path == "/api/tenants") {
    return HttpReply{200, "application/json", ToJson(source.ListTenants())};
  }
  if (path == "/api/floor") {
    absl::StatusOr<iv1::GetFloorRequest> request = ParseFloorRequest(params);
    if (!request.ok()) return ErrorReply(request.status());
    return JsonReply(source.GetFloor(*request));
  }
  if (path == "/api/intervals") return Intervals(source, params);
  if (path == "/api/forecast") return Forecast(source, params);
  return ErrorReply(absl::NotFoundError(absl::StrCat("NO_SUCH_PATH: no endpoint ", path)));
}

}  // namespace sb::insights::http
