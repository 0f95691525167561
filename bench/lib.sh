# Shell helpers shared by the benchmark scripts (sourced, not run). The caller sets IP and OUT
# before using wait_port, and calls bench_track_processes once before starting anything.

# ---- process bookkeeping: every process started by the script, stopped by PID on exit ----
# Append each started process's PID to PIDS.
bench_track_processes() {
    PIDS=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}
bench_cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    sleep 0.5
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}

# Waits (at most 10 s) until something accepts TCP connections on $IP:PORT; exits 2 if PID exits
# first or nothing listens in time.
wait_port() {
    local port=$1 pid=$2 what=$3 end=$((SECONDS + 10))
    while [ "$SECONDS" -le "$end" ]; do
        (exec 3<>"/dev/tcp/$IP/$port") 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { echo "$what exited; see $OUT" >&2; exit 2; }
        sleep 0.1
    done
    echo "$what does not listen on $IP:$port within 10 s; see $OUT" >&2
    exit 2
}

# The arguments in reverse order.
reverse() { local out=() x; for x in "$@"; do out=("$x" "${out[@]}"); done; echo "${out[@]}"; }

# The mean of space-separated numbers, with $2 decimals (default 0); "-" when there are none.
mean() { echo "$1" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; if (NF) printf "%.*f", p, s / NF; else printf "-" }' p="${2:-0}"; }

# Space-separated values as "a / b / c".
each() { local s=$1; echo "${s// / \/ }"; }
