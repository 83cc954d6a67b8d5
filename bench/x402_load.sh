#!/usr/bin/env bash
# x402 scenarios over HTTP on loopback (issue 8): our facilitator's POST /x402/verify beside the
# reference facilitator's POST /verify (@x402/core + @x402/evm from npm, served by
# tests/interop/reference_facilitator_server.mjs) in the same run, then usage ingestion through
# POST /v1/usage batches. Starts build/release/api/mandated on a fresh data directory and the
# reference server, each on a free port; sets up a principal, a merchant credential and the
# payer's deposit over HTTP; checks that both facilitators answer isValid true for the vector;
# then drives everything with bench/load_driver: GET /healthz once per connection count (what
# any request costs our server), the verify rounds, the usage batches. Every result is one JSON
# line in --out
# (bench/load_report.py --x402 turns the file into BENCHMARKS.md's x402 section).
#
# Usage: bench/x402_load.sh --out FILE [--rounds N] [--connections "16 64"] [--duration S]
#          [--warmup S] [--batch-sizes "1000 10000"] [--usage-connections N] [--workers N]
#          [--no-build]
#   --rounds N     verify rounds (default 3); each round drives ours then the reference at each
#                  connection count, flat out, with the same driver settings, so both see the
#                  same machine over the run. An unreported round at the first connection count
#                  comes before them (warms node's JIT).
#   --batch-sizes  events per POST /v1/usage batch; each size is driven flat out once (at
#                  --usage-connections, default 8: enough to keep both cores busy while some
#                  batches wait on their synced write), every request a batch of fresh
#                  event ids ("u<size>-<seq>-<i>").
# MANDATED_BENCH_BUILD_DIR picks the build directory (default build/release).
#
# The verify body is the long-lived v2 vector's "POST /verify" request (valid against the real
# clock; verify is read-only, so the same body is sent again and again). The server has its
# default settings but for raised rate limits and a body limit that admits a batch of 10,000
# events. Each run also records the CPU time of both servers and of the driver (from /proc and
# getrusage) and the CPU the rest of the machine used meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/server_lib.sh
source bench/server_lib.sh

build="${MANDATED_BENCH_BUILD_DIR:-build/release}"
out=""
rounds=3
connections="16 64"
duration=5
warmup=1
batch_sizes="1000 10000"
usage_connections=8
workers=""
do_build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --batch-sizes) batch_sizes="$2"; shift 2 ;;
    --usage-connections) usage_connections="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "x402_load.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$out" ]; then
  echo "x402_load.sh: --out FILE is required" >&2
  exit 2
fi
: > "$out"

if [ "$do_build" = 1 ]; then
  cmake --preset release -B "$build" -DMANDATED_BUILD_BENCHMARKS=ON >/dev/null
  cmake --build "$build" --target load_driver mandated >&2
fi
driver="$build/bench/load_driver"
server_bin="$build/api/mandated"
vector=tests/vectors/x402/vector_v2_avalanche_usdc_250000_longlived.json
"$driver" --self-test

work=$(mktemp -d)
server_pid=""
ref_pid=""
cleanup() {
  for pid in $server_pid $ref_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# ---- The servers ----

operator_token="bench-operator-token-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
unlimited=1000000/1000000
server_log="$work/server.log"

start_server() {
  # 16 MiB: a batch of 10,000 events is about 1.2 MB; the default limit is 64 KiB.
  start_mandated_server x402_load.sh --max-body-bytes 16777216 \
    --rate-limits "operator=$unlimited,admin=$unlimited,merchant=$unlimited,agent=$unlimited"
}

start_reference() {
  # The reference packages, pinned by tests/interop/package-lock.json (as scripts/test.sh does).
  if [ ! -f tests/interop/node_modules/.package-lock.json ] ||
     [ tests/interop/package-lock.json -nt tests/interop/node_modules/.package-lock.json ]; then
    (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error) >&2
  fi
  node tests/interop/reference_facilitator_server.mjs --vector "$vector" \
    >"$work/ref.out" 2>"$work/ref.err" &
  ref_pid=$!
  ref_port=$(wait_for_port "x402_load.sh: the reference server" "$ref_pid" "$work/ref.out" \
    's/^{"port":\([0-9]*\)}$/\1/p' "$work/ref.err")
  echo "reference facilitator on http://127.0.0.1:$ref_port (pid $ref_pid," \
    "node $(node --version))" >&2
}

# ---- Fixtures (all over HTTP) ----

# Writes into $work: verify.json (the vector's POST /verify body), merchant.token, and
# usage-<n>.json for each batch size (a POST /v1/usage body whose event ids carry {seq}). One
# principal, one merchant credential, and a deposit for the vector's payer in the vector's token,
# far more than its amount (verify checks the payer's ledger balance).
setup_fixtures() {
  BASE="$base" TOKEN="$operator_token" WORK="$work" VECTOR="$vector" SIZES="$batch_sizes" \
    python3 - <<'EOF'
import json, os, urllib.request, urllib.error

base, token, work = os.environ["BASE"], os.environ["TOKEN"], os.environ["WORK"]

def call(method, path, body=None, bearer=token, expect=(200, 201), headers=()):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + bearer)
    for k, v in headers:
        req.add_header(k, v)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    if status not in expect:
        raise SystemExit(f"x402_load.sh setup: {method} {path}: {status} {text}")
    return json.loads(text)

verify = json.load(open(os.environ["VECTOR"]))["facilitatorRequests"]["POST /verify"]
req = verify["paymentRequirements"]
auth = verify["paymentPayload"]["payload"]["authorization"]
chain = req["network"].split(":", 1)[1]
asset = f"eip155:{chain}/erc20:{req['asset'].lower()}"

p = call("POST", "/v1/principals", {"name": "Bench x402 merchant"})["id"]
merchant = call("POST", f"/v1/principals/{p}/credentials",
                {"role": "merchant", "name": "bench facilitator client"})
call("POST", "/v1/ledger/deposits",
     {"account": f"eip155:{chain}:{auth['from'].lower()}", "asset": asset,
      "amount": str(int(auth["value"]) * 10**9)},
     headers=[("Idempotency-Key", "bench-x402-deposit")])
with open(f"{work}/verify.json", "w") as f:
    json.dump(verify, f, separators=(",", ":"))
with open(f"{work}/merchant.token", "w") as f:
    f.write(merchant["token"] + "\n")
# Usage events as a metered API would report them: one call each, a small amount of the token.
payee = f"eip155:{chain}:{req['payTo'].lower()}"
for n in os.environ["SIZES"].split():
    # {seq} restarts at 0 in each driver run: the batch size in the id keeps runs apart.
    events = [{"id": f"u{n}-{{seq}}-{i}", "payee": payee, "asset": asset, "amount": "250",
               "quantity": 1, "resource": "https://api.example.com/premium-data"}
              for i in range(int(n))]
    text = json.dumps({"events": events}, separators=(",", ":"))
    with open(f"{work}/usage-{n}.json", "w") as f:
        f.write(text)
print(f"fixtures: principal {p}, merchant credential, deposit for {auth['from']}; usage batch "
      f"bodies of {os.environ['SIZES']} events")
EOF
}

# Both facilitators must call the vector valid before anything is measured: a rate of refusals
# would compare nothing.
check_valid() {  # NAME URL [AUTH_HEADER]
  local name=$1 url=$2 answer
  shift 2
  answer=$(curl -s -X POST "$url" -H 'Content-Type: application/json' "$@" \
    --data-binary @"$work/verify.json")
  if ! grep -q '"isValid":true' <<< "$answer"; then
    echo "x402_load.sh: $name does not call the vector valid: $answer" >&2
    exit 1
  fi
  echo "$name: $answer" >&2
}

# ---- Running the driver ----

# drive RUN SCENARIO CONNECTIONS EVENTS_PER_REQUEST DRIVER_FLAGS...: one flat-out run, appended
# to $out as one JSON line: the driver's, plus the run's name, events per request, the CPU
# seconds of the driven server, of the idle one and of the driver, and of the whole machine
# (from /proc/stat) over the run, so what else used the cores shows. Echoed to stderr.
drive() {
  local run=$1 scenario=$2 conns=$3 events=$4
  shift 4
  local threads=1 target_pid=$server_pid
  if [ "$conns" -ge 64 ]; then
    threads=2
  fi
  if [ "$scenario" = reference-verify ]; then
    target_pid=$ref_pid
  fi
  : > "$server_log"  # bound the log's size (the server appends)
  RUN="$run" EVENTS="$events" WORKERS="${server_workers:-0}" SERVER="$server_pid" \
    REF="$ref_pid" TARGET="$target_pid" python3 - "$driver" --port "$(port_of "$scenario")" \
    --scenario "$scenario" --connections "$conns" --threads "$threads" --rate 0 \
    --duration "$duration" --warmup "$warmup" "$@" >> "$out" <<'EOF'
import json, os, resource, subprocess, sys

hz = os.sysconf("SC_CLK_TCK")

def proc_cpu(pid):  # user + system seconds of a process (all its threads)
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / hz

def threads_cpu(pid):  # {thread name: user + system seconds} over a process's live threads
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
        except OSError:  # the thread ended meanwhile
            continue
        name, fields = head.split("(", 1)[1], rest.split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / hz
    return out

def machine():  # (busy, total) CPU seconds of the whole machine since boot
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / hz, sum(v[:8]) / hz

server, ref, target = os.environ["SERVER"], os.environ["REF"], os.environ["TARGET"]
other_pid = ref if target == server else server
before = proc_cpu(target), proc_cpu(other_pid), machine()
threads_before = threads_cpu(target)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
line = subprocess.run(sys.argv[1:], check=True, stdout=subprocess.PIPE, text=True).stdout
kids2 = resource.getrusage(resource.RUSAGE_CHILDREN)
after = proc_cpu(target), proc_cpu(other_pid), machine()
threads_after = threads_cpu(target)
d = json.loads(line)
served = d["throughput_rps"] * (d["warmup_s"] + d["duration_s"])
wall = after[2][1] - before[2][1]  # CPU-seconds of all cores over the run
cpus = os.cpu_count()
cpu = {
    "server_s": round(after[0] - before[0], 3),
    "idle_server_s": round(after[1] - before[1], 3),
    "driver_s": round((kids2.ru_utime + kids2.ru_stime) - (kids.ru_utime + kids.ru_stime), 3),
    "machine_busy_s": round(after[2][0] - before[2][0], 3),
    "elapsed_s": round(wall / cpus, 3),
}
# The driven server's CPU by thread name (e.g. RocksDB's "rocksdb:low" compactions apart from
# the request workers); threads that ended during the run are missing.
cpu["server_threads_s"] = {k: round(v - threads_before.get(k, 0.0), 3)
                           for k, v in sorted(threads_after.items())
                           if v - threads_before.get(k, 0.0) > 0}
cpu["others_s"] = round(max(0.0, cpu["machine_busy_s"] - cpu["server_s"] - cpu["idle_server_s"]
                            - cpu["driver_s"]), 3)
d = {"run": os.environ["RUN"], **d, "events_per_request": int(os.environ["EVENTS"]),
     "server_workers": int(os.environ["WORKERS"]), "cpu": cpu}
if "--body-file" in sys.argv:  # the template's size: {seq} adds a few bytes per event
    d["body_bytes"] = os.path.getsize(sys.argv[sys.argv.index("--body-file") + 1])
if served > 0:
    d["server_cpu_us_per_request"] = round(cpu["server_s"] * 1e6 / served, 1)
print(json.dumps(d, separators=(",", ":")))
l = d["latency_us"]
print("%-6s %-17s %3d conns %9.0f req/s %11.0f events/s  p50 %7.0f us  p99 %8.0f us  "
      "server CPU %8.1f us/req  cpu s: server %.1f driver %.1f others %.1f of %.1f  "
      "statuses %s  errors %d  mismatches %s" % (
          d["run"], d["scenario"], d["connections"], d["throughput_rps"],
          d["throughput_rps"] * d["events_per_request"], l["p50"], l["p99"],
          d.get("server_cpu_us_per_request", 0.0), cpu["server_s"], cpu["driver_s"],
          cpu["others_s"], cpu["elapsed_s"] * cpus, d["responses"], d["error_count"],
          d["mismatches"]), file=sys.stderr)
EOF
}

port_of() {
  if [ "$1" = reference-verify ]; then echo "$ref_port"; else echo "$port"; fi
}

# GET /healthz: what any request costs the server (HTTP, routing, logging) beside a verify.
scenario_healthz() {  # CONNECTIONS
  drive floor healthz "$1" 1 --method GET --path /healthz --expect-status 200 \
    --expect-body-contains '"status":"ok"'
}

scenario_verify() {  # RUN CONNECTIONS
  drive "$1" verify "$2" 1 --method POST --path /x402/verify \
    --header "Authorization: Bearer $(cat "$work/merchant.token")" \
    --header 'Content-Type: application/json' --body-file "$work/verify.json" \
    --expect-status 200 --expect-body-contains '"isValid":true'
}

scenario_reference_verify() {  # RUN CONNECTIONS
  drive "$1" reference-verify "$2" 1 --method POST --path /verify \
    --header 'Content-Type: application/json' --body-file "$work/verify.json" \
    --expect-status 200 --expect-body-contains '"isValid":true'
}

scenario_usage() {  # BATCH_SIZE CONNECTIONS
  drive usage "usage-$1" "$2" "$1" --method POST --path /v1/usage \
    --header "Authorization: Bearer $(cat "$work/merchant.token")" \
    --header 'Content-Type: application/json' --body-file "$work/usage-$1.json" \
    --expect-status 200 --expect-body-contains "\"accepted\":$1" --timeout-ms 30000
}

# ---- Main ----

start_server
start_reference
setup_fixtures >&2
check_valid "ours (/x402/verify)" "$base/x402/verify" \
  -H "Authorization: Bearer $(cat "$work/merchant.token")"
check_valid "reference (/verify)" "http://127.0.0.1:$ref_port/verify"
python3 - "$server_workers" "$(node --version)" >> "$out" <<'EOF'
import json, os, sys, time
cpu = "unknown"
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
print(json.dumps({"run": "meta", "date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                  "cpu": cpu, "cpus": os.cpu_count(), "load_avg": list(os.getloadavg()),
                  "server_workers": int(sys.argv[1] or 0), "node": sys.argv[2]},
                 separators=(",", ":")))
EOF

for c in $connections; do
  scenario_healthz "$c"
done
# One unreported round first: node's JIT and both servers' caches reach their steady state, so
# the first measured round is not the reference's (or our) cold start.
c_first=${connections%% *}
scenario_verify warm "$c_first"
scenario_reference_verify warm "$c_first"
# The last round's verify at 16 connections (or the first count) and the largest usage batch
# are profiled (perf, when installed): the "where the time goes" lines of their targets.
profile_conns=16
case " $connections " in *" 16 "*) ;; *) profile_conns=$c_first ;; esac
measure_s=$(python3 -c "print(max(1, $duration - 1))")
for round in $(seq "$rounds"); do
  for c in $connections; do
    profiled=0
    if [ "$round" = "$rounds" ] && [ "$c" = "$profile_conns" ]; then profiled=1; fi
    if [ "$profiled" = 1 ]; then profile_start verify "$warmup" "$measure_s"; fi
    scenario_verify "round$round" "$c"
    if [ "$profiled" = 1 ]; then profile_finish "$out"; fi
    scenario_reference_verify "round$round" "$c"
  done
done
last_size=${batch_sizes##* }
for n in $batch_sizes; do
  if [ "$n" = "$last_size" ]; then profile_start usage "$warmup" "$measure_s"; fi
  scenario_usage "$n" "$usage_connections"
  if [ "$n" = "$last_size" ]; then profile_finish "$out"; fi
done
python3 -c '
import json, os, sys
print(json.dumps({"run": "end", "load_avg": list(os.getloadavg())}, separators=(",", ":")))' \
  >> "$out"
echo "wrote $out" >&2
