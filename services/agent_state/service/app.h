// sb-agent-state's main: flags, the projection feed, the desktop and supervisor services.
#pragma once

namespace sb::agent_state {

int RunAgentStateApp(int argc, char** argv);

}  // namespace sb::agent_state
