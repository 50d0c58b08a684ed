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
# The demo clock: leadline's functions (and the simulated providers) run an
# hour of their time every 5 s, from Monday 09:00 in New York, so that a day
# of retries and callbacks plays out in a few minutes.
export LEADLINE_CLOCK_SCALE="${LEADLINE_CLOCK_SCALE:-720}"
# Simulated calls last a hundredth of their scripted length (a 3-minute call
# takes 1.8 s, half an hour of demo time), well inside the hour after which a
# call without an end counts as stuck.
export LEADLINE_SIM_TIME_SCALE="${LEADLINE_SIM_TIME_SCALE:-0.01}"
LEADLINE_CLOCK_VIRTUAL_ORIGIN="$(python3 -c '
import datetime as d, zoneinfo as z
ny = z.ZoneInfo("America/New_York")
now = d.datetime.now(ny)
monday = (now + d.timedelta(days=7 - now.weekday())).replace(hour=9, minute=0, second=0, microsecond=0)
print(monday.astimezone(d.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))')"
export LEADLINE_CLOCK_VIRTUAL_ORIGIN
# A clean local AWS: calls that earlier test runs left in flight would hold
# the provider accounts' slots until a sweep (a fresh machine has none).
scripts/local-stack.sh down >/dev/null 2>&1 || true
scripts/local-stack.sh deploy
scripts/local-stack.sh sim
# shellcheck disable=SC1091
source .demo/stack.env
python3 - <<'PY'
import datetime as d, os, time
origin = d.datetime.fromisoformat(os.environ["LEADLINE_CLOCK_REAL_ORIGIN"].replace("Z", "+00:00"))
time.sleep(max(0.0, (origin - d.datetime.now(d.timezone.utc)).total_seconds()))
PY
printf '\033[1m==> running the scenario\033[0m\n' >&2
cargo run --quiet --locked -p leadline-demo
cat <<MSG

The stack is still running: MiniStack on 127.0.0.1:${LEADLINE_AWS_PORT:-4566}, HTTP API at
  $LEADLINE_LOCAL_API
and the simulated Retell and Vapi at $LEADLINE_SIM_URL (/_sim/calls, /_sim/deliveries, /_sim/stats).
Admin key in .demo/admin-api-key. Stop it with: make down
MSG
