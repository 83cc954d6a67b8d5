#!/usr/bin/env bash
# HTTP load scenarios against a real server on loopback (DESIGN §7): builds the release preset,
# starts build/release/api/mandated on a fresh data directory and a free port, sets up a
# principal, a custodial agent, a mandate, a merchant credential and agent sessions over HTTP,
# then drives each scenario with bench/load_driver at several connection counts. Every result is
# one JSON line in --out (bench/load_report.py turns the file into BENCHMARKS.md's
# "Load (HTTP over loopback)" section).
#
# Usage: bench/load.sh --out FILE [--scenarios healthz,mandate-issue,...] (default: all)
#          [--connections "1 16 256"] [--duration S] [--warmup S] [--ratio-run | --no-sweep]
#          [--workers N] [--no-build] [--ratio-rounds N] [--data-dir DIR] [--run NAME]
#   --ratio-run  after the sweep (or alone with --no-sweep): healthz flat out at 64 connections,
#                authorize flat out at 64, then authorize at half that rate; prints the ratio.
#   --ratio-rounds N  repeats the two flat-out steps N times, interleaved (default 1), printing
#                each round's ratio and the median; the half-load step follows the last round.
#   --workers    the server's worker pool (default: the server's own default).
#   --data-dir   start the server on this existing store (e.g. bench/audit_fixture's DIR/data,
#                for cost growth with the events stored) instead of a fresh one.
#   --run NAME   the "run" of the sweep's rows (default "sweep").
# MANDATED_BENCH_BUILD_DIR picks the build directory (default build/release).
#
# A scenario is one function `scenario_<name> CONNECTIONS [RATE]` that calls `drive` with the
# driver's request flags; fixtures it needs are made once by `setup_fixtures`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/server_lib.sh
source bench/server_lib.sh

build="${MANDATED_BENCH_BUILD_DIR:-build/release}"
out=""
scenarios="healthz,mandate-issue,mandate-verify,authorize,authorize-denied,authorize-approval"
scenarios+=",capture,trail,x402-pay,usage-ingest"
connections="1 16 256"
duration=10
warmup=2
ratio_run=0
ratio_rounds=1
sweep=1
workers=""
do_build=1
data_dir=""
run_name=sweep
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --scenarios) scenarios="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --ratio-run) ratio_run=1; shift ;;
    --ratio-rounds) ratio_rounds="$2"; shift 2 ;;
    --no-sweep) sweep=0; shift ;;
    --workers) workers="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --data-dir) data_dir="$2"; shift 2 ;;
    --run) run_name="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "load.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$out" ]; then
  echo "load.sh: --out FILE is required" >&2
  exit 2
fi
: > "$out"

if [ "$do_build" = 1 ]; then
  cmake --preset release -B "$build" -DMANDATED_BUILD_BENCHMARKS=ON >/dev/null
  cmake --build "$build" --target load_driver mandated >&2
fi
driver="$build/bench/load_driver"
server_bin="$build/api/mandated"
"$driver" --self-test

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# ---- The server ----

operator_token="bench-operator-token-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
unlimited=1000000/1000000
server_log="$work/server.log"

start_server() {
  start_mandated_server load.sh --session-ttl-minutes 1440 \
    --rate-limits "operator=$unlimited,admin=$unlimited,merchant=$unlimited,agent=$unlimited"
}

# ---- Fixtures (all over HTTP) ----

# Writes into $work: verify.json (a POST /v1/mandates/verify body with a real mandate token and
# a purchase), merchant.token, principal.txt, issue.json (a POST /v1/principals/{p}/mandates
# body), authorize.json, authorize-denied.json (above the per-transaction maximum) and
# authorize-approval.json (above a step-up threshold) (POST /v1/authorizations bodies),
# sessions.txt (one agent session token per line), usage.json (a POST /v1/usage batch of 100
# events with {seq} in their ids), x402-pay.json and x402-sessions.txt (POST /v1/x402/pay from a
# custodial secp256k1 agent). One principal, one custodial Ed25519 agent with two mandates with
# large limits (one with a step-up threshold), one custodial secp256k1 agent with an x402 mandate,
# one merchant credential, 64 sessions of each agent.
setup_fixtures() {
  BASE="$base" TOKEN="$operator_token" WORK="$work" python3 - <<'EOF'
import json, os, time, urllib.request, urllib.error

base, token, work = os.environ["BASE"], os.environ["TOKEN"], os.environ["WORK"]

def call(method, path, body=None, bearer=token, expect=(200, 201)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + bearer)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    if status not in expect:
        raise SystemExit(f"load.sh setup: {method} {path}: {status} {text}")
    return json.loads(text)

# A store may be reused (cost growth runs load.sh on one fixture at several sizes): a fresh name.
p = call("POST", "/v1/principals", {"name": f"Bench Corp {os.getpid()}-{time.time_ns()}"})["id"]
agent = call("POST", f"/v1/principals/{p}/agents",
             {"name": "Bench agent", "custodial": {"key_type": "Ed25519"}})
now = int(time.time())
fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
terms = {
    "scope": {"payees": {"allow": [{"type": "domain", "value": "*.shop.example"}]}},
    "limits": {
        "per_transaction": [{"asset": "USD", "max": "1000000"}],
        "windows": [{"asset": "USD", "window": "day", "kind": "calendar", "time_zone": "UTC",
                     "max": "1000000000000000"}],
    },
}
mandate = call("POST", f"/v1/principals/{p}/mandates",
               {"agent": agent["id"], "valid_from": fmt(now - 60),
                "valid_until": fmt(now + 30 * 86400), "terms": terms})
merchant = call("POST", f"/v1/principals/{p}/credentials",
                {"role": "merchant", "name": "bench merchant"})
purchase = {"payee": {"type": "domain", "value": "api.shop.example"}, "amount": "1200",
            "asset": "USD"}
with open(f"{work}/verify.json", "w") as f:
    json.dump({"mandate": mandate["token"], "purchase": purchase}, f)
with open(f"{work}/merchant.token", "w") as f:
    f.write(merchant["token"] + "\n")
with open(f"{work}/authorize.json", "w") as f:
    json.dump({"mandate": mandate["id"], **purchase}, f)
with open(f"{work}/authorize-denied.json", "w") as f:
    json.dump({"mandate": mandate["id"], **purchase, "amount": "2000000"}, f)
with open(f"{work}/principal.txt", "w") as f:
    f.write(p + "\n")
issue = {"agent": agent["id"], "valid_from": fmt(now - 60), "valid_until": fmt(now + 86400),
         "terms": terms}
with open(f"{work}/issue.json", "w") as f:
    json.dump(issue, f)
stepped = call("POST", f"/v1/principals/{p}/mandates",
               {**issue, "terms": {**terms, "step_up": {"above": [{"asset": "USD",
                                                                   "amount": "500"}]}}})
with open(f"{work}/authorize-approval.json", "w") as f:
    json.dump({"mandate": stepped["id"], **purchase}, f)
tokens = []
for i in range(64):
    s = call("POST", f"/v1/principals/{p}/agents/{agent['id']}/sessions",
             {"task": f"bench session {i}", "mandates": [mandate["id"], stepped["id"]]})
    tokens.append(s["token"])
with open(f"{work}/sessions.txt", "w") as f:
    f.write("\n".join(tokens) + "\n")

# Usage events as a metered API reports them: batches of 100, fresh ids in every request.
usage = [{"id": f"e{{seq}}-{i}", "payee": "api.shop.example",
          "asset": "USD", "amount": "3", "quantity": 1,
          "resource": "https://api.shop.example/premium"} for i in range(100)]
with open(f"{work}/usage.json", "w") as f:
    json.dump({"events": usage}, f, separators=(",", ":"))

# x402 pay: a custodial secp256k1 agent whose mandate allows Base Sepolia USDC to one payee.
pay_to = "0x209693bc6afc0c5328ba36faf03c514ef312287c"
usdc = "0x036cbd53842c5426634e7929541ec2318f3dcf7e"
usdc_asset = f"eip155:84532/erc20:{usdc}"
payer = call("POST", f"/v1/principals/{p}/agents",
             {"name": "Bench x402 payer",
              "custodial": {"key_type": "secp256k1", "chain_id": 84532}})
x402_terms = {
    "scope": {"payees": {"allow": [{"type": "address", "value": pay_to}]},
              "assets": {"allow": [usdc_asset]}, "networks": {"allow": ["eip155:84532"]}},
    "limits": {"per_transaction": [{"asset": usdc_asset, "max": "1000000"}],
               "windows": [{"asset": usdc_asset, "window": "day", "kind": "calendar",
                            "time_zone": "UTC", "max": "1000000000000000"}]},
}
x402_mandate = call("POST", f"/v1/principals/{p}/mandates",
                    {"agent": payer["id"], "valid_from": fmt(now - 60),
                     "valid_until": fmt(now + 86400), "terms": x402_terms})
required = {"x402Version": 2, "error": "Payment required",
            "resource": {"url": "https://api.shop.example/premium", "description": "premium",
                         "mimeType": "application/json"},
            "accepts": [{"scheme": "exact", "network": "eip155:84532", "amount": "100",
                         "asset": usdc, "payTo": pay_to, "maxTimeoutSeconds": 60,
                         "extra": {"name": "USDC", "version": "2"}}]}
with open(f"{work}/x402-pay.json", "w") as f:
    json.dump({"mandate_id": x402_mandate["id"], "payment_required": required}, f)
x402_tokens = []
for i in range(64):
    s = call("POST", f"/v1/principals/{p}/agents/{payer['id']}/sessions",
             {"task": f"bench x402 session {i}", "mandates": [x402_mandate["id"]]})
    x402_tokens.append(s["token"])
with open(f"{work}/x402-sessions.txt", "w") as f:
    f.write("\n".join(x402_tokens) + "\n")
print(f"fixtures: principal {p}, agent {agent['id']}, mandate {mandate['id']}, "
      f"{len(tokens)} sessions")
EOF
}

# ---- Running the driver ----

# The server's CPU time so far (user + system, in clock ticks), from /proc.
server_cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$server_pid/stat"
}

# A tag no earlier step of this server used: the driver's {seq} restarts at 0 in every run, so
# each step puts a fresh tag in its Idempotency-Keys and event ids. Without it, a second step of a
# scenario repeats the first one's keys and the server answers those requests from its
# idempotency records (a replay, not a new decision), which would count as authorizations.
step_tag() {
  date +%s%N
}

# drive RUN SCENARIO CONNECTIONS RATE DRIVER_FLAGS...: one measured run, appended to $out as one
# JSON line (the driver's, plus the run's name and the server's worker count) and echoed to
# stderr. RATE 0 is flat out.
drive() {
  local run=$1 scenario=$2 conns=$3 rate=$4
  shift 4
  local threads=1
  if [ "$conns" -ge 64 ]; then
    threads=2
  fi
  : > "$server_log"  # bound the log's size (the server appends)
  local line cpu_before cpu_after
  cpu_before=$(server_cpu_ticks)
  line=$("$driver" --port "$port" --scenario "$scenario" --connections "$conns" \
    --threads "$threads" --rate "$rate" --duration "$duration" --warmup "$warmup" "$@")
  cpu_after=$(server_cpu_ticks)
  line=$(RUN="$run" WORKERS="${server_workers:-0}" LINE="$line" TICKS=$((cpu_after - cpu_before)) \
    HZ="$(getconf CLK_TCK)" python3 -c '
import json, os
d = json.loads(os.environ["LINE"])
d = {"run": os.environ["RUN"], **d, "server_workers": int(os.environ["WORKERS"])}
# The server process CPU (user + system) over warm-up and measured time, per request at the
# measured rate: what one request costs the server, whatever else shares the machine.
ticks, hz = int(os.environ["TICKS"]), int(os.environ["HZ"])
served = d["throughput_rps"] * (d["warmup_s"] + d["duration_s"])
if served > 0:
    d["server_cpu_us_per_request"] = round(ticks * 1e6 / hz / served, 1)
print(json.dumps(d, separators=(",", ":")))')
  echo "$line" >> "$out"
  LINE="$line" python3 -c '
import json, os
d = json.loads(os.environ["LINE"]); l = d["latency_us"]
rate = "flat out" if d["target_rate"] is None else "%d/s" % d["target_rate"]
print("%-8s %-16s %4d conns %-10s %9.0f req/s  p50 %8.0f us  p99 %8.0f us  p99.9 %8.0f us  "
      "server CPU %6.1f us/req  statuses %s  errors %d  mismatches %s" % (d["run"],
      d["scenario"], d["connections"], rate, d["throughput_rps"], l["p50"], l["p99"], l["p99_9"],
      d.get("server_cpu_us_per_request", 0.0), d["responses"], d["error_count"],
      d["mismatches"]))' >&2
  last_throughput=$(LINE="$line" python3 -c '
import json, os; print(int(json.loads(os.environ["LINE"])["throughput_rps"]))')
}

scenario_healthz() {  # CONNECTIONS [RATE] [RUN]
  drive "${3:-$run_name}" healthz "$1" "${2:-0}" --method GET --path /healthz --expect-status 200 \
    --expect-body-contains '"status":"ok"'
}

scenario_mandate_verify() {  # CONNECTIONS [RATE] [RUN]
  drive "${3:-$run_name}" mandate-verify "$1" "${2:-0}" --method POST --path /v1/mandates/verify \
    --header "Authorization: Bearer $(cat "$work/merchant.token")" \
    --header 'Content-Type: application/json' --body-file "$work/verify.json" \
    --expect-status 200 --expect-body-contains '"verdict":"valid"'
}

# POST /v1/authorizations (specs/authorization.md §2) from the agent sessions, a unique
# Idempotency-Key per request. Skipped while the server does not have the route.
authorize_available() {
  if [ -z "${authorize_checked:-}" ]; then
    authorize_checked=1
    local status
    status=$(curl -s -o "$work/probe.json" -w '%{http_code}' -X POST "$base/v1/authorizations" \
      -H "Authorization: Bearer $(head -1 "$work/sessions.txt")" \
      -H 'Content-Type: application/json' -H "Idempotency-Key: bench-probe" \
      --data-binary @"$work/authorize.json")
    authorize_ok=1
    if [ "$status" = 404 ] || [ "$status" = 405 ]; then
      # The router's own answer (no such route) names the generic problem; a real route's 404
      # names what is missing (e.g. mandate-not-found).
      if grep -q '"type":"[^"]*problem:not-found"\|method-not-allowed' "$work/probe.json"; then
        authorize_ok=0
        echo "load.sh: skipping authorize: the server answers $status for POST /v1/authorizations" \
          "(not implemented in this build)" >&2
      fi
    fi
    if [ "$authorize_ok" = 1 ] && [ "$status" != 201 ]; then
      echo "load.sh: note: the authorize probe answered $status: $(head -c 300 "$work/probe.json")" >&2
    fi
  fi
  [ "$authorize_ok" = 1 ]
}

scenario_authorize() {  # CONNECTIONS [RATE] [RUN]
  authorize_available || return 0
  drive "${3:-$run_name}" authorize "$1" "${2:-0}" --method POST --path /v1/authorizations \
    --tokens-file "$work/sessions.txt" --header 'Content-Type: application/json' \
    --header "Idempotency-Key: bench-$(step_tag)-{seq}" --body-file "$work/authorize.json" \
    --expect-status 201 --expect-body-contains '"decision":"allowed"'
}

authorize_with() {  # SCENARIO BODY_FILE DECISION CONNECTIONS RATE RUN
  authorize_available || return 0
  drive "$6" "$1" "$4" "$5" --method POST --path /v1/authorizations \
    --tokens-file "$work/sessions.txt" --header 'Content-Type: application/json' \
    --header "Idempotency-Key: $1-$(step_tag)-{seq}" --body-file "$work/$2" \
    --expect-status 201 --expect-body-contains "\"decision\":\"$3\""
}

scenario_authorize_denied() {  # CONNECTIONS [RATE] [RUN]
  authorize_with authorize-denied authorize-denied.json denied "$1" "${2:-0}" "${3:-$run_name}"
}

scenario_authorize_approval() {  # CONNECTIONS [RATE] [RUN]
  authorize_with authorize-approval authorize-approval.json approval_required "$1" "${2:-0}" \
    "${3:-$run_name}"
}

# POST /v1/principals/{p}/mandates as the operator: a new signed, stored mandate per request.
scenario_mandate_issue() {  # CONNECTIONS [RATE] [RUN]
  drive "${3:-$run_name}" mandate-issue "$1" "${2:-0}" --method POST \
    --path "/v1/principals/$(cat "$work/principal.txt")/mandates" \
    --header "Authorization: Bearer $operator_token" \
    --header 'Content-Type: application/json' --body-file "$work/issue.json" \
    --expect-status 201 --expect-body-contains '"token":"'
}

# Captures need authorizations to capture: each connection count first makes its own pool
# (allowed authorizations, not measured, ids recorded by the driver), then captures each once.
# Measured by request count (capture_requests), no warm-up: a pool id is never used twice.
capture_requests=3000
make_capture_pool() {  # CONNECTIONS
  local threads=1
  if [ "$1" -ge 64 ]; then threads=2; fi
  "$driver" --port "$port" --scenario capture-pool --connections "$1" --threads "$threads" \
    --warmup 0 --requests $((capture_requests + $1 + 64)) --method POST \
    --path /v1/authorizations --tokens-file "$work/sessions.txt" \
    --header 'Content-Type: application/json' --header "Idempotency-Key: pool-$(step_tag)-{seq}" \
    --body-file "$work/authorize.json" --expect-status 201 \
    --record-ids "$work/pool-$1.txt" > /dev/null
}

scenario_capture() {  # CONNECTIONS [RATE] [RUN]
  authorize_available || return 0
  make_capture_pool "$1"
  echo '{}' > "$work/empty.json"
  drive "${3:-$run_name}" capture "$1" "${2:-0}" --method POST \
    --path '/v1/authorizations/{item}/capture' --items-file "$work/pool-$1.txt" \
    --tokens-file "$work/sessions.txt" --header 'Content-Type: application/json' \
    --header "Idempotency-Key: capture-$(step_tag)-{seq}" --body-file "$work/empty.json" \
    --expect-status 200 --expect-body-contains '"state":"captured"' \
    --warmup 0 --requests "$capture_requests"
}

# GET /v1/audit/trail of one purchase (an authorization and its capture, from the capture
# pools) as the operator: the audit log holds every event the runs before made.
scenario_trail() {  # CONNECTIONS [RATE] [RUN]
  local pool
  pool=$(ls "$work"/pool-*.txt 2>/dev/null | head -1 || true)
  if [ -z "$pool" ]; then
    make_capture_pool 16
    pool="$work/pool-16.txt"
  fi
  drive "${3:-$run_name}" trail "$1" "${2:-0}" --method GET \
    --path '/v1/audit/trail?authorization={item}' --items-file "$pool" \
    --header "Authorization: Bearer $operator_token" \
    --expect-status 200 --expect-body-contains '"items":[{'
}

# POST /v1/usage: batches of 100 new events (ids carry the connection count, the step tag and
# {seq}).
scenario_usage_ingest() {  # CONNECTIONS [RATE] [RUN]
  sed "s/\"e{seq}-/\"e$1-$(step_tag)-{seq}-/g" "$work/usage.json" > "$work/usage-$1.json"
  drive "${3:-$run_name}" usage-ingest "$1" "${2:-0}" --method POST --path /v1/usage \
    --header "Authorization: Bearer $(cat "$work/merchant.token")" \
    --header 'Content-Type: application/json' --body-file "$work/usage-$1.json" \
    --expect-status 200 --expect-body-contains '"accepted":100'
}

# POST /v1/x402/pay from the custodial secp256k1 agent: authorization, nonce binding and an
# EIP-3009 signature by the agent's key per request.
scenario_x402_pay() {  # CONNECTIONS [RATE] [RUN]
  drive "${3:-$run_name}" x402-pay "$1" "${2:-0}" --method POST --path /v1/x402/pay \
    --tokens-file "$work/x402-sessions.txt" --header 'Content-Type: application/json' \
    --header "Idempotency-Key: pay-$(step_tag)-{seq}" --body-file "$work/x402-pay.json" \
    --expect-status 201 --expect-body-contains '"decision":"allowed"'
}

# ---- Main ----

start_server
setup_fixtures >&2
python3 - "$server_workers" >> "$out" <<'EOF'
import json, os, subprocess, sys, time
cpu = "unknown"
try:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
except OSError:
    pass
print(json.dumps({"run": "meta", "date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                  "cpu": cpu, "cpus": os.cpu_count(), "server_workers": int(sys.argv[1] or 0)},
                 separators=(",", ":")))
EOF

if [ "$sweep" = 1 ]; then
  IFS=',' read -r -a names <<< "$scenarios"
  for name in "${names[@]}"; do
    fn="scenario_${name//-/_}"
    if ! declare -F "$fn" >/dev/null; then
      echo "load.sh: unknown scenario $name" >&2
      exit 2
    fi
    for c in $connections; do
      "$fn" "$c"
    done
  done
fi

if [ "$ratio_run" = 1 ]; then
  ratios=()
  for round in $(seq "$ratio_rounds"); do
    scenario_healthz 64 0 ratio
    healthz_max=$last_throughput
    authorize_available || break
    # The last round's flat-out authorize step is profiled (perf, when installed): the "where
    # the time goes" line of the ratio target.
    if [ "$round" = "$ratio_rounds" ]; then
      profile_start authorize "$warmup" "$(python3 -c "print(max(1, $duration - 1))")"
    fi
    scenario_authorize 64 0 ratio
    if [ "$round" = "$ratio_rounds" ]; then
      profile_finish "$out"
    fi
    authorize_max=$last_throughput
    ratio=$(python3 -c "print('%.3f' % ($authorize_max / $healthz_max if $healthz_max else 0.0))")
    ratios+=("$ratio")
    echo "ratio run (round $round of $ratio_rounds): authorize $authorize_max req/s /" \
      "healthz $healthz_max req/s = $ratio (DESIGN §7 target >= 0.50)" >&2
  done
  if [ "${#ratios[@]}" -gt 0 ]; then
    half=$((authorize_max / 2))
    if [ "$half" -lt 1 ]; then
      half=1
    fi
    scenario_authorize 64 "$half" ratio
    if [ "${#ratios[@]}" -gt 1 ]; then
      python3 -c "
import statistics, sys
r = [float(x) for x in sys.argv[1:]]
print('ratio run: median of %d rounds %.3f (min %.3f, max %.3f)'
      % (len(r), statistics.median(r), min(r), max(r)))" "${ratios[@]}" >&2
    fi
  fi
fi
echo "wrote $out" >&2
