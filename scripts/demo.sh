#!/usr/bin/env bash
# `make demo`: installs what it needs, starts MiniStack on loopback, builds the
# functions and deploys infra/template.yaml into it, runs the scenario against
# the deployed HTTP API and prints the report. `make down` stops MiniStack.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if ! command -v cargo >/dev/null; then
  echo "cargo is needed: install Rust (https://rustup.rs) and run make demo again" >&2
  exit 1
fi
scripts/local-stack.sh deploy
scripts/local-stack.sh sim
# shellcheck disable=SC1091
source .demo/stack.env
printf '\033[1m==> running the scenario\033[0m\n' >&2
cargo run --quiet --locked -p leadline-demo
cat <<MSG

The stack is still running: MiniStack on 127.0.0.1:${LEADLINE_AWS_PORT:-4566}, HTTP API at
  $LEADLINE_LOCAL_API
and the simulated Retell and Vapi at $LEADLINE_SIM_URL (/_sim/calls, /_sim/deliveries, /_sim/stats).
Admin key in .demo/admin-api-key. Stop it with: make down
MSG
