// sb-routing: the routing service (see README.md and docs/routing-service.md).
#include "routing/service/app.h"

int main(int argc, char** argv) { return sb::routing::RunRoutingApp(argc, argv); }
