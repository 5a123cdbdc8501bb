#!/usr/bin/env bash
# Runs the tests of the Open edX steps in their own virtual environment.
#
# Creates .venv beside this script (git-ignored) on first use, installs the package with its
# test extras (real openedx-filters and Django from PyPI) and runs pytest with the arguments
# given, e.g.:
#   ./run-tests.sh                # everything; the e2e tests need the service binary
#   ./run-tests.sh -m "not e2e"   # unit tests only
#   ./run-tests.sh -m e2e -x      # end-to-end tests only
# Environment: PYTHON (default python3) creates the venv; OPENEDX_POK_BIN names the service
# binary for the e2e tests (default <repo>/target/debug/openedx-pok).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"

if [[ ! -x "$venv/bin/python" ]]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$here[test]"

cd "$here"
exec "$venv/bin/python" -m pytest "$@"
