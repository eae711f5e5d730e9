// The dashboard's request handling without the sockets: a request target in, a reply out. The
// DashboardServer (dashboard_server.h) does the IO and calls these; tests may call them directly.
#pragma once
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "insights/http/source.h"

namespace sb::insights::http {

// HttpReply
//
// What one request answers: status, media type and body. Plain value.
struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// QueryParams
//
// The decoded query string of a request target ("a=1&b=x%20y" → {a: "1", b: "x y"}); the last
// value wins when a key repeats.
using QueryParams = std::map<std::string, std::string, std::less<>>;

// Splits "/path?query" into the percent-decoded path and its parameters. Malformed escapes are
// kept literally.
std::string SplitTarget(absl::string_view target, QueryParams& params);

// The message as one line of canonical proto JSON with the proto field names and every primitive
// field printed (optional fields only when set, so an absent figure stays absent).
std::string ToJson(const google::protobuf::Message& message);

// The JSON error body {"code":..., "reason":..., "message":...} and its HTTP status: the status
// message's prefix before the first ':' is the reason. INVALID_ARGUMENT → 400, NOT_FOUND → 404,
// UNAVAILABLE → 503, anything else → 500.
HttpReply ErrorReply(const absl::Status& status);

// Answers GET /api/<...> for `path` (already split from its query). Returns 404 NO_SUCH_PATH for a
// path it does not know. Thread-safe (the source is).
HttpReply HandleApi(InsightsSource& source, absl::string_view path, const QueryParams& params);

// Builds the GetFloorRequest of /api/floor and /api/floor/stream (tenant required).
absl::StatusOr<iv1::GetFloorRequest> ParseFloorRequest(const QueryParams& params);

// A time given as RFC 3339 ("2026-11-23T08:00:00Z") or as milliseconds since the epoch.
absl::StatusOr<int64_t> ParseTimeMs(absl::string_view text);

}  // namespace sb::insights::http
