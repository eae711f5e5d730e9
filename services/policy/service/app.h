// sb-policy's main: flags, the bundle store and its reloader, Kafka, gRPC, /metrics, shutdown.
#pragma once

namespace sb::policy {

int RunPolicyApp(int argc, char** argv);

}  // namespace sb::policy
