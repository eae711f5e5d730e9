// The built-in QA defaults: deploy/recording/forms/default.yaml and deploy/recording/qa.yaml,
// compiled in so that the embedded mode and tests run without the files. The service uses them
// when no form or QA configuration is mounted.
#pragma once

#include "recording/core/form.h"
#include "recording/core/qa_config.h"

namespace sb::recording::qa {

// The source texts.
const char* DefaultFormYaml();
const char* DefaultQaConfigYaml();

// Parsed once; a broken shipped file is a build defect and crashes with the parse error.
const Form& DefaultForm();
const QaConfig& DefaultQaConfig();

}  // namespace sb::recording::qa
