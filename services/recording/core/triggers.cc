#include "recording/core/triggers.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "recording/core/qa_common.h"

namespace sb::recording::qa {
namespace {

using Field = std::pair<const char*, const std::string*>;

absl::Status RequireFields(std::string_view prefix, std::initializer_list<Field> fields) {
  for (const auto& [name, value] : fields) {
    if (value->empty()) {
      return InvalidArgument("MISSING_FIELD", absl::StrCat(Av(prefix), name, ": required"));
    }
  }
  return absl::OkStatus();
}

ReviewTaskSpec Base(ReviewKind kind, const std::string& tenant, const std::string& interaction_id,
                    const std::string& agent_id, const std::string& team, const std::string& queue,
                    const std::string& source, int64_t time_ms) {
  ReviewTaskSpec spec;
  spec.tenant = tenant;
  spec.interaction_id = interaction_id;
  spec.agent_id = agent_id;
  spec.team = team;
  spec.queue = queue;
  spec.kind = kind;
  spec.source_event_id = source;
  spec.created_at_ms = time_ms;
  spec.dedupe_key = ReviewDedupeKey(kind, tenant, interaction_id, agent_id);
  return spec;
}

}  // namespace

Review ReviewTaskSpec::ToReview(std::string review_id) const {
  Review r;
  r.review_id = std::move(review_id);
  r.tenant = tenant;
  r.interaction_id = interaction_id;
  r.agent_id = agent_id;
  r.team = team;
  r.queue = queue;
  r.kind = kind;
  r.mandatory = mandatory;
  r.reason = reason;
  r.created_at_ms = created_at_ms;
  r.state = ReviewState::kOpen;
  return r;
}

std::string ReviewDedupeKey(ReviewKind kind, const std::string& tenant,
                            const std::string& interaction_id, const std::string& agent_id,
                            const std::string& reason) {
  const std::string name = absl::AsciiStrToLower(ReviewKindName(kind));
  if (reason.empty()) return DedupeKey(name, {tenant, interaction_id, agent_id});
  return DedupeKey(name, {tenant, interaction_id, agent_id, reason});
}

absl::StatusOr<ReviewTaskSpec> ReviewForPolicyObligation(const PolicyReviewObligation& o) {
  if (absl::Status s = RequireFields("obligation.", {{"tenant", &o.tenant},
                                                     {"decision_id", &o.decision_id},
                                                     {"interaction_id", &o.interaction_id},
                                                     {"agent_id", &o.agent_id},
                                                     {"reason", &o.reason}});
      !s.ok()) {
    return s;
  }
  const std::string reason = absl::AsciiStrToLower(o.reason);
  ReviewKind kind = ReviewKind::kPolicy;
  if (reason == "agent_disconnect" || reason == "disconnect") {
    kind = ReviewKind::kDisconnect;
  } else if (reason == "escalation") {
    kind = ReviewKind::kEscalation;
  } else if (reason == "low_csat") {
    kind = ReviewKind::kLowCsat;
  }
  ReviewTaskSpec spec =
      Base(kind, o.tenant, o.interaction_id, o.agent_id, o.team, o.queue, o.decision_id, o.time_ms);
  spec.reason = o.reason;
  spec.mandatory =
      o.mandatory || kind == ReviewKind::kDisconnect || kind == ReviewKind::kEscalation;
  if (kind == ReviewKind::kPolicy) {
    spec.dedupe_key = ReviewDedupeKey(kind, o.tenant, o.interaction_id, o.agent_id, reason);
  }
  return spec;
}

absl::StatusOr<ReviewTaskSpec> ReviewForEscalation(const EscalationEvent& e) {
  if (absl::Status s = RequireFields("escalation.", {{"tenant", &e.tenant},
                                                     {"event_id", &e.event_id},
                                                     {"interaction_id", &e.interaction_id},
                                                     {"agent_id", &e.agent_id}});
      !s.ok()) {
    return s;
  }
  ReviewTaskSpec spec = Base(ReviewKind::kEscalation, e.tenant, e.interaction_id, e.agent_id,
                             e.team, e.queue, e.event_id, e.time_ms);
  spec.reason = e.reason.empty() ? "escalation" : absl::StrCat("escalation: ", e.reason);
  spec.mandatory = true;
  return spec;
}

absl::StatusOr<FeedbackOutcome> ReviewForFeedback(const Feedback& f,
                                                  const FeedbackSettings& settings) {
  if (absl::Status s = ValidateFeedback(f); !s.ok()) return s;
  FeedbackOutcome out;
  out.classification = ClassifyFeedback(f, settings);
  if (!out.classification.create_review) return out;
  ReviewTaskSpec spec = Base(ReviewKind::kLowCsat, f.tenant, f.interaction_id, f.agent_id, f.team,
                             f.queue, f.feedback_id, f.received_at_ms);
  spec.reason = absl::StrCat("csat ", f.csat, ": ", FeedbackCauseName(out.classification.cause),
                             " (", out.classification.explanation, ")");
  out.review = std::move(spec);
  return out;
}

absl::StatusOr<ReviewTaskSpec> ReviewForManualFlag(const ManualFlag& flag,
                                                   const Principal& principal) {
  if (absl::Status s = RequireFields("flag.", {{"tenant", &flag.tenant},
                                               {"flag_id", &flag.flag_id},
                                               {"interaction_id", &flag.interaction_id},
                                               {"agent_id", &flag.agent_id}});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CanFlag(Owner{flag.tenant, flag.agent_id, flag.team}, principal); !s.ok()) {
    return s;
  }
  if (flag.note.size() > kMaxFlagNoteLength) {
    return InvalidArgument(
        "TEXT_TOO_LONG",
        absl::StrCat("flag.note: ", flag.note.size(), " bytes (at most ", kMaxFlagNoteLength, ")"));
  }
  ReviewTaskSpec spec = Base(ReviewKind::kManual, flag.tenant, flag.interaction_id, flag.agent_id,
                             flag.team, flag.queue, flag.flag_id, flag.time_ms);
  spec.requested_by = principal.subject;
  const std::string who = principal.subject == flag.agent_id
                              ? "the agent"
                              : absl::StrCat(RoleName(principal.role), " ", principal.subject);
  spec.reason = flag.note.empty() ? absl::StrCat("flagged by ", who)
                                  : absl::StrCat("flagged by ", who, ": ", flag.note);
  return spec;
}

double SampleRank(const SampleCandidate& c, uint64_t seed) {
  const std::string week = IsoWeekOf(c.ended_at_ms).ToString();
  return UnitInterval(MixHash(seed, {c.tenant, c.agent_id, week, c.interaction_id}));
}

absl::StatusOr<std::vector<ReviewTaskSpec>> SelectWeeklySample(
    const std::vector<SampleCandidate>& candidates,
    const std::function<SamplePolicy(const std::string&, const std::string&)>& policy_for,
    int64_t now_ms) {
  struct Ranked {
    double rank;
    const SampleCandidate* candidate;
  };
  struct Group {
    SamplePolicy policy;
    std::string week;
    std::map<std::string, Ranked> by_interaction;  // dedupes repeated interaction ids
  };
  // (tenant, agent, week, scope) -> group; ordered, so the output order is stable.
  std::map<std::tuple<std::string, std::string, std::string, std::string>, Group> groups;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const SampleCandidate& c = candidates[i];
    if (absl::Status s = RequireFields(absl::StrCat("candidates[", i, "]."),
                                       {{"tenant", &c.tenant},
                                        {"agent_id", &c.agent_id},
                                        {"interaction_id", &c.interaction_id}});
        !s.ok()) {
      return s;
    }
    SamplePolicy policy = policy_for(c.tenant, c.queue);
    if (policy.per_agent_per_week < 0 || policy.per_agent_per_week > 1000 ||
        !(policy.rate >= 0 && policy.rate <= 1) || policy.max_per_agent_per_week < 0) {
      return InvalidArgument(
          "INVALID_SAMPLE_POLICY",
          absl::StrCat("the policy for tenant '", c.tenant, "' queue '", c.queue,
                       "' is out of range (per_agent_per_week 0..1000, rate 0..1, "
                       "max_per_agent_per_week >= 0)"));
    }
    const std::string week = IsoWeekOf(c.ended_at_ms).ToString();
    Group& g = groups[{c.tenant, c.agent_id, week, policy.scope}];
    g.week = week;
    g.policy = policy;
    g.by_interaction.emplace(c.interaction_id, Ranked{SampleRank(c, policy.seed), &c});
  }
  std::vector<ReviewTaskSpec> out;
  for (auto& [key, g] : groups) {
    std::vector<Ranked> ranked;
    for (const auto& [id, r] : g.by_interaction) ranked.push_back(r);
    std::sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
      if (a.rank != b.rank) return a.rank < b.rank;
      return a.candidate->interaction_id < b.candidate->interaction_id;
    });
    size_t take = 0;
    std::string how;
    if (g.policy.mode == SamplePolicy::Mode::kCount) {
      take = std::min<size_t>(ranked.size(), g.policy.per_agent_per_week);
      how = absl::StrCat(g.policy.per_agent_per_week, " per agent");
    } else {
      while (take < ranked.size() && ranked[take].rank < g.policy.rate) ++take;
      if (g.policy.max_per_agent_per_week > 0) {
        take = std::min<size_t>(take, g.policy.max_per_agent_per_week);
      }
      how = absl::StrFormat("rate %g", g.policy.rate);
      if (g.policy.max_per_agent_per_week > 0) {
        absl::StrAppend(&how, ", at most ", g.policy.max_per_agent_per_week);
      }
    }
    for (size_t i = 0; i < take; ++i) {
      const SampleCandidate& c = *ranked[i].candidate;
      ReviewTaskSpec spec =
          Base(ReviewKind::kSample, c.tenant, c.interaction_id, c.agent_id, c.team, c.queue,
               DedupeKey("sample", {c.tenant, c.agent_id, g.week, g.policy.scope}), now_ms);
      spec.reason =
          absl::StrCat("weekly sample ", g.week, " (", how,
                       g.policy.scope.empty() ? "" : absl::StrCat(", queue ", g.policy.scope), ")");
      out.push_back(std::move(spec));
    }
  }
  return out;
}

}  // namespace sb::recording::qa
