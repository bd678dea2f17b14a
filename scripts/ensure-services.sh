#!/usr/bin/env bash
# Make sure the local services the project needs are up, and the databases exist with pgvector.
#
#   scripts/ensure-services.sh [DB ...]
#
# - PostgreSQL on 127.0.0.1:5432 (started with pg_ctlcluster if it is down),
# - Redis on 127.0.0.1:6379 (started with redis-server if it is down),
# - the databases DB ... (default: $TC_ENSURE_DATABASES, else "ticketcreator ticketcreator_test"),
#   owned by postgres, each with `CREATE EXTENSION IF NOT EXISTS vector`.
#
# When `CREATE EXTENSION vector` fails, pgvector is built from Debian's own source package:
# the archive is taken from this system's apt sources (a deb-src twin of each `deb` entry, in a
# file of its own that is removed afterwards); when the system's release has no pgvector source,
# the next Debian releases (from distro-info-data) on the same archive are tried. The source is
# built against postgresql-server-dev-<server major> in a temporary directory and installed.
#
# Idempotent; when everything is already fine it only runs a few quick checks (well under 1 s).
# Environment: PGHOST_ADDR (127.0.0.1), PGPORT (5432), PG_SUPERUSER (postgres),
#              REDIS_HOST (127.0.0.1), REDIS_PORT (6379), TC_ENSURE_DATABASES.
set -euo pipefail

PG_HOST="${PGHOST_ADDR:-127.0.0.1}"
PG_PORT="${PGPORT:-5432}"
PG_USER="${PG_SUPERUSER:-postgres}"
REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
REDIS_PORT="${REDIS_PORT:-6379}"
APT_ETC="${APT_ETC:-/etc/apt}"  # overridable for tests of the sources parsing only
SRC_LIST="$APT_ETC/sources.list.d/ticketcreator-pgvector-src.list"
LOCK_FILE="${TMPDIR:-/tmp}/ticketcreator-ensure-services.lock"

if [[ $# -gt 0 ]]; then
  DATABASES=("$@")
else
  read -r -a DATABASES <<<"${TC_ENSURE_DATABASES:-ticketcreator ticketcreator_test}"
fi

log() { printf '[ensure-services +%ss] %s\n' "$SECONDS" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root (or sudo) for: $*"
  fi
}

psql_su() { psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$@"; }

wait_for() {  # wait_for SECONDS DESCRIPTION CMD...
  local seconds=$1 what=$2; shift 2
  local i
  for ((i = 0; i < seconds * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  die "$what did not come up within ${seconds}s"
}

# ---------------------------------------------------------------------------------- PostgreSQL
ensure_postgres() {
  if pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; then return 0; fi
  if [[ ! -d /etc/postgresql ]] || [[ -z $(ls -A /etc/postgresql) ]]; then
    log "PostgreSQL is not installed; installing Debian's postgresql"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      postgresql postgresql-contrib
  fi
  local ver
  ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  log "PostgreSQL $ver is down; starting cluster $ver/main"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start
  wait_for 30 "PostgreSQL on $PG_HOST:$PG_PORT" pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
}

# --------------------------------------------------------------------------------------- Redis
ensure_redis() {
  if [[ $(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; then return 0; fi
  command -v redis-server >/dev/null 2>&1 || {
    log "Redis is not installed; installing Debian's redis-server"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server
  }
  log "Redis is down; starting redis-server on $REDIS_HOST:$REDIS_PORT"
  redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "${TMPDIR:-/tmp}"
  redis_ping() { [[ $(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }
  wait_for 15 "Redis on $REDIS_HOST:$REDIS_PORT" redis_ping
}

# ------------------------------------------------------------------------- pgvector from source
# Print one `deb-src` line per (URI, suite) of every enabled `deb` entry of the system's apt
# sources (deb822 *.sources and one-line *.list / sources.list). Arguments, if any, replace the
# suites (used for newer releases; then only the entries that carry the system's codename).
system_deb_src_lines() {
  local codename=$1; shift
  local -a files=()
  local f
  for f in "$APT_ETC/sources.list" "$APT_ETC"/sources.list.d/*.list "$APT_ETC"/sources.list.d/*.sources; do
    [[ -f $f && $f != "$SRC_LIST" ]] && files+=("$f")
  done
  [[ ${#files[@]} -gt 0 ]] || return 0
  awk -v codename="$codename" -v override="$*" '
    function emit(opts, uri, suites, comps,   n, s, i, j) {
      n = split(suites, s, /[ \t]+/)
      if (override != "") {
        found = 0
        for (i = 1; i <= n; i++) if (s[i] == codename) found = 1
        if (!found) return
        n = split(override, s, /[ \t]+/)
      }
      for (i = 1; i <= n; i++) {
        key = uri " " s[i]
        if (s[i] == "" || (key in seen)) continue
        seen[key] = 1
        print "deb-src " (opts != "" ? "[" opts "] " : "") uri " " s[i] " " comps
      }
    }
    function flush(   opts) {
      if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled !~ /^(no|false)$/ && uris != "") {
        opts = (signed != "" ? "signed-by=" signed : "")
        nu = split(uris, u, /[ \t]+/)
        for (k = 1; k <= nu; k++) if (u[k] != "") emit(opts, u[k], suites, comps)
      }
      types = uris = suites = comps = signed = enabled = ""
    }
    FNR == 1 { flush(); deb822 = (FILENAME ~ /\.sources$/) }
    deb822 {
      if ($0 ~ /^[ \t]*$/) { flush(); next }
      if ($0 ~ /^#/) next
      line = $0; sub(/^[^:]*:[ \t]*/, "", line); sub(/[ \t]+$/, "", line)
      field = tolower($0); sub(/:.*/, "", field)
      if (field == "types") types = line
      else if (field == "uris") uris = line
      else if (field == "suites") suites = line
      else if (field == "components") comps = line
      else if (field == "signed-by") signed = line
      else if (field == "enabled") enabled = tolower(line)
      next
    }
    /^[ \t]*deb[ \t]/ {
      sub(/#.*/, "")
      opts = ""
      if (match($0, /\[[^]]*\]/)) {
        opts = substr($0, RSTART + 1, RLENGTH - 2); gsub(/^[ \t]+|[ \t]+$/, "", opts)
        $0 = substr($0, 1, RSTART - 1) substr($0, RSTART + RLENGTH)
      }
      comps = ""
      for (i = 4; i <= NF; i++) comps = comps (comps == "" ? "" : " ") $i
      emit(opts, $2, $3, comps)
    }
    END { flush() }
  ' "${files[@]}"
}

# Debian releases after the system one that already exist (distro-info-data), oldest first.
newer_debian_suites() {
  local csv=/usr/share/distro-info/debian.csv version=$1
  if [[ -r $csv && -n $version ]]; then
    awk -F, -v v="$version" -v today="$(date +%F)" \
      'NR > 1 && $1 != "" && $1 + 0 > v + 0 && $4 <= today { print $3 }' "$csv"
  else
    echo stable testing
  fi
}

SRC_BEFORE=""
cleanup_sources() {
  if [[ -f $SRC_LIST ]]; then
    as_root rm -f "$SRC_LIST"
    # Drop the source indexes this run downloaded, so nothing of the deb-src entries stays behind.
    local f
    for f in /var/lib/apt/lists/*_source_Sources*; do
      [[ -e $f ]] || continue
      grep -qxF "$f" <<<"$SRC_BEFORE" || as_root rm -f "$f"
    done
  fi
}

build_pgvector() {
  local major=$1
  local pg_config=/usr/lib/postgresql/$major/bin/pg_config
  local started=$SECONDS
  # shellcheck disable=SC1091
  local codename version
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  version=$(. /etc/os-release && echo "${VERSION_ID:-}")
  [[ -n $codename ]] || die "cannot tell the Debian codename from /etc/os-release"

  log "pgvector is missing: building it from Debian's source package (PostgreSQL $major)"
  local -a need=()
  local p
  for p in "postgresql-server-dev-$major" dpkg-dev make gcc; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
  done

  SRC_BEFORE=$(ls -1 /var/lib/apt/lists/*_source_Sources* 2>/dev/null || true)
  trap cleanup_sources EXIT
  local lines
  lines=$(system_deb_src_lines "$codename")
  [[ -n $lines ]] || die "no 'deb' entries found in the system's apt sources"
  printf '# temporary, written by scripts/ensure-services.sh; removed when it ends\n%s\n' "$lines" |
    as_root tee "$SRC_LIST" >/dev/null
  log "apt-get update (with deb-src for the system's suites)"
  as_root apt-get update -qq || log "apt-get update reported errors; trying anyway"
  if [[ ${#need[@]} -gt 0 ]]; then
    log "installing build dependencies: ${need[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${need[@]}" >/dev/null
  fi
  [[ -x $pg_config ]] || die "$pg_config not found (postgresql-server-dev-$major)"

  local suite=""
  if apt-cache showsrc pgvector 2>/dev/null | grep -q '^Package: pgvector$'; then
    suite=$codename
  else
    local newer
    newer=$(newer_debian_suites "$version" | tr '\n' ' ')
    log "no pgvector source in $codename; adding deb-src for newer releases: $newer"
    # shellcheck disable=SC2086
    lines=$(system_deb_src_lines "$codename" $newer)
    [[ -n $lines ]] || die "no 'deb' entry for $codename to derive newer releases from"
    printf '%s\n' "$lines" | as_root tee -a "$SRC_LIST" >/dev/null
    as_root apt-get update -qq || log "apt-get update reported errors; trying anyway"
    local s
    for s in $newer; do
      if apt-cache showsrc "pgvector/$s" >/dev/null 2>&1 &&
        apt-get source --print-uris -qq "pgvector/$s" 2>/dev/null | grep -q '\.dsc'; then
        suite=$s
        break
      fi
    done
  fi
  [[ -n $suite ]] || die "no pgvector source package found in the system's apt archives"

  local work
  work=$(mktemp -d "${TMPDIR:-/tmp}/pgvector-build.XXXXXX")
  trap 'cleanup_sources; rm -rf "$work"' EXIT
  log "apt-get source pgvector/$suite (in $work)"
  (cd "$work" && apt-get source -qq "pgvector/$suite" >/dev/null 2>&1) ||
    (cd "$work" && apt-get source "pgvector/$suite")
  local srcdir
  srcdir=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n 1)
  [[ -n $srcdir ]] || die "apt-get source did not unpack pgvector"
  log "building $(basename "$srcdir") with $pg_config"
  # OPTFLAGS="" as in Debian's own build: portable code, no -march=native.
  make -s -C "$srcdir" PG_CONFIG="$pg_config" OPTFLAGS="" -j"$(nproc)" >/dev/null
  as_root make -s -C "$srcdir" PG_CONFIG="$pg_config" OPTFLAGS="" install >/dev/null
  cleanup_sources
  rm -rf "$work"
  trap - EXIT
  log "pgvector built and installed in $((SECONDS - started))s"
}

create_vector_extension() {  # create_vector_extension DB; fails when pgvector is missing
  psql_su -d "$1" -c 'CREATE EXTENSION IF NOT EXISTS vector' 2>/dev/null
}

# ------------------------------------------------------------------------------------ databases
ensure_databases() {
  local db exists
  for db in "${DATABASES[@]}"; do
    exists=$(psql_su -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '${db//\'/\'\'}'")
    if [[ $exists != 1 ]]; then
      log "creating database $db"
      psql_su -d postgres -c "CREATE DATABASE \"${db//\"/\"\"}\" OWNER \"${PG_USER//\"/\"\"}\""
    fi
    if ! create_vector_extension "$db"; then
      local major
      major=$(psql_su -d postgres -Atc 'SHOW server_version_num')
      major=$((major / 10000))
      (
        exec 9>"$LOCK_FILE"
        flock 9
        # Another run may have built it while we waited for the lock. (Not `a || b`: errexit
        # is off inside b there, and a failing build step must stop the script.)
        if ! create_vector_extension "$db"; then
          build_pgvector "$major"
        fi
      )
      create_vector_extension "$db" || psql_su -d "$db" -c 'CREATE EXTENSION IF NOT EXISTS vector' ||
        die "CREATE EXTENSION vector still fails in $db"
    fi
  done
}

if [[ ${BASH_SOURCE[0]} != "$0" ]]; then return 0; fi  # sourced (tests): functions only
ensure_postgres
ensure_redis
ensure_databases
log "ok: PostgreSQL $PG_HOST:$PG_PORT (databases: ${DATABASES[*]}; vector), Redis $REDIS_HOST:$REDIS_PORT"
