// Shared fixtures of the QA core tests.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "recording/core/form.h"

namespace sb::recording::qa::testing {

// A small form: two sections, every question type, a critical question, N/A allowed somewhere.
//   main (weight 3): greet yes_no w1; solve scale 0..4 w3 (critical); notes points 0..2 w1, n/a
//   extra (weight 1): hold yes_no w1 n/a; empathy scale 1..5 w1
inline const char* kSmallFormYaml = R"(form_id: small
version: 2
title: Small form
sections:
  - id: main
    title: Main
    weight: 3
    questions:
      - {id: greet, text: Greeted, type: yes_no}
      - {id: solve, text: Solved, type: scale, max: 4, weight: 3, critical: true}
      - {id: notes, text: Notes, type: points, max: 2, na_allowed: true}
  - id: extra
    title: Extra
    weight: 1
    questions:
      - {id: hold, text: Hold etiquette, type: yes_no, na_allowed: true}
      - {id: empathy, text: Empathy, type: scale, min: 1, max: 5}
)";

// The content of a file ("" if it cannot be read, which the caller's parse then reports).
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline Form SmallForm() {
  auto f = ParseForm(kSmallFormYaml, "small.yaml");
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? *f : Form{};
}

}  // namespace sb::recording::qa::testing
