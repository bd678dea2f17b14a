#!/usr/bin/env bash
# Set up and run AI Ticket Creator locally: API, Celery worker and beat, on the local
# PostgreSQL and Redis. Ctrl-C stops all three.
#
#   scripts/run.sh            (TC_* environment variables override config/settings.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh --runtime-only
run() { poetry run ticketcreator "$@"; }

run migrate
run seed-demo

# Each program runs in its own process group (job control), so stopping the script stops
# everything the program started (poetry, uvicorn, celery and its pool processes), whether the
# script is stopped by Ctrl-C or by a signal sent to it alone (timeout, a process manager).
set -m
pids=()
stop() {
  trap - EXIT INT TERM HUP
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'stop; exit 129' HUP

run worker & pids+=($!)
run beat & pids+=($!)
run serve & pids+=($!)
echo "AI Ticket Creator is starting: API on http://${TC_API__HOST:-127.0.0.1}:${TC_API__PORT:-8000} (docs at /docs); Ctrl-C stops it." >&2
wait -n "${pids[@]}"
