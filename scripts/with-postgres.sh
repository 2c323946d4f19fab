#!/usr/bin/env bash
# Runs a command next to a throwaway PostgreSQL cluster.
#
#   scripts/with-postgres.sh COMMAND [ARGS...]
#
# Creates a cluster in a fresh temporary directory (initdb, as the `postgres`
# OS user when run as root: PostgreSQL refuses to run as root), starts it on a
# free loopback port with its socket in that directory, creates the database
# `submit_guard`, and exports to the command:
#
#   DATABASE_URL  postgres://postgres@127.0.0.1:PORT/submit_guard
#   PGHOST PGPORT PGUSER PGDATABASE   the same, for psql
#   PGDATA        the cluster's data directory
#
# Authentication is `trust` and the cluster listens on 127.0.0.1 only;
# durability is off (fsync, synchronous_commit): the cluster is for tests and
# is never meant to survive a machine crash. Whatever the outcome (success,
# failure, Ctrl-C, SIGTERM, SIGHUP), the cluster is stopped, no process of it is
# left behind, and its directory is removed; the command's exit status is
# returned (128 + signal if the wrapper itself was signalled).
#
# PG_BINDIR overrides where initdb and pg_ctl are looked up (default: the
# newest /usr/lib/postgresql/*/bin); `scripts/setup.sh postgres` installs
# the Debian package when it is missing.
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

say() { printf '[with-postgres] %s\n' "$*" >&2; }

bindir=${PG_BINDIR:-}
if [ -z "$bindir" ]; then
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pg_ctl" ]; then
  say "PostgreSQL's initdb and pg_ctl were not found (looked in ${bindir:-/usr/lib/postgresql/*/bin});"
  say "install them with: scripts/setup.sh postgres"
  exit 2
fi

# PostgreSQL refuses to run as root: as root, run it as `postgres`.
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || { say "running as root, but there is no postgres OS user"; exit 2; }
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/sg-pg.XXXXXX")
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
data=$dir/data
child=
started=

cleanup() {
  local status=$? pid=
  trap - EXIT INT TERM HUP
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    # The command runs in its own process group: stop all of it.
    kill -TERM -- "-$child" 2>/dev/null || kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  # The postmaster's pid is the first line of postmaster.pid while it runs.
  [ -f "$data/postmaster.pid" ] && pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
  if [ -n "$started" ]; then
    # Immediate: the tests' data is thrown away anyway, and a fast stop
    # would wait for the command's leftover connections.
    as_pg "$bindir/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  # pg_ctl returns when postmaster.pid is gone, a moment before the process
  # exits; wait for it, and whatever pg_ctl did, leave no process behind.
  if [ -n "$pid" ]; then
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      say "the postmaster ($pid) did not stop; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  rm -rf "$dir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

as_pg "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
  >"$dir/initdb.log" 2>&1 || { say "initdb failed:"; cat "$dir/initdb.log" >&2; exit 1; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

port=
for _ in $(seq 20); do
  candidate=$((20000 + RANDOM % 40000))
  port_in_use "$candidate" && continue
  # A failed start (someone took the port meanwhile) leaves no process.
  if as_pg "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
    -o "-p $candidate -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null 2>&1; then
    port=$candidate
    started=1
    break
  fi
done
[ -n "$port" ] || { say "PostgreSQL did not start; its log:"; cat "$dir/server.log" >&2 || true; exit 1; }

as_pg "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres submit_guard \
  || { say "createdb failed"; exit 1; }

export DATABASE_URL="postgres://postgres@127.0.0.1:$port/submit_guard"
export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=submit_guard PGDATA=$data
say "PostgreSQL $("$bindir/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port ($data)"

# In the background so that a signal to this script is handled at once (a
# foreground child would delay the trap until it ends), in a process group
# of its own (job control on) so that cleanup stops all of it; stdin is kept.
set -m
"$@" <&0 &
child=$!
set +m
set +e
wait "$child"
status=$?
set -e
child=
exit "$status"
