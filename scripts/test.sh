#!/usr/bin/env bash
# Runs every test of the project: the Rust workspace on all three database backends (against
# the local PostgreSQL and MariaDB servers), then the Open edX package against the real binary.
# Installs what it needs first (scripts/setup.sh). Arguments are passed to cargo nextest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-features --no-fail-fast "$@"
else
  cargo test --workspace --all-features --no-fail-fast "$@"
fi
bash scripts/fuzz.sh # the OpenAPI document fuzzed by schemathesis against the binary built above

# The Open edX package's end-to-end tests start the binary built above.
if [ -x integrations/openedx/run-tests.sh ] || [ -f integrations/openedx/run-tests.sh ]; then
  cargo build -p openedx-pok --all-features --quiet
  bash integrations/openedx/run-tests.sh
fi
