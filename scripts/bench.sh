#!/usr/bin/env bash
# `make bench`: the performance budgets recorded in docs/performance.md.
#  - import: 100,000 CSV rows in-process against Python's phonenumbers
#  - dispatch pacing, webhook server time, Scheduler requests per retry, the
#    sweep's requests over 100,000 leads (MiniStack)
#  - cold start: every function binary against a hello-world lambda_runtime
#    binary, all built by `cargo lambda build --release` (as `sam build` does),
#    each started with the environment infra/template.yaml gives it
#  - the server time of a tool call (in process)
#  - messaging: the webhook's server time (in process), a burst of 1,000 SMS
#    through the simulated Twilio at the sender's rate (the 1 read, 1 claim,
#    1 request, 1 write of a message job are counted by a core test)
# The request-count budgets (ceil(n/25) BatchWriteItem calls) are asserted by
# the integration tests of `make test`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tools="${LEADLINE_TOOLS_DIR:-$root/.tools}"
scripts/local-stack.sh tools
export PATH="$tools/sam/bin:$PATH"

printf '\n\033[1m### import: 100,000 rows, Rust against Python phonenumbers\033[0m\n'
LEADLINE_BENCH_PYTHON="$tools/bench/bin/python" cargo bench --locked -p leadline-core --bench import

printf '\n\033[1m### cold start: init to the first Runtime API poll, first and warm request\033[0m\n'
for bin in hello-lambda hello-sdk init-parts api voice-webhook calcom-webhook stripe-webhook messaging-webhook \
           call-dispatcher messenger call-retries reminders show-verification milestone-billing; do
  cargo lambda build --release --bin "$bin" >/dev/null 2>&1 || cargo lambda build --release --bin "$bin"
done
cargo bench --locked -p leadline-tests --bench coldstart

printf '\n\033[1m### dispatch pacing and the webhook server time\033[0m\n'
cargo bench --locked -p leadline-core --bench dispatch
cargo bench --locked -p leadline-service --bench webhook
cargo bench --locked -p leadline-service --bench tools

printf '\n\033[1m### messaging: the webhook server time, a burst of 1,000 SMS from one sender\033[0m\n'
cargo bench --locked -p leadline-service --bench messaging_webhook
cargo bench --locked -p leadline-service --bench messaging_burst

printf '\n\033[1m### item mapping: serde_dynamo against the JSON detour it replaced\033[0m\n'
cargo bench --locked -p leadline-aws --bench item

printf '\n\033[1m### retries: Scheduler requests per retried lead\033[0m\n'
cargo bench --locked -p leadline-core --bench retries

printf '\n\033[1m### the sweep: requests for 100,000 leads of which 100 are due (MiniStack)\033[0m\n'
scripts/local-stack.sh up
export AWS_ENDPOINT_URL="http://127.0.0.1:${LEADLINE_AWS_PORT:-4566}" AWS_ACCESS_KEY_ID=test \
  AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
cargo bench --locked -p leadline-tests --bench sweep
