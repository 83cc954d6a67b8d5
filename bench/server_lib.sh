# Shell functions the HTTP load scripts share (bench/load.sh, bench/x402_load.sh): starting the
# release server on a free port and waiting for a child to announce its port. Source it; it
# defines functions only.

# wait_for_port NAME PID FILE SED_EXPR ERR_FILE: polls FILE (up to 10 s) until SED_EXPR (a
# `sed -n` script printing the port) prints a number, and echoes it. Exits the script, showing
# ERR_FILE, if PID dies first or nothing appears in time.
wait_for_port() {
  local name=$1 pid=$2 file=$3 expr=$4 err=$5 found=""
  for _ in $(seq 200); do
    found=$(sed -n "$expr" "$file" | head -1)
    if [ -n "$found" ]; then
      echo "$found"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited:" >&2
      cat "$err" >&2
      exit 1
    fi
    sleep 0.05
  done
  echo "$name did not announce its port" >&2
  exit 1
}

# start_mandated_server PROG ARGS...: starts "$server_bin" on "$data_dir" when set (an existing
# store, e.g. an audit_fixture's), else on a fresh "$work/data", at a free
# loopback port with the operator token "$operator_token", its log appended to "$server_log"
# (so callers may truncate it between runs), "--workers $workers" when set, and ARGS. Sets
# server_pid, port, server_workers and base. PROG names the calling script in errors.
start_mandated_server() {
  local prog=$1
  shift
  local args=(--data-dir "${data_dir:-$work/data}" --listen 127.0.0.1:0 "$@")
  if [ -n "${workers:-}" ]; then
    args+=(--workers "$workers")
  fi
  MANDATED_BOOTSTRAP_TOKEN="$operator_token" "$server_bin" "${args[@]}" \
    >"$work/server.out" 2>>"$server_log" &
  server_pid=$!
  port=$(wait_for_port "$prog: the server" "$server_pid" "$server_log" \
    's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$server_log")
  server_workers=$(sed -n 's/.*"msg":"listening".*"workers":\([0-9]*\).*/\1/p' "$server_log" \
    | head -1)
  base="http://127.0.0.1:$port"
  echo "server on $base (pid $server_pid, ${server_workers:-?} workers)" >&2
}

# profile_start NAME DELAY SECONDS: in the background, waits DELAY seconds (the driver's
# warm-up), then samples the server ($server_pid) with `perf record -g` for SECONDS into
# "$work/NAME.perf". Without perf, does nothing (profile_finish records why).
profile_start() {
  profile_name=$1
  profile_pid=""
  if ! command -v perf >/dev/null 2>&1; then
    return 0
  fi
  (sleep "$2"; perf record -F 499 -g -o "$work/$1.perf" -p "$server_pid" -- sleep "$3") \
    >/dev/null 2>&1 &
  profile_pid=$!
}

# profile_finish OUT: waits for the profile_start sampler and appends its summary (one JSON
# line, bench/perf_summary.py) to OUT, or a line saying why there is none.
profile_finish() {
  if [ -z "${profile_pid:-}" ]; then
    echo "{\"run\":\"profile\",\"name\":\"$profile_name\",\"error\":\"perf is not installed\"}" \
      >> "$1"
    return 0
  fi
  wait "$profile_pid" || true
  if [ -s "$work/$profile_name.perf" ]; then
    python3 bench/perf_summary.py "$work/$profile_name.perf" "$profile_name" >> "$1"
  else
    echo "{\"run\":\"profile\",\"name\":\"$profile_name\",\"error\":\"perf recorded nothing\"}" \
      >> "$1"
  fi
}
