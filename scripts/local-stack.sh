#!/usr/bin/env bash
# The local stack: MiniStack (DynamoDB, SQS, Scheduler, Lambda, CloudFormation)
# on loopback, with infra/template.yaml deployed into it exactly as on AWS.
#
#   scripts/local-stack.sh tools    install the tools into .tools/ (idempotent)
#   scripts/local-stack.sh up       start MiniStack (if it is not running)
#   scripts/local-stack.sh deploy   sam build + sam deploy into MiniStack
#   scripts/local-stack.sh env      print the stack's outputs as shell exports
#   scripts/local-stack.sh sim      start the simulated Retell and Vapi
#   scripts/local-stack.sh down     stop MiniStack
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tools="${LEADLINE_TOOLS_DIR:-$root/.tools}"
state="$root/.demo"
port="${LEADLINE_AWS_PORT:-4566}"
sim_port="${LEADLINE_SIM_PORT:-9620}"
stack="${LEADLINE_STACK:-leadline-local}"

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export SAM_CLI_TELEMETRY=0 SAM_CLI_POLL_DELAY=0.2 AWS_PAGER=""
mkdir -p "$state"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

venv() { # name packages...
  local name=$1; shift
  if [ ! -x "$tools/$name/bin/python" ] || [ ! -f "$tools/$name/.installed" ] || [ "$(cat "$tools/$name/.installed")" != "$*" ]; then
    log "installing $* into $tools/$name"
    python3 -m venv "$tools/$name"
    "$tools/$name/bin/pip" install --quiet --disable-pip-version-check "$@"
    echo "$*" > "$tools/$name/.installed"
  fi
}

# curl and Python's venv come from Debian packages on a bare machine.
ensure_system_tools() {
  local missing=()
  command -v curl >/dev/null || missing+=(curl)
  command -v python3 >/dev/null || missing+=(python3)
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]} with apt-get"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

cmd_tools() {
  ensure_system_tools
  mkdir -p "$tools"
  # MiniStack pins an older botocore than the SAM CLI: each gets its own venv.
  venv ministack 'ministack[full]==1.5.33'
  venv sam 'aws-sam-cli==1.170.0' 'awscli==1.46.3' 'cargo-lambda==1.9.2'
  # cfn-lint 1.58 silently skips SAM templates; 1.51.0 lints them.
  venv lint 'cfn-lint==1.51.0'
  venv bench 'phonenumbers'
}

healthy() { curl -sf "http://127.0.0.1:$port/_ministack/health" >/dev/null 2>&1; }

cmd_up() {
  cmd_tools
  if healthy; then return; fi
  log "starting MiniStack on 127.0.0.1:$port"
  # MiniStack hands its own environment to the functions it runs: with
  # AWS_ENDPOINT_URL set, their SDK calls stay on loopback.
  BIND_HOST=127.0.0.1 GATEWAY_PORT=$port LAMBDA_EXECUTOR=local \
    nohup "$tools/ministack/bin/ministack" > "$state/ministack.log" 2>&1 &
  echo $! > "$state/ministack.pid"
  for _ in $(seq 1 100); do healthy && return; sleep 0.1; done
  log "MiniStack did not become healthy; see .demo/ministack.log"; exit 1
}

aws_() { "$tools/sam/bin/aws" --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }

# The admin key lives in Secrets Manager; the template reads it by dynamic
# reference. A copy in .demo/admin-api-key is for the demo, tests and you.
ensure_admin_secret() {
  if aws_ secretsmanager describe-secret --secret-id leadline/admin-api-key >/dev/null 2>&1; then
    aws_ secretsmanager get-secret-value --secret-id leadline/admin-api-key --query SecretString --output text |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["api_key"])' > "$state/admin-api-key"
  else
    local key
    key="$(python3 -c 'import secrets; print("adm_" + secrets.token_urlsafe(32))')"
    aws_ secretsmanager create-secret --name leadline/admin-api-key \
      --secret-string "{\"api_key\":\"$key\"}" >/dev/null
    echo "$key" > "$state/admin-api-key"
  fi
}

# The provider keys live in Secrets Manager too. Locally they are test keys
# shared with the simulated Retell and Vapi (scripts/sim.sh), which sign their
# webhooks with them exactly as the real providers do.
ensure_provider_secret() {
  if ! aws_ secretsmanager describe-secret --secret-id leadline/providers >/dev/null 2>&1; then
    local secret
    secret="$(python3 -c 'import json, secrets; print(json.dumps({
      "retell_api_key": "key_" + secrets.token_hex(16),
      "vapi_api_key": secrets.token_hex(16),
      "vapi_webhook_secret": secrets.token_urlsafe(24)}))')"
    aws_ secretsmanager create-secret --name leadline/providers --secret-string "$secret" >/dev/null
  fi
}

# The deployment's messaging accounts: test credentials shared with the
# simulated Twilio, SendGrid and WhatsApp (SendGrid's signing key is the
# simulator's, derived from its seed; its public half verifies the events).
ensure_messaging_secret() {
  if ! aws_ secretsmanager describe-secret --secret-id leadline/messaging >/dev/null 2>&1; then
    (cd "$root" && cargo build -q -p leadline-sim --bin leadline-sim)
    local public_key secret
    public_key="$("${CARGO_TARGET_DIR:-$root/target}/debug/leadline-sim" sendgrid-public-key)"
    secret="$(PUBLIC_KEY="$public_key" python3 -c 'import json, os, secrets; print(json.dumps({
      "twilio_account_sid": "AC5e1a0000000000000000000000000001",
      "twilio_auth_token": secrets.token_hex(16),
      "sendgrid_api_key": "SG." + secrets.token_urlsafe(24),
      "sendgrid_webhook_public_key": os.environ["PUBLIC_KEY"],
      "whatsapp_access_token": "EAA" + secrets.token_urlsafe(24),
      "whatsapp_app_secret": secrets.token_hex(16),
      "whatsapp_verify_token": secrets.token_urlsafe(16)}))')"
    aws_ secretsmanager create-secret --name leadline/messaging --secret-string "$secret" >/dev/null
  fi
}

cmd_deploy() {
  cmd_up
  export PATH="$tools/sam/bin:$PATH"   # sam build calls cargo lambda and zig
  ensure_admin_secret
  ensure_provider_secret
  ensure_messaging_secret
  log "sam build (cargo lambda, release)"
  (cd "$root" && sam build -t infra/template.yaml --parameter-overrides Architecture=x86_64 \
      --build-dir .aws-sam/build >"$state/sam-build.log" 2>&1) || { tail -40 "$state/sam-build.log"; exit 1; }
  log "sam deploy into MiniStack (stack $stack)"
  # make demo runs the deployment's clock faster (LEADLINE_CLOCK_SCALE); tests on the wall clock.
  # The demo's clock reads LEADLINE_CLOCK_VIRTUAL_ORIGIN a little after the
  # deploy ends (LEADLINE_CLOCK_REAL_ORIGIN, which make demo waits for).
  local clock_params=(ClockScale="${LEADLINE_CLOCK_SCALE:-1}")
  if [ "${LEADLINE_CLOCK_SCALE:-1}" != 1 ]; then
    LEADLINE_CLOCK_REAL_ORIGIN="$(date -u -d "+${LEADLINE_CLOCK_LEAD_SECONDS:-90} seconds" +%Y-%m-%dT%H:%M:%SZ)"
    export LEADLINE_CLOCK_REAL_ORIGIN
    clock_params+=(ClockRealOrigin="$LEADLINE_CLOCK_REAL_ORIGIN" ClockVirtualOrigin="$LEADLINE_CLOCK_VIRTUAL_ORIGIN")
  fi
  (cd "$root" && sam deploy --template-file .aws-sam/build/template.yaml --stack-name "$stack" \
      --resolve-s3 --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
      --parameter-overrides Architecture=x86_64 Stage=dev \
        RetellApiUrl="http://127.0.0.1:$sim_port" VapiApiUrl="http://127.0.0.1:$sim_port" \
        CalcomApiUrl="http://127.0.0.1:$sim_port" \
        TwilioApiUrl="http://127.0.0.1:$sim_port" SendgridApiUrl="http://127.0.0.1:$sim_port" \
        WhatsappApiUrl="http://127.0.0.1:$sim_port" LocalApiPrefix="http://127.0.0.1:$port/_aws/execute-api/" \
        RetellFromNumber=+14155550100 RetellAgentId=agent_leadline_shared \
        VapiAssistantId=asst-leadline-shared VapiPhoneNumberId=pn-leadline-local \
        RetellConcurrentCalls="${LEADLINE_RETELL_CONCURRENCY:-20}" CallsPerSecond="${LEADLINE_CALLS_PER_SECOND:-10}" \
        "${clock_params[@]}" \
      --no-confirm-changeset --no-fail-on-empty-changeset >"$state/sam-deploy.log" 2>&1) \
    || { tail -40 "$state/sam-deploy.log"; exit 1; }
  cmd_env > "$state/stack.env"
}

cmd_env() {
  aws_ cloudformation describe-stacks --stack-name "$stack" \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text |
    while read -r k v; do printf 'export LEADLINE_%s=%q\n' "$k" "$v"; done
  printf 'export LEADLINE_LOCAL_API=%q\n' \
    "http://127.0.0.1:$port/_aws/execute-api/$(aws_ cloudformation describe-stacks --stack-name "$stack" \
      --query "Stacks[0].Outputs[?OutputKey=='HttpApiId'].OutputValue" --output text)"
  [ -f "$state/admin-api-key" ] && printf 'export LEADLINE_ADMIN_API_KEY=%q\n' "$(cat "$state/admin-api-key")"
  for secret in leadline/providers leadline/messaging; do
    aws_ secretsmanager get-secret-value --secret-id "$secret" --query SecretString --output text |
      python3 -c 'import json, shlex, sys
for k, v in json.load(sys.stdin).items(): print(f"export LEADLINE_{k.upper()}={shlex.quote(v)}")'
  done
  printf 'export LEADLINE_SIM_URL=%q\n' "http://127.0.0.1:$sim_port"
  printf 'export LEADLINE_CLOCK_SCALE=%q\n' "${LEADLINE_CLOCK_SCALE:-1}"
  if [ "${LEADLINE_CLOCK_SCALE:-1}" != 1 ]; then
    printf 'export LEADLINE_CLOCK_REAL_ORIGIN=%q LEADLINE_CLOCK_VIRTUAL_ORIGIN=%q\n' \
      "$LEADLINE_CLOCK_REAL_ORIGIN" "$LEADLINE_CLOCK_VIRTUAL_ORIGIN"
  fi
  printf 'export AWS_ENDPOINT_URL=%q AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1\n' "$AWS_ENDPOINT_URL"
}

# The simulated Retell and Vapi (crate sim/) on loopback, signing their
# webhooks with the stack's provider keys and sending them to the stack's
# HTTP API, as the real providers would.
cmd_sim() {
  stop_sim
  # shellcheck disable=SC1091
  source "$state/stack.env"
  (cd "$root" && cargo build -q -p leadline-sim --bin leadline-sim)
  local bin="${CARGO_TARGET_DIR:-$root/target}/debug/leadline-sim"
  # On the demo clock, callbacks are asked for in demo time too.
  local clock=(SIM_CLOCK_SCALE="${LEADLINE_CLOCK_SCALE:-1}")
  if [ "${LEADLINE_CLOCK_SCALE:-1}" != 1 ]; then
    clock+=(SIM_CLOCK_REAL_ORIGIN="$LEADLINE_CLOCK_REAL_ORIGIN" SIM_CLOCK_VIRTUAL_ORIGIN="$LEADLINE_CLOCK_VIRTUAL_ORIGIN")
  fi
  SIM_BIND="127.0.0.1:$sim_port" \
  SIM_RETELL_API_KEY="$LEADLINE_RETELL_API_KEY" SIM_VAPI_API_KEY="$LEADLINE_VAPI_API_KEY" \
  SIM_VAPI_WEBHOOK_SECRET="$LEADLINE_VAPI_WEBHOOK_SECRET" \
  SIM_RETELL_WEBHOOK_URL="$LEADLINE_LOCAL_API/webhooks/retell" \
  SIM_TWILIO_ACCOUNT_SID="$LEADLINE_TWILIO_ACCOUNT_SID" SIM_TWILIO_AUTH_TOKEN="$LEADLINE_TWILIO_AUTH_TOKEN" \
  SIM_SENDGRID_API_KEY="$LEADLINE_SENDGRID_API_KEY" \
  SIM_WHATSAPP_ACCESS_TOKEN="$LEADLINE_WHATSAPP_ACCESS_TOKEN" SIM_WHATSAPP_APP_SECRET="$LEADLINE_WHATSAPP_APP_SECRET" \
  SIM_TWILIO_WEBHOOK_URL="$LEADLINE_LOCAL_API/webhooks/twilio" \
  SIM_SENDGRID_WEBHOOK_URL="$LEADLINE_LOCAL_API/webhooks/sendgrid" \
  SIM_WHATSAPP_WEBHOOK_URL="$LEADLINE_LOCAL_API/webhooks/whatsapp" \
  SIM_VAPI_WEBHOOK_URL="$LEADLINE_LOCAL_API/webhooks/vapi" \
  SIM_TIME_SCALE="${LEADLINE_SIM_TIME_SCALE:-0.05}" \
  SIM_RETELL_MAX_CONCURRENT_CALLS="${LEADLINE_RETELL_CONCURRENCY:-20}" \
    nohup env "${clock[@]}" "$bin" > "$state/sim.out" 2> "$state/sim.log" &
  echo $! > "$state/sim.pid"
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$sim_port/_sim/stats" >/dev/null 2>&1 && { log "simulated providers on 127.0.0.1:$sim_port"; return; }
    sleep 0.1
  done
  log "the simulated providers did not start; see .demo/sim.log"; exit 1
}

stop_sim() {
  if [ -f "$state/sim.pid" ]; then
    kill "$(cat "$state/sim.pid")" 2>/dev/null || true
    rm -f "$state/sim.pid"
  fi
}

cmd_down() {
  stop_sim
  if [ -f "$state/ministack.pid" ]; then
    kill "$(cat "$state/ministack.pid")" 2>/dev/null || true
    rm -f "$state/ministack.pid"
  fi
  pkill -f "$tools/ministack/bin/ministack" 2>/dev/null || true
  rm -f "$state/admin-api-key" "$state/stack.env"
  log "MiniStack stopped"
}

"cmd_${1:?usage: local-stack.sh tools|up|deploy|env|sim|down}"
