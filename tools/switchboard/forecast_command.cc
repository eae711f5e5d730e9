// switchboard forecast: the staffing forecast of one queue for one day, from sb-insights'
// interval history (InsightsService.GetForecast; the method is in docs/insights.md "Forecast").
// Prints the table: per 15-minute interval the expected arrivals, AHT, load, and the agents
// needed by Erlang C and by Erlang A (with abandonment) for the service-level target.
//
// Exit status: 0 printed; 1 the service refused (bad option, unknown queue: error: CODE: reason);
// 2 bad usage or nothing answered.

#include <iostream>
#include <memory>
#include <string>

#include "fmt/format.h"
#include "grpcpp/grpcpp.h"
#include "switchboard/commands.h"
#include "switchboard/insights/v1/insights.grpc.pb.h"
#include "switchboard/render.h"
#include "switchboard/rpc.h"

namespace sb::cli {
namespace {

namespace iv1 = ::switchboard::insights::v1;

struct ForecastFlags {
  OneServer target{"sb-insights", "127.0.0.1:7110", "127.0.0.1:7110"};
  std::string tenant = "demo";
  std::string queue;
  std::string day;
  std::string seasonality = "weekly";
  int periods = 4;
  std::string weighting = "equal";
  double alpha = 0.5;
  double sl_target = 0;
  double sl_threshold_s = 0;
  double max_occupancy = 0;
  double max_abandon = 0;
  double patience_s = 0;
  std::string output = "text";
};

int RunForecast(const ForecastFlags& flags) {
  if (!CheckOneServer(flags.target, std::cerr)) return kExitUsage;
  iv1::GetForecastRequest request;
  request.set_tenant_id(flags.tenant);
  request.set_queue_id(flags.queue);
  request.set_day(flags.day);
  request.set_seasonality(flags.seasonality);
  request.set_periods(flags.periods);
  request.set_weighting(flags.weighting);
  request.set_alpha(flags.alpha);
  request.set_sl_target(flags.sl_target);
  request.set_sl_threshold_ms(static_cast<int64_t>(flags.sl_threshold_s * 1000));
  request.set_max_occupancy(flags.max_occupancy);
  request.set_max_abandon(flags.max_abandon);
  request.set_patience_ms(static_cast<int64_t>(flags.patience_s * 1000));

  iv1::Forecast forecast;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, flags.target);
  const grpc::Status status = iv1::InsightsService::NewStub(OneServerChannel(flags.target))
                                  ->GetForecast(&ctx, request, &forecast);
  if (!status.ok()) {
    PrintOneServerError(status, flags.target, std::cerr);
    return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                   status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
               ? kExitUsage
               : kExitFailure;
  }
  if (flags.output == "json") {
    std::cout << ToJson(forecast) << "\n";
    return kExitOk;
  }
  std::cout << forecast.table();
  if (!forecast.table().empty() && forecast.table().back() != '\n') std::cout << "\n";
  bool any_history = false;
  for (const iv1::ForecastRow& row : forecast.rows()) any_history |= row.observations() > 0;
  if (!any_history) {
    std::cerr << fmt::format(
        "note: no interval history of queue {} on the days this forecast looks at; sb-insights "
        "stores a 15-minute interval once it has closed (try --seasonality daily, or wait for "
        "history)\n",
        flags.queue);
  }
  return kExitOk;
}

}  // namespace

void AddForecastCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ForecastFlags>();
  CLI::App* cmd = app.add_subcommand(
      "forecast",
      "Staffing forecast of one queue for one day from sb-insights' interval history: expected "
      "arrivals and handle time per 15 minutes, and the agents needed for the service-level "
      "target by Erlang C and by Erlang A (with abandonment, patience estimated from history).");
  AddOneServerFlags(cmd, &flags->target, "SWITCHBOARD_INSIGHTS_SERVER");
  cmd->add_option("--tenant,-t", flags->tenant, "Tenant")
      ->envname("SWITCHBOARD_TENANT")
      ->capture_default_str();
  cmd->add_option("--queue,-q", flags->queue, "Queue id")->required();
  cmd->add_option("--day,-d", flags->day,
                  "The day to forecast, YYYY-MM-DD (UTC); default tomorrow");
  cmd->add_option("--seasonality", flags->seasonality,
                  "weekly: the same weekday of past weeks; daily: past days")
      ->check(CLI::IsMember({"weekly", "daily"}))
      ->capture_default_str();
  cmd->add_option("--periods", flags->periods, "How many past weeks (or days) to average")
      ->check(CLI::Range(1, 366))
      ->capture_default_str();
  cmd->add_option("--weighting", flags->weighting,
                  "equal, or exponential (recent periods weigh more, see --alpha)")
      ->check(CLI::IsMember({"equal", "exponential"}))
      ->capture_default_str();
  cmd->add_option("--alpha", flags->alpha, "Exponential weighting: weight of the latest period")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--sl-target", flags->sl_target,
                  "Service-level target, e.g. 0.8 (default: the queue's own, else 0.8)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--sl-threshold", flags->sl_threshold_s,
                  "Service-level threshold in seconds, e.g. 20 (default: the queue's own)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-occupancy", flags->max_occupancy,
                  "Cap on agent occupancy, e.g. 0.85 (default: none)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--max-abandon", flags->max_abandon,
                  "Erlang A: the most P(abandon) allowed, e.g. 0.05 (default: none)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--patience", flags->patience_s,
                  "Erlang A: mean caller patience in seconds (default: estimated from history)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--output,-o", flags->output, "text (a table) or json (the API response)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->footer(
      "Examples:\n"
      "  switchboard forecast --queue support\n"
      "  switchboard forecast --queue support --day 2026-12-01 --sl-target 0.9 --sl-threshold 15\n"
      "  switchboard forecast --queue sales --seasonality daily --periods 7 -o json\n"
      "Exit status: 0 printed; 1 the service refused (error: CODE: REASON: ...); 2 bad usage or "
      "sb-insights unreachable.");
  cmd->callback([flags, exit_code] { *exit_code = RunForecast(*flags); });
}

}  // namespace sb::cli
