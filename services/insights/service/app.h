// sb-insights' main: flags, the interval store, the ingest (sb.routing.events.v1), gRPC
// (InsightsService), the dashboard's HTTP server, /metrics, housekeeping (gauges, retention) and
// shutdown.
#pragma once

namespace sb::insights::service {

int RunInsightsApp(int argc, char** argv);

}  // namespace sb::insights::service
