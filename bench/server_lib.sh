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

# start_mandated_server PROG ARGS...: starts "$server_bin" on a fresh "$work/data" at a free
# loopback port with the operator token "$operator_token", its log appended to "$server_log"
# (so callers may truncate it between runs), "--workers $workers" when set, and ARGS. Sets
# server_pid, port, server_workers and base. PROG names the calling script in errors.
start_mandated_server() {
  local prog=$1
  shift
  local args=(--data-dir "$work/data" --listen 127.0.0.1:0 "$@")
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
