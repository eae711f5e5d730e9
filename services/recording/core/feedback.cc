#include "recording/core/feedback.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "recording/core/qa_common.h"
#include "routing/config/duration.h"

namespace sb::recording::qa {
namespace {

bool IsWordChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '\''; }

std::string Duration(int64_t ms) { return routing::config::FormatDurationMs(ms); }

}  // namespace

const char* FeedbackCauseName(FeedbackCause cause) {
  switch (cause) {
    case FeedbackCause::kNotLow:
      return "NOT_LOW";
    case FeedbackCause::kQueue:
      return "QUEUE";
    case FeedbackCause::kAgent:
      return "AGENT";
    case FeedbackCause::kUnknown:
      return "UNKNOWN";
  }
  return "?";
}

std::optional<FeedbackCause> ParseFeedbackCause(std::string_view name) {
  const std::string upper = absl::AsciiStrToUpper(Av(name));
  for (FeedbackCause c : {FeedbackCause::kNotLow, FeedbackCause::kQueue, FeedbackCause::kAgent,
                          FeedbackCause::kUnknown}) {
    if (upper == FeedbackCauseName(c)) return c;
  }
  return std::nullopt;
}

absl::Status ValidateFeedback(const Feedback& f) {
  for (const auto& [name, value] : {std::pair<const char*, const std::string*>{"tenant", &f.tenant},
                                    {"feedback_id", &f.feedback_id},
                                    {"interaction_id", &f.interaction_id}}) {
    if (value->empty()) {
      return InvalidArgument("MISSING_FIELD", absl::StrCat(name, ": required"));
    }
  }
  if (f.csat < 1 || f.csat > 5) {
    return InvalidArgument("CSAT_OUT_OF_RANGE", absl::StrCat("csat: ", f.csat, " is not 1..5"));
  }
  if (f.comment.size() > kMaxFeedbackCommentLength) {
    return InvalidArgument("COMMENT_TOO_LONG",
                           absl::StrCat("comment: ", f.comment.size(), " bytes (at most ",
                                        kMaxFeedbackCommentLength, ")"));
  }
  if ((f.wait_ms.has_value() && *f.wait_ms < 0) ||
      (f.queue_target_ms.has_value() && *f.queue_target_ms < 0)) {
    return InvalidArgument("NEGATIVE_WAIT", "wait_ms and queue_target_ms must not be negative");
  }
  return absl::OkStatus();
}

bool MentionsAny(std::string_view comment, const std::vector<std::string>& keywords) {
  const std::string text = absl::AsciiStrToLower(Av(comment));
  for (const std::string& k : keywords) {
    const std::string key = absl::AsciiStrToLower(k);
    if (key.empty()) continue;
    for (size_t pos = text.find(key); pos != std::string::npos; pos = text.find(key, pos + 1)) {
      const bool starts = pos == 0 || !IsWordChar(text[pos - 1]);
      const size_t end = pos + key.size();
      const bool ends = end == text.size() || !IsWordChar(text[end]);
      if (starts && ends) return true;
    }
  }
  return false;
}

FeedbackClassification ClassifyFeedback(const Feedback& f, const FeedbackSettings& settings) {
  FeedbackClassification c;
  c.low = f.csat <= settings.low_csat_threshold;
  if (!c.low) {
    c.cause = FeedbackCause::kNotLow;
    c.explanation = absl::StrCat("csat ", f.csat, " is above the low threshold (",
                                 settings.low_csat_threshold, ")");
    return c;
  }
  const int64_t target = f.queue_target_ms.value_or(settings.default_queue_target_ms);
  const bool mentions = MentionsAny(f.comment, settings.waiting_keywords);
  if (f.wait_ms.has_value() && *f.wait_ms > target) {
    c.cause = FeedbackCause::kQueue;
    c.explanation = absl::StrCat("waited ", Duration(*f.wait_ms), ", over the queue's ",
                                 Duration(target), " target");
  } else if (mentions && f.wait_ms.has_value() && *f.wait_ms <= settings.short_wait_ms) {
    c.cause = FeedbackCause::kAgent;
    c.explanation = absl::StrCat("the comment mentions waiting but the caller waited only ",
                                 Duration(*f.wait_ms), " in the queue");
  } else if (mentions) {
    c.cause = FeedbackCause::kQueue;
    c.explanation = f.wait_ms.has_value() ? absl::StrCat("the comment mentions waiting (waited ",
                                                         Duration(*f.wait_ms), ")")
                                          : "the comment mentions waiting (wait unknown)";
  } else if (f.wait_ms.has_value()) {
    c.cause = FeedbackCause::kAgent;
    c.explanation = absl::StrCat("waited ", Duration(*f.wait_ms), ", within the queue's ",
                                 Duration(target), " target, and the comment is not about waiting");
  } else {
    c.cause = FeedbackCause::kUnknown;
    c.explanation = "wait unknown and the comment is not about waiting";
  }
  c.create_review =
      !f.agent_id.empty() && std::find(settings.review_causes.begin(), settings.review_causes.end(),
                                       c.cause) != settings.review_causes.end();
  return c;
}

}  // namespace sb::recording::qa
