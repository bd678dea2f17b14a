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

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

run worker & pids+=($!)
run beat & pids+=($!)
run serve & pids+=($!)
echo "AI Ticket Creator is starting: API on http://${TC_API__HOST:-127.0.0.1}:${TC_API__PORT:-8000} (docs at /docs); Ctrl-C stops it." >&2
wait -n "${pids[@]}"
