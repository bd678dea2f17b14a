#!/usr/bin/env bash
# Install everything AI Ticket Creator needs on this machine; safe to run again (fast when done).
#
#   scripts/bootstrap.sh [--runtime-only]
#
# Poetry (with this workplace's index plugin when ../shared/tools/install-poetry exists), the
# Python 3.12 virtualenv from poetry.lock, the Debian packages in scripts/apt-packages.txt
# (--runtime-only skips the test-only ones), PostgreSQL + pgvector and Redis running, the
# offline model weights, and the docs and extension tooling (npm ci) unless --runtime-only.
set -euo pipefail
cd "$(dirname "$0")/.."

runtime_only=""
[[ "${1:-}" == "--runtime-only" ]] && runtime_only="--runtime-only"

log() { printf '[bootstrap +%ss] %s\n' "$SECONDS" "$*" >&2; }

if [[ -x ../shared/tools/install-poetry ]]; then
  ../shared/tools/install-poetry >/dev/null
elif ! command -v poetry >/dev/null 2>&1; then
  log "installing Poetry"
  python3 -m pip install --user --quiet 'poetry>=2.2,<3'
  export PATH="$HOME/.local/bin:$PATH"
fi

python_bin=""
if command -v pyenv >/dev/null 2>&1; then
  # .python-version names 3.12: any installed 3.12.x will do; install one only if none is.
  if ! python_bin=$(pyenv which python 2>/dev/null); then
    pyenv install "$(cat .python-version)"
    python_bin=$(pyenv which python)
  fi
else
  python_bin=$(command -v python3.12 || true)
fi
[[ -n "$python_bin" ]] || { log "Python 3.12 is required (pyenv install 3.12)"; exit 1; }

export POETRY_VIRTUALENVS_IN_PROJECT=true
poetry env use --quiet "$python_bin" >/dev/null
log "installing Python dependencies from poetry.lock"
poetry install --no-interaction --sync --quiet

scripts/install-system-packages.sh $runtime_only
scripts/ensure-services.sh
log "installing offline model weights"
poetry run ticketcreator models install >/dev/null

if [[ -z "$runtime_only" ]]; then
  log "installing docs tooling (npm ci)"
  npm ci --silent --no-audit --no-fund >/dev/null
  log "installing the Chrome extension's build and test tooling (npm ci in extension/)"
  (cd extension && npm ci --silent --no-audit --no-fund >/dev/null)
fi
log "ready"
