#include "routing/engine/engine.h"
#include <gtest/gtest.h>
TEST(Placeholder, Builds) {}
