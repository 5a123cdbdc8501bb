#!/usr/bin/env bash
# Fuzzes the filter API from its own OpenAPI document with schemathesis (from PyPI), for a
# bounded time: no answer may be a 5xx, and every answer must conform to the document (status
# code, content type, headers, body schema), so every 4xx is a well-formed problem document.
#
# Runs the binary the tests built (target/debug/openedx-pok; built here if missing) with the
# built-in POK simulator, a temporary SQLite database and a random shared secret, in a clean
# environment (a POK key of yours is never used). schemathesis 4.x is installed into
# target/fuzz-venv on first use.
#
#   FUZZ_SECONDS   time budget of the schemathesis run (default 90)
#   FUZZ_SEED      replay a run: the seed schemathesis printed
#
# Exits non-zero when schemathesis finds a failure or the service dies.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

venv="$root/target/fuzz-venv"
bin="$root/target/debug/openedx-pok"
seconds="${FUZZ_SECONDS:-90}"
log() { printf '[fuzz] %s\n' "$*"; }

if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1; then
  log "installing schemathesis into target/fuzz-venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi
# The CLI changed a lot between 3.x and 4.x; the flags below are 4.x's.
log "$("$venv/bin/schemathesis" --version)"
if [ ! -x "$bin" ]; then
  log "building openedx-pok"
  cargo build -p openedx-pok --all-features --quiet
fi

work=$(mktemp -d)
service_pid=""
cleanup() {
  if [ -n "$service_pid" ] && kill -0 "$service_pid" 2>/dev/null; then
    kill -TERM "$service_pid" 2>/dev/null || true
    wait "$service_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

secret="fuzz-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
# Port 0: the service picks a free port and logs it. POK_TEMPLATE_ID makes every course a POK
# course, so that valid requests go all the way to the database and the worker.
(
  cd "$work"
  exec env -i PATH="$PATH" \
    DATABASE_URL="sqlite://$work/fuzz.sqlite3" \
    OPENEDX_POK_SECRET="$secret" \
    OPENEDX_POK_LISTEN=127.0.0.1:0 \
    OPENEDX_POK_LOG_FORMAT=json \
    POK_TEMPLATE_ID=tpl-simple \
    "$bin" serve --simulator
) >"$work/service.log" 2>&1 &
service_pid=$!

url=""
for _ in $(seq 1 300); do
  if ! kill -0 "$service_pid" 2>/dev/null; then
    log "the service did not start:"
    cat "$work/service.log" >&2
    exit 1
  fi
  addr=$(grep -o '"message":"service listening","local":"[^"]*"' "$work/service.log" \
    | sed 's/.*"local":"\([^"]*\)"/\1/' | head -n1 || true)
  if [ -n "$addr" ] && curl -fsS "http://$addr/health" >/dev/null 2>&1; then
    url="http://$addr"
    break
  fi
  sleep 0.1
done
[ -n "$url" ] || { log "the service never answered /health"; cat "$work/service.log" >&2; exit 1; }
log "service at $url; fuzzing for ${seconds}s"

status=0
(
  cd "$work"
  "$venv/bin/schemathesis" run "$url/openapi.json" \
    --header "Authorization: Bearer $secret" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-time "$seconds" \
    --request-timeout 10 \
    --generation-database none \
    --output-sanitize false \
    --no-color \
    ${FUZZ_SEED:+--seed "$FUZZ_SEED"}
) || status=$?

if ! kill -0 "$service_pid" 2>/dev/null || ! curl -fsS "$url/health" >/dev/null 2>&1; then
  log "the service died during the run:"
  tail -n 50 "$work/service.log" >&2
  status=1
fi
if grep -q '"level":"ERROR"' "$work/service.log"; then
  log "the service logged errors during the run:"
  grep '"level":"ERROR"' "$work/service.log" | head -n 20 >&2
  status=1
fi
answers=$(grep '"finished processing request"' "$work/service.log" | grep -o '"status":[0-9]*' \
  | sort | uniq -c | awk '{printf " %s×%s", substr($2, 10), $1}' || true)
log "answers by status:${answers}"
# A document too loose to generate valid requests would leave everything past validation
# unfuzzed: at least some calls must have been accepted.
accepted=$(grep '"finished processing request"' "$work/service.log" | grep '"status":200' \
  | grep -c '"path":"/v1/filters/' || true)
if [ "${accepted:-0}" -eq 0 ]; then
  log "no filter call was accepted: the fuzzer never got past request validation"
  status=1
fi
if [ "$status" -ne 0 ]; then
  log "FAILED (exit $status)"
  exit "$status"
fi
log "passed"
