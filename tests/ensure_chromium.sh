#!/usr/bin/env bash
# The browser tests open the report in Debian's Chromium. Install it when it is missing and this
# machine allows it (root, or password-less sudo, with apt-get); otherwise stop with the command to run.
set -euo pipefail

command -v chromium >/dev/null 2>&1 && exit 0

if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    as_root=(none)
  fi
  if [ "${as_root[0]:-}" != none ]; then
    echo "installing Debian's chromium for the browser tests (once)"
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
    command -v chromium >/dev/null 2>&1 && exit 0
  fi
fi

echo "error: the browser tests need Chromium, and it could not be installed from here." >&2
echo "  Run:  sudo apt-get install chromium   (Debian/Ubuntu), then make test again." >&2
exit 1
