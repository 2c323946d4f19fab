#!/usr/bin/env bash
# Tests scripts/with-postgres.sh: the command gets a working DATABASE_URL, its
# exit status comes back, and whether it succeeds, fails or the wrapper is
# signalled, the cluster is stopped, no process of it is left and its
# directory is gone.
set -euo pipefail
cd "$(dirname "$0")/.."

wrapper=scripts/with-postgres.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

fail() { printf 'FAIL: %s\n' "$*" >&2; failures=$((failures + 1)); }
pass() { printf 'ok: %s\n' "$*"; }

# The command records the cluster's directory and postmaster pid here.
record='printf "%s\n%s\n" "$PGDATA" "$(head -n 1 "$PGDATA/postmaster.pid")" >"'$work'/cluster"'

# After a run: the data directory is gone and its postmaster (and every
# process started with that data directory) has exited.
assert_gone() {
  local what=$1 data pid
  data=$(sed -n 1p "$work/cluster")
  pid=$(sed -n 2p "$work/cluster")
  [ -n "$data" ] && [ -n "$pid" ] || { fail "$what: the command did not record its cluster"; return; }
  if kill -0 "$pid" 2>/dev/null && grep -qa postgres "/proc/$pid/cmdline" 2>/dev/null; then
    fail "$what: postmaster $pid still running"
  fi
  if ps -eo args= | grep -F -- "$data" | grep -v grep >/dev/null; then
    fail "$what: a process of $data is still running"
  fi
  if [ -e "$(dirname "$data")" ]; then fail "$what: $(dirname "$data") was not removed"; fi
}

# 1. Success: a query through DATABASE_URL works, status 0.
rm -f "$work/cluster"
if out=$("$wrapper" bash -c "$record; psql \"\$DATABASE_URL\" -Atc 'select 40 + 2'" 2>/dev/null); then
  [ "$out" = 42 ] && pass "a query through DATABASE_URL" || fail "query answered ${out@Q}"
else
  fail "a succeeding command returned $?"
fi
assert_gone "after success"

# 2. A failing command: its status comes back, the cluster is gone.
rm -f "$work/cluster"
set +e
"$wrapper" bash -c "$record; exit 7" 2>/dev/null
status=$?
set -e
[ "$status" = 7 ] && pass "a failing command's status (7) is returned" || fail "status $status, not 7"
assert_gone "after failure"

# 3. A command that leaves a connection open and fails still gets a clean stop.
rm -f "$work/cluster"
set +e
"$wrapper" bash -c "$record; psql -Atc 'select pg_sleep(60)' >/dev/null 2>&1 & sleep 1; exit 1" 2>/dev/null
status=$?
set -e
[ "$status" = 1 ] && pass "an open connection does not hold up the stop" || fail "status $status, not 1"
assert_gone "after an open connection"

# 4. SIGTERM (and SIGINT) to the wrapper while the command runs: the command
#    is stopped, the cluster too, status 128 + signal.
#    (Job control on, as in a terminal: a background job of a script would
#    otherwise start with SIGINT ignored.) The command's own child, a sleep
#    with a marker argument, must be gone too.
marker=$((RANDOM * 32768 + RANDOM))
for signal in TERM INT; do
  rm -f "$work/cluster"
  set -m
  "$wrapper" bash -c "$record; sleep 6$marker; true" 2>/dev/null &
  wrapper_pid=$!
  set +m
  for _ in $(seq 200); do [ -s "$work/cluster" ] && break; sleep 0.1; done
  kill -"$signal" "$wrapper_pid"
  set +e
  wait "$wrapper_pid"
  status=$?
  set -e
  want=$((128 + $(kill -l "$signal")))
  [ "$status" = "$want" ] && pass "SIG$signal: status $want" || fail "SIG$signal: status $status, not $want"
  assert_gone "after SIG$signal"
  sleep 0.5
  if ps -eo args= | grep -x "sleep 6$marker" >/dev/null; then
    fail "SIG$signal: the command's child (sleep 6$marker) is still running"
  fi
done

if [ "$failures" -gt 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "with-postgres.sh: all checks passed"
