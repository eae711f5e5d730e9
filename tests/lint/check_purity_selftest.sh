#!/usr/bin/env bash
# The purity checker must reject each kind of violation (and accept clean code).
set -euo pipefail
python="$1"; checker="$2"
dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/services/routing/engine" "$dir/services/common/expr"
echo 'int Clean() { return 1; }' > "$dir/services/routing/engine/clean.cc"
"$python" "$checker" "$dir" >/dev/null || { echo "clean code was rejected"; exit 1; }
for bad in '#include <grpcpp/grpcpp.h>' '#include <librdkafka/rdkafka.h>' '#include <prometheus/counter.h>' \
           '#include <pqxx/pqxx>' '#include <thread>' '#include <chrono>' 'auto t = std::chrono::steady_clock::now();' \
           'long t = time(nullptr);' 'std::thread worker;'; do
  echo "$bad" > "$dir/services/routing/engine/bad.cc"
  if "$python" "$checker" "$dir" >/dev/null 2>&1; then echo "not caught: $bad"; exit 1; fi
done
echo "check_purity self-test: all violations caught"
