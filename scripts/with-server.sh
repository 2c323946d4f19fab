#!/usr/bin/env bash
# Runs a command next to a fresh reference server in test mode.
#
#   scripts/with-server.sh SERVER_BINARY [SERVER_FLAGS...] -- COMMAND [ARGS...]
#
# The server binds a free loopback port (127.0.0.1:0); its URL is exported to
# the command as SUBMIT_GUARD_SERVER. The server is stopped when the command
# ends, whatever its outcome, and the command's exit status is returned.
set -euo pipefail

server=$1
shift
flags=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  flags+=("$1")
  shift
done
[ "${1:-}" = "--" ] || { echo "usage: $0 SERVER_BINARY [FLAGS...] -- COMMAND..." >&2; exit 2; }
shift

out=$(mktemp)
log=${SERVER_LOG:-$(mktemp)}
"$server" --addr 127.0.0.1:0 "${flags[@]}" >"$out" 2>"$log" &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$out"
}
trap cleanup EXIT INT TERM

url=
for _ in $(seq 200); do
  url=$(sed -n 's/^listening on //p' "$out")
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "the server exited; its log:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.05
done
[ -n "$url" ] || { echo "the server did not report its address; its log:" >&2; cat "$log" >&2; exit 1; }

export SUBMIT_GUARD_SERVER=$url
"$@"
