#include "agent_state/service/app.h"

int main(int argc, char** argv) { return sb::agent_state::RunAgentStateApp(argc, argv); }
