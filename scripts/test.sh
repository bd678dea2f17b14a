#!/usr/bin/env bash
# Run the whole test suite on this machine (real PostgreSQL, Redis and a Celery worker).
#
#   scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
exec poetry run pytest "$@"
