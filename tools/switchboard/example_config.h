// The example routing config (tools/switchboard/examples/contact_center.yaml), compiled in: what
// `switchboard up` applies when no --config is given, wherever the binary runs from.
#pragma once

namespace sb::cli {

// The YAML text of examples/contact_center.yaml at build time.
extern const char* const kExampleConfigYaml;
// How errors and messages name it.
inline constexpr const char* kExampleConfigName = "examples/contact_center.yaml (built in)";

}  // namespace sb::cli
