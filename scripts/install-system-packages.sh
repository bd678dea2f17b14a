#!/usr/bin/env bash
# Install the Debian packages listed in scripts/apt-packages.txt (only those missing).
#
#   scripts/install-system-packages.sh [--runtime-only] [--clean] [--list] [FILE]
#
# FILE (default: apt-packages.txt next to this script): one Debian package per line; `#` starts
# a comment; blank lines are ignored. A line that is exactly `# test-only` starts the test-only
# section: packages after it are needed by the tests and local development only.
#   --runtime-only  skip the test-only section (used by docker/Dockerfile for the runtime image)
#   --clean         remove apt's package lists afterwards (container images)
#   --list          only print the selected package names, one per line
#
# Fast on a warm machine: when every package is installed it runs no apt command at all, and
# `apt-get update` runs only when something has to be installed.
set -euo pipefail

runtime_only=0 clean=0 list_only=0 file=""
for arg in "$@"; do
  case $arg in
    --runtime-only) runtime_only=1 ;;
    --clean) clean=1 ;;
    --list) list_only=1 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "unknown option: $arg" >&2; exit 2 ;;
    *) file=$arg ;;
  esac
done
file=${file:-"$(dirname "$0")/apt-packages.txt"}
[[ -r $file ]] || { echo "install-system-packages: cannot read $file" >&2; exit 1; }

packages=()
section=runtime
while IFS= read -r line || [[ -n $line ]]; do
  if [[ $line =~ ^[[:space:]]*#[[:space:]]*test-only[[:space:]]*$ ]]; then
    section=test-only
    continue
  fi
  line=${line%%#*}
  read -r -a words <<<"$line"
  [[ ${#words[@]} -gt 0 ]] || continue
  [[ $runtime_only -eq 1 && $section == test-only ]] && continue
  packages+=("${words[@]}")
done <"$file"

if [[ $list_only -eq 1 ]]; then
  [[ ${#packages[@]} -eq 0 ]] || printf '%s\n' "${packages[@]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "system packages: all ${#packages[@]} installed"
  exit 0
fi

as_root=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi
echo "system packages: installing ${missing[*]}"
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
if [[ $clean -eq 1 ]]; then
  "${as_root[@]}" apt-get clean
  "${as_root[@]}" rm -rf /var/lib/apt/lists/*
fi
