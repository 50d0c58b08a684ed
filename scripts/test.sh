#!/usr/bin/env bash
# `make test`: every check and test. Static checks and unit tests first (no
# emulator), then the stack is deployed into MiniStack and the integration
# tests run the real function binaries under `cargo lambda watch` against it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
step() { printf '\n\033[1m### %s\033[0m\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unit and property tests"
cargo test --workspace --exclude leadline-tests --locked

# Every benchmark runs once, small, with every check (a bench run without
# --bench is a smoke run), so that a broken bench fails here and not in
# `make bench`. The import bench compares with Python's phonenumbers.
step "benchmarks, smoke run"
scripts/local-stack.sh tools
LEADLINE_BENCH_PYTHON="${LEADLINE_TOOLS_DIR:-$root/.tools}/bench/bin/python" \
  cargo test --workspace --exclude leadline-tests --bench '*' --locked

step "tools, MiniStack and the stack from infra/template.yaml"
scripts/local-stack.sh deploy
# shellcheck disable=SC1091
source .demo/stack.env

step "template checks: sam validate, cfn-lint 1.51.0, a broken template must fail"
cargo test -p leadline-tests --locked --test template

step "integration tests: functions under cargo lambda watch against MiniStack"
# MiniStack may hold logs of earlier runs: the log scan reads this run's (epoch ms).
logs_since="$(date +%s%3N)"
cargo build --workspace --bins --locked
watch_port="${LEADLINE_WATCH_PORT:-9610}"
export PATH="${LEADLINE_TOOLS_DIR:-$root/.tools}/sam/bin:$PATH"
scripts/local-stack.sh sim
# The functions under watch get what the template gives them in the stack.
TABLE_NAME="$LEADLINE_TableName" ADMIN_API_KEY="$LEADLINE_ADMIN_API_KEY" \
DIAL_QUEUE_URL="$LEADLINE_DialQueueUrl" DIAL_QUEUE_ARN="$LEADLINE_DialQueueArn" \
SCHEDULE_GROUP="$LEADLINE_ScheduleGroupName" SCHEDULER_ROLE_ARN="$LEADLINE_SchedulerRoleArn" \
SCHEDULED_WORK_DLQ_ARN="$LEADLINE_ScheduledWorkDLQArn" MESSAGE_QUEUE_URL="$LEADLINE_MessageQueueUrl" \
RETELL_API_URL="$LEADLINE_SIM_URL" RETELL_API_KEY="$LEADLINE_RETELL_API_KEY" \
RETELL_FROM_NUMBER=+14155550100 RETELL_AGENT_ID=agent_leadline_shared \
VAPI_API_URL="$LEADLINE_SIM_URL" VAPI_API_KEY="$LEADLINE_VAPI_API_KEY" \
VAPI_ASSISTANT_ID=asst-leadline-shared VAPI_PHONE_NUMBER_ID=pn-leadline-local \
VAPI_WEBHOOK_SECRET="$LEADLINE_VAPI_WEBHOOK_SECRET" CALLS_PER_SECOND=10 \
CALCOM_API_URL="$LEADLINE_SIM_URL" MESSAGE_QUEUE_ARN="$LEADLINE_MessageQueueArn" \
TWILIO_API_URL="$LEADLINE_SIM_URL" SENDGRID_API_URL="$LEADLINE_SIM_URL" WHATSAPP_API_URL="$LEADLINE_SIM_URL" \
TWILIO_ACCOUNT_SID="$LEADLINE_TWILIO_ACCOUNT_SID" TWILIO_AUTH_TOKEN="$LEADLINE_TWILIO_AUTH_TOKEN" \
SENDGRID_API_KEY="$LEADLINE_SENDGRID_API_KEY" SENDGRID_WEBHOOK_PUBLIC_KEY="$LEADLINE_SENDGRID_WEBHOOK_PUBLIC_KEY" \
WHATSAPP_ACCESS_TOKEN="$LEADLINE_WHATSAPP_ACCESS_TOKEN" WHATSAPP_APP_SECRET="$LEADLINE_WHATSAPP_APP_SECRET" \
WHATSAPP_VERIFY_TOKEN="$LEADLINE_WHATSAPP_VERIFY_TOKEN" TENANT_SECRETS_PREFIX=leadline/messaging/tenants \
PUBLIC_BASE_URL="http://127.0.0.1:$watch_port/lambda-url/messaging-webhook" \
  cargo lambda watch -A 127.0.0.1 -P "$watch_port" --ignore-changes > .demo/watch.log 2>&1 &
watch_pid=$!
trap 'kill $watch_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$watch_port/lambda-url/api/v1" && break
  sleep 0.2
done
export LEADLINE_WATCH_URL="http://127.0.0.1:$watch_port"
cargo test -p leadline-tests --locked --test intake --test store --test calls --test tools --test inbound --test messaging --test handler
# The sweep acts on every due item of the table: these run one at a time, after the rest.
cargo test -p leadline-tests --locked --test retries -- --test-threads=1

step "log scan: no function logged a phone number or an email address"
# What the functions wrote during the tests: cargo lambda watch's output and
# the CloudWatch Logs of those deployed in MiniStack (AWS_ENDPOINT_URL).
LEADLINE_WATCH_LOG="$root/.demo/watch.log" LEADLINE_LOGS_SINCE="$logs_since" \
  cargo test -p leadline-tests --locked --test logs

step "benchmarks of the functions and the table, smoke run"
# Every function binary started with the template's environment; the sweep's
# read over a table of its own in MiniStack.
cargo test -p leadline-tests --locked --bench coldstart --bench sweep
