#!/usr/bin/env bash
# Switchboard's HTTP balancer against HAProxy, side by side in one run, on this machine.
#
#   wrk (keep-alive) -> balancer -> two nginx nodes, HTTP/1.1 over loopback, for each target:
#     * Switchboard on each runtime, `switchboard` (tokio) and `switchboard-smol` (release
#       builds), the nginx nodes registered through the HTTP/JSON heartbeat with jvmRoute node1
#       and node2 (a small heartbeat client stands in for the nodes, which cannot heartbeat);
#     * HAProxy, `mode http`, keep-alive, `balance roundrobin`, stickiness by the Tomcat
#       jvmRoute (`use-server nodeN if { req.cook(JSESSIONID) -m end .nodeN }`), and the same
#       X-Forwarded-For/-Proto/-Port fields Switchboard adds;
#     * directly one nginx node (node1), no balancer: the ceiling of client and node together.
#   Each nginx node (worker_processes 1, access_log off) answers every request with a static
#   BODY_BYTES-byte 200, `X-Served-By: nodeN`, and `Set-Cookie: JSESSIONID=<id>.nodeN` when the
#   request has no JSESSIONID cookie. wrk's script sends JSESSIONID=<id>.node1 and .node2 on
#   alternate requests, so every request goes through the sticky choice.
#
#   One event-loop thread each: Switchboard runs its default single-threaded executor (tokio's
#   current-thread runtime, or smol's executor on the main thread: THREAD_POOL_SIZE unset, see
#   adapter/src/startup.rs), HAProxy runs with `nbthread 1` (HAPROXY_THREADS). CPU is each
#   balancer's utime+stime from /proc/<pid>/stat (all its threads) before and after each wrk run,
#   per 10,000 requests; the nginx nodes' CPU is reported the same way.
#
#   Before measuring, curl checks through each balancer that a request carrying
#   `Cookie: JSESSIONID=x.node1` (then .node2) is answered by that node five times out of five,
#   and Switchboard's /lbinfo lists both nodes. Then a short warm-up run per target, an idle-CPU
#   baseline, and ROUNDS rounds of one wrk run per target, the order reversed every other round.
#
# Usage: bench/http-vs-haproxy.sh
# Environment (all optional):
#   SWITCHBOARD=path        use this tokio binary instead of building target/release/switchboard
#   SWITCHBOARD_SMOL=path   use this smol binary instead of building target/release/switchboard-smol
#   RUNTIMES="tokio smol"   which Switchboard binaries to measure ("" for HAProxy and nginx only)
#   DURATION=10             seconds of each wrk run
#   ROUNDS=3                rounds (one run per target each)
#   CONNECTIONS=50          wrk's keep-alive connections (wrk -c); WRK_THREADS=1 (wrk -t)
#   HAPROXY_THREADS=1       HAProxy's nbthread
#   BODY_BYTES=200          size of the nodes' response body
#   QUICK=1                 a smoke run of about 35 s (DURATION=4, ROUNDS=1, 1 s warm-up)
#   OUT=dir                 where configurations, logs and wrk outputs go (default: mktemp)
# Needs: wrk, nginx, haproxy, curl, python3; the missing ones among wrk, nginx, haproxy and curl
# are installed with apt-get (through sudo when not root). Only the nginx and haproxy binaries
# are used, each on a generated configuration; their packaged services are not.
# Exit status: 0; 1 if a target answered more than 0.1 % of its requests with errors (socket
# errors, timeouts, status >= 400) or stickiness through a balancer is broken; 2 on a setup error.
# Loopback only; bounded in time (about 2.5 minutes with the defaults, plus the build; each wrk
# run is stopped by a timeout); stops only the processes it started, by PID.

set -euo pipefail

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    DURATION=${DURATION:-4} ROUNDS=${ROUNDS:-1} WARMUP=${WARMUP:-1}
else
    DURATION=${DURATION:-10} ROUNDS=${ROUNDS:-3} WARMUP=${WARMUP:-2}
fi
CONNECTIONS=${CONNECTIONS:-50}
WRK_THREADS=${WRK_THREADS:-1}
HAPROXY_THREADS=${HAPROXY_THREADS:-1}
BODY_BYTES=${BODY_BYTES:-200}
RUNTIMES=${RUNTIMES-"tokio smol"}
IDLE_SECONDS=3
# Errors and status >= 400 allowed per target, in requests per 100,000 (0.1 %).
MAX_ERRORS_PER_100K=100

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
HELPER="$HERE/bench_helper.py"
IP=127.0.0.1

# ---- tools: install the missing ones ----
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
command -v python3 >/dev/null 2>&1 || { echo "missing: python3" >&2; exit 2; }
need=()
for tool in wrk nginx haproxy curl; do have "$tool" || need+=("$tool"); done
if [ "${#need[@]}" -gt 0 ]; then
    echo "installing ${need[*]} (apt-get)..." >&2
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
    for tool in "${need[@]}"; do have "$tool" || { echo "missing: $tool" >&2; exit 2; }; done
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
CLK_TCK=$(getconf CLK_TCK)

declare -A BINARY
for rt in $RUNTIMES; do
    case $rt in
    tokio) pkg=switchboard-tokio bin=switchboard given=${SWITCHBOARD:-} ;;
    smol) pkg=switchboard-smol bin=switchboard-smol given=${SWITCHBOARD_SMOL:-} ;;
    *) echo "unknown runtime $rt (tokio, smol)" >&2; exit 2 ;;
    esac
    if [ -z "$given" ]; then
        echo "building $bin (release)..." >&2
        (cd "$ROOT" && cargo build --release -p "$pkg" --bin "$bin" --quiet)
        given="${CARGO_TARGET_DIR:-$ROOT/target}/release/$bin"
    fi
    [ -x "$given" ] || { echo "no $bin binary at $given" >&2; exit 2; }
    BINARY[$rt]=$given
done

OUT=${OUT:-$(mktemp -d /tmp/http-vs-haproxy.XXXXXX)}
mkdir -p "$OUT"
echo "files: $OUT" >&2

# ---- process bookkeeping: every process started here, stopped by PID on exit ----
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    sleep 0.5
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits (at most 10 s) until something accepts TCP connections on PORT; fails if PID exits.
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

mapfile -t P < <(python3 "$HELPER" ports 16)
NODE_PORT=([1]="${P[0]}" [2]="${P[1]}")
HAPROXY_PORT=${P[2]}
# Switchboard instance n (0, 1) uses ports SB_PORTS[5n..5n+4]: HTTP, heartbeat, API, SIP
# external and internal UDP (SIP is not measured here, but each leg needs a listener).
SB_PORTS=("${P[@]:3:10}")

# ---- two nginx nodes ----
declare -A TARGET PID_OF LABEL
TARGETS=()
BODY=$(head -c "$BODY_BYTES" /dev/zero | tr '\0' 'x')
for n in 1 2; do
    name=node$n
    dir="$OUT/$name"
    mkdir -p "$dir/tmp"
    cat >"$dir/nginx.conf" <<EOF
# HTTP node $name: a static $BODY_BYTES-byte answer, X-Served-By, a Tomcat-style session cookie
# (<id>.<jvmRoute>) for requests that have none.
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    # Connections are kept for the whole run (nginx closes one after 1,000 requests by default).
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    map \$cookie_JSESSIONID \$new_session {
        ""      "JSESSIONID=\$request_id.$name; Path=/";
        default "";
    }
    server {
        listen $IP:${NODE_PORT[$n]};
        location / {
            default_type text/plain;
            add_header X-Served-By $name always;
            add_header Set-Cookie \$new_session;
            return 200 "$BODY";
        }
    }
}
EOF
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' \
        </dev/null >"$dir/nginx.log" 2>&1 &
    PIDS+=($!)
    PID_OF[$name]=$!
    wait_port "${NODE_PORT[$n]}" "${PID_OF[$name]}" "nginx $name"
done

# ---- Switchboard, one instance per runtime ----
start_switchboard() {
    local rt=$1 n=$2 name http hb api ext int pid end
    name=$([ "$rt" = tokio ] && echo switchboard || echo "switchboard-$rt")
    http=${SB_PORTS[$((5 * n))]} hb=${SB_PORTS[$((5 * n + 1))]} api=${SB_PORTS[$((5 * n + 2))]}
    ext=${SB_PORTS[$((5 * n + 3))]} int=${SB_PORTS[$((5 * n + 4))]}
    mkdir -p "$OUT/$name"
    cat >"$OUT/$name/lb-configuration.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<load-balancer-properties>
  <common>
    <host>$IP</host>
    <nodeTimeout>8400</nodeTimeout>
    <heartbeatInterval>150</heartbeatInterval>
    <apiPort>$api</apiPort>
  </common>
  <sip>
    <algorithm>
      <algorithmClass>org.mobicents.tools.sip.balancer.CallIDAffinityBalancerAlgorithm</algorithmClass>
    </algorithm>
    <external><udpPort>$ext</udpPort><tcpPort>0</tcpPort></external>
    <internal><udpPort>$int</udpPort><tcpPort>0</tcpPort></internal>
  </sip>
  <http><httpPort>$http</httpPort></http>
  <heartbeat>
    <heartbeatConfig>
      <protocolClassName>org.mobicents.tools.heartbeat.impl.ServerController</protocolClassName>
      <heartbeatPort>$hb</heartbeatPort>
    </heartbeatConfig>
  </heartbeat>
</load-balancer-properties>
EOF
    RUST_LOG=${RUST_LOG:-warn} NO_COLOR=1 "${BINARY[$rt]}" --config "$OUT/$name/lb-configuration.xml" \
        </dev/null >"$OUT/$name/switchboard.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_port "$hb" "$pid" "$name"
    # The nginx nodes register through the HTTP/JSON heartbeat and heartbeat every second.
    rm -f "$OUT/$name/nodes.ready"
    python3 "$HELPER" httpnodes "$hb" "$OUT/$name/nodes.ready" \
        "node1=${NODE_PORT[1]}" "node2=${NODE_PORT[2]}" >"$OUT/$name/nodes.log" 2>&1 &
    PIDS+=($!)
    end=$((SECONDS + 12))
    while [ "$SECONDS" -le "$end" ] && ! [ -s "$OUT/$name/nodes.ready" ]; do sleep 0.1; done
    [ -s "$OUT/$name/nodes.ready" ] || { echo "nodes did not register with $name:" >&2; cat "$OUT/$name/nodes.log" >&2; exit 2; }
    if ! python3 "$HELPER" lbinfo "$api" "node1=${NODE_PORT[1]}" "node2=${NODE_PORT[2]}" >"$OUT/$name/lbinfo.txt" 2>&1; then
        echo "$name: /lbinfo does not list both nodes:" >&2
        cat "$OUT/$name/lbinfo.txt" >&2
        exit 2
    fi
    echo "$name: both nodes registered (/lbinfo)" >&2
    wait_port "$http" "$pid" "$name (HTTP)"
    TARGETS+=("$name")
    TARGET[$name]="$IP:$http"
    PID_OF[$name]=$pid
    LABEL[$name]="$name ($rt)"
}
n=0
for rt in $RUNTIMES; do
    start_switchboard "$rt" "$n"
    n=$((n + 1))
done

# ---- HAProxy ----
mkdir -p "$OUT/haproxy"
cat >"$OUT/haproxy/haproxy.cfg" <<EOF
# HTTP balancer: keep-alive both sides, Tomcat jvmRoute stickiness, round robin otherwise.
global
    nbthread $HAPROXY_THREADS
    maxconn 4000
defaults
    mode http
    option http-keep-alive
    option forwardfor
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
frontend http_in
    bind $IP:$HAPROXY_PORT
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Port %[dst_port]
    default_backend nodes
backend nodes
    balance roundrobin
    use-server node1 if { req.cook(JSESSIONID) -m end .node1 }
    use-server node2 if { req.cook(JSESSIONID) -m end .node2 }
    server node1 $IP:${NODE_PORT[1]}
    server node2 $IP:${NODE_PORT[2]}
EOF
"$HAPROXY" -c -q -f "$OUT/haproxy/haproxy.cfg" >"$OUT/haproxy/check.log" 2>&1 \
    || { cat "$OUT/haproxy/check.log" >&2; exit 2; }
"$HAPROXY" -db -f "$OUT/haproxy/haproxy.cfg" </dev/null >"$OUT/haproxy/haproxy.log" 2>&1 &
PIDS+=($!)
PID_OF[haproxy]=$!
wait_port "$HAPROXY_PORT" "${PID_OF[haproxy]}" haproxy
TARGETS+=(haproxy)
TARGET[haproxy]="$IP:$HAPROXY_PORT"
LABEL[haproxy]="haproxy $("$HAPROXY" -v | sed -n '1s/^HAProxy version \([^ ]*\).*/\1/p') (nbthread $HAPROXY_THREADS)"
BALANCERS=("${TARGETS[@]}")

TARGETS+=(direct)
TARGET[direct]="$IP:${NODE_PORT[1]}"
LABEL[direct]="nginx node1 direct"

# ---- stickiness through each balancer, checked with curl ----
sticky_failed=()
for b in "${BALANCERS[@]}"; do
    for route in node1 node2; do
        ok=0 seen=""
        for i in 1 2 3 4 5; do
            served=$(curl -s -m 3 -o /dev/null -D - -H "Cookie: JSESSIONID=check$i.$route" \
                "http://${TARGET[$b]}/sticky-check" 2>/dev/null | tr -d '\r' \
                | awk -F': *' 'tolower($1) == "x-served-by" { print $2 }' || true)
            seen+="${served:--} "
            [ "$served" = "$route" ] && ok=$((ok + 1))
        done
        echo "$b: JSESSIONID=x.$route answered by: $seen($ok/5)" >&2
        [ "$ok" = 5 ] || sticky_failed+=("$b ($route: $ok/5)")
    done
    # Without a cookie: any node, which hands out a session of its jvmRoute.
    fresh=$(curl -s -m 3 -o /dev/null -D - "http://${TARGET[$b]}/" 2>/dev/null | tr -d '\r' \
        | awk -F': *' 'tolower($1) == "set-cookie" { print $2 }' || true)
    echo "$b: a request without a cookie got Set-Cookie: ${fresh:--}" >&2
done
if [ "${#sticky_failed[@]}" -gt 0 ]; then
    echo "stickiness broken: ${sticky_failed[*]}" >&2
    exit 1
fi

# ---- wrk: keep-alive connections, a JSESSIONID of node1 and node2 on alternate requests ----
cat >"$OUT/sticky.lua" <<'EOF'
-- Alternates Cookie: JSESSIONID=<id>.node1 and .node2 per request (two prepared requests) and
-- prints one machine-readable SUMMARY line at the end.
local prepared, n = {}, 0

function init(args)
    for i, route in ipairs({ "node1", "node2" }) do
        wrk.headers["Cookie"] = "JSESSIONID=5F3A9C0B7D2E4A61B8C9D0E1F2A3B4C5." .. route
        prepared[i] = wrk.format()
    end
end

function request()
    n = n + 1
    return prepared[n % 2 + 1]
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "SUMMARY requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
        summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
        e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
EOF

# One wrk run against target $1 for $2 seconds, its output in $OUT/$3.txt.
run_wrk() {
    local target=$1 seconds=$2 tag=$3 rc=0
    timeout -k 5 $((seconds + 30)) wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${seconds}s" --timeout 5s \
        --latency -s "$OUT/sticky.lua" "http://${TARGET[$target]}/" >"$OUT/$tag.txt" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait "$pid" || rc=$?
    [ "$rc" = 0 ] || echo "wrk exited with $rc against $target; see $OUT/$tag.txt" >&2
}

nginx_ticks() { echo $(( $(python3 "$HELPER" cpu "${PID_OF[node1]}") + $(python3 "$HELPER" cpu "${PID_OF[node2]}") )); }

reverse() { local out=() x; for x in "$@"; do out=("$x" "${out[@]}"); done; echo "${out[@]}"; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- warm-up (not measured) ----
for t in "${TARGETS[@]}"; do run_wrk "$t" "$WARMUP" "warmup-$t"; done

# ---- idle CPU of each balancer (heartbeats, timers) over the same seconds, as a baseline ----
declare -A IDLE_BEFORE IDLE_MS
for b in "${BALANCERS[@]}"; do IDLE_BEFORE[$b]=$(python3 "$HELPER" cpu "${PID_OF[$b]}"); done
sleep "$IDLE_SECONDS"
for b in "${BALANCERS[@]}"; do
    IDLE_MS[$b]=$(awk -v t=$(( $(python3 "$HELPER" cpu "${PID_OF[$b]}") - ${IDLE_BEFORE[$b]} )) -v hz="$CLK_TCK" -v s="$IDLE_SECONDS" 'BEGIN { printf "%.1f", t * 1000 / hz / s }')
    echo "idle $b: ${IDLE_MS[$b]} ms CPU per second" >&2
done

# ---- measured rounds ----
# Per target, space-separated values, one per round.
declare -A RPS P50 P99 CPU10K NGINX10K REQS ERRS
for t in "${TARGETS[@]}"; do RPS[$t]="" P50[$t]="" P99[$t]="" CPU10K[$t]="" NGINX10K[$t]="" REQS[$t]=0 ERRS[$t]=0; done
DETAILS=()
RUN=0
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then order=("${TARGETS[@]}"); else read -r -a order <<<"$(reverse "${TARGETS[@]}")"; fi
    for t in "${order[@]}"; do
        RUN=$((RUN + 1))
        tag=$(printf '%02d-%s' "$RUN" "$t")
        cpu_before=0
        [ "$t" = direct ] || cpu_before=$(python3 "$HELPER" cpu "${PID_OF[$t]}")
        nginx_before=$(nginx_ticks)
        run_wrk "$t" "$DURATION" "$tag"
        cpu_ticks=0
        [ "$t" = direct ] || cpu_ticks=$(( $(python3 "$HELPER" cpu "${PID_OF[$t]}") - cpu_before ))
        nginx_ticks=$(( $(nginx_ticks) - nginx_before ))
        requests=0 duration_us=1 connect=0 read=0 write=0 status=0 timeout=0 p50_us=0 p99_us=0
        if stat=$(python3 "$HELPER" wrkstat "$OUT/$tag.txt" 2>/dev/null); then
            while IFS='=' read -r key value; do
                case $key in
                requests | duration_us | connect | read | write | status | timeout | p50_us | p99_us) printf -v "$key" '%s' "$value" ;;
                esac
            done <<<"$stat"
        else
            echo "no wrk summary for $t; see $OUT/$tag.txt" >&2
            connect=1 # counted as a failed run
        fi
        errors=$((connect + read + write + status + timeout))
        read -r rps p50 p99 cpu10k nginx10k < <(awk -v r="$requests" -v d="$duration_us" -v a="$p50_us" -v b="$p99_us" \
            -v c="$cpu_ticks" -v g="$nginx_ticks" -v hz="$CLK_TCK" 'BEGIN {
                n = (r > 0 ? r : 1)
                printf "%.0f %.2f %.2f %.3f %.3f\n", r / (d / 1e6), a / 1000, b / 1000, c / hz * 10000 / n, g / hz * 10000 / n }')
        RPS[$t]+="${RPS[$t]:+ }$rps" P50[$t]+="${P50[$t]:+ }$p50" P99[$t]+="${P99[$t]:+ }$p99"
        NGINX10K[$t]+="${NGINX10K[$t]:+ }$nginx10k"
        [ "$t" = direct ] || CPU10K[$t]+="${CPU10K[$t]:+ }$cpu10k"
        REQS[$t]=$((${REQS[$t]} + requests)) ERRS[$t]=$((${ERRS[$t]} + errors))
        DETAILS+=("| $round | $t | $requests | $(awk -v d="$duration_us" 'BEGIN { printf "%.2f", d / 1e6 }') | $rps | $p50 | $p99 | $connect/$read/$write/$timeout/$status | $([ "$t" = direct ] && echo - || echo "$cpu_ticks") | $nginx_ticks |")
        echo "round $round, $t: $requests requests, $rps req/s, p50 $p50 ms, p99 $p99 ms, errors $errors, balancer CPU $cpu_ticks ticks ($cpu10k s/10k), nginx $nginx_ticks ticks" >&2
        sleep 1
    done
done

# ---- report ----
mean() { echo "$1" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; if (NF) printf "%.*f", p, s / NF; else printf "-" }' p="${2:-0}"; }
each() { local s=$1; echo "${s// / \/ }"; }
FAILED=()
for t in "${TARGETS[@]}"; do
    if [ "${REQS[$t]}" = 0 ] || [ $((${ERRS[$t]} * 100000)) -gt $((${REQS[$t]} * MAX_ERRORS_PER_100K)) ]; then
        FAILED+=("$t: ${ERRS[$t]} errors of ${REQS[$t]} requests")
    fi
done
{
echo
echo "wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s (keep-alive, JSESSIONID of node1 and node2 alternating), $ROUNDS round(s), order alternated; two nginx nodes, $BODY_BYTES-byte answers; $(date -u +%Y-%m-%d), $(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)."
echo
echo "| target | req/s (each round; mean) | p50 ms | p99 ms | errors + status >= 400 | balancer CPU s per 10,000 req (each round; mean) | nginx CPU s per 10,000 req |"
echo "|---|---|---:|---:|---:|---|---:|"
for t in "${TARGETS[@]}"; do
    cpu="-"
    [ "$t" = direct ] || cpu="$(each "${CPU10K[$t]}"); **$(mean "${CPU10K[$t]}" 3)**"
    echo "| ${LABEL[$t]} | $(each "${RPS[$t]}"); **$(mean "${RPS[$t]}")** | $(mean "${P50[$t]}" 2) | $(mean "${P99[$t]}" 2) | ${ERRS[$t]} of ${REQS[$t]} | $cpu | $(mean "${NGINX10K[$t]}" 3) |"
done
if [ "${#BALANCERS[@]}" -gt 1 ]; then
    echo
    echo "| ratio to HAProxy | req/s | p50 | p99 | CPU per request |"
    echo "|---|---:|---:|---:|---:|"
    for b in "${BALANCERS[@]}"; do
        [ "$b" = haproxy ] && continue
        awk -v name="$b" -v r1="$(mean "${RPS[$b]}" 3)" -v r0="$(mean "${RPS[haproxy]}" 3)" \
            -v a1="$(mean "${P50[$b]}" 3)" -v a0="$(mean "${P50[haproxy]}" 3)" \
            -v b1="$(mean "${P99[$b]}" 3)" -v b0="$(mean "${P99[haproxy]}" 3)" \
            -v c1="$(mean "${CPU10K[$b]}" 4)" -v c0="$(mean "${CPU10K[haproxy]}" 4)" \
            'function q(x, y) { return y > 0 ? sprintf("%.2f", x / y) : "-" }
             BEGIN { printf "| %s / haproxy | %s | %s | %s | %s |\n", name, q(r1, r0), q(a1, a0), q(b1, b0), q(c1, c0) }'
    done
fi
echo
idle=""; for b in "${BALANCERS[@]}"; do idle+="${idle:+, }$b ${IDLE_MS[$b]}"; done
echo "Idle CPU (ms per second, included in the CPU figures above): $idle. Load average before the warm-up: $LOAD_BEFORE."
echo "p50 and p99 are the means over the rounds of wrk's percentiles; errors are wrk's socket errors (connect, read, write, timeout) and answers with status >= 400, summed over the rounds."
echo
echo "Per run: wrk's counts and the CPU clock ticks (1/$CLK_TCK s) of the balancer and of both nginx nodes."
echo
echo "| round | target | requests | seconds | req/s | p50 ms | p99 ms | errors connect/read/write/timeout/status | balancer ticks | nginx ticks |"
echo "|---:|---|---:|---:|---:|---:|---:|---|---:|---:|"
for row in "${DETAILS[@]}"; do echo "$row"; done
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo
    echo "FAILED (more than 0.1 % errors): ${FAILED[*]}"
fi
} | tee "$OUT/report.md"
[ "${#FAILED[@]}" = 0 ] || exit 1
