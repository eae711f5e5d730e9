// RoutingApp: sb-routing's process: flags, logging, the RoutingService, the gRPC server (with
// health and optional reflection), the /metrics endpoint, and signal-driven graceful shutdown.
#pragma once

namespace sb::routing {

// Parses argv, runs until SIGTERM/SIGINT, returns the process exit code.
int RunRoutingApp(int argc, char** argv);

}  // namespace sb::routing
