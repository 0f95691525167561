#!/usr/bin/env bash
# Switchboard against Kamailio's dispatcher, side by side in one run, on this machine.
#
#   SIPp UAC -> balancer -> two SIPp UAS nodes, UDP over loopback, for each balancer:
#     * Switchboard on each runtime, `switchboard` (tokio) and `switchboard-smol` (release builds,
#       Call-ID affinity, UDP only, nodes registered through the HTTP/JSON heartbeat);
#     * Kamailio as a stateless balancer: dispatcher module, ds_select_dst("1","0") (hash over
#       Call-ID), record_route() on INVITE/SUBSCRIBE, forward() (stateless, no tm), once with
#       children=1 and once with children=2 UDP workers (see docs: several workers reorder).
#   Stepped rates (each RATE for STEP_SECONDS, i.e. RATE*STEP_SECONDS calls, with a timeout),
#   balancers alternated per step; then CPU_ROUNDS rounds of CPU_CALLS calls at CPU_RATE
#   measuring the balancer's utime+stime from /proc/<pid>/stat (all threads; for Kamailio the
#   sum over all its processes) before and after.
#
# Usage: bench/sipp-vs-kamailio.sh
# Environment (all optional):
#   SWITCHBOARD=path        use this tokio binary instead of building target/release/switchboard
#   SWITCHBOARD_SMOL=path   use this smol binary instead of building target/release/switchboard-smol
#   RUNTIMES="tokio smol"   which Switchboard binaries to measure
#   RATES="200 500 ..."     offered rates (calls/s) of the steps
#   STEP_SECONDS=10         length of each step (calls = rate * STEP_SECONDS)
#   CPU_RATE=500 CPU_CALLS=10000 CPU_ROUNDS=2
#   KAMAILIO_CHILDREN="1 2" Kamailio configurations to run (UDP worker counts)
#   OUT=dir                 where configurations, logs and SIPp statistics go (default: mktemp)
# Needs: sipp (apt-get install -y sip-tester), kamailio (apt-get install -y kamailio), python3.
# Loopback only; bounded in time (about 7-9 minutes with the defaults; a failing step can take 15 s more); stops only the processes
# it started, by PID.

set -euo pipefail

RATES=${RATES:-"200 500 1000 1500 2000 2500 3000"}
STEP_SECONDS=${STEP_SECONDS:-10}
CPU_RATE=${CPU_RATE:-500}
CPU_CALLS=${CPU_CALLS:-10000}
CPU_ROUNDS=${CPU_ROUNDS:-2}
KAMAILIO_CHILDREN=${KAMAILIO_CHILDREN:-"1 2"}
RUNTIMES=${RUNTIMES:-"tokio smol"}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
HELPER="$HERE/bench_helper.py"
IP=127.0.0.1

missing=0
for tool in sipp kamailio python3 getconf; do
    if ! command -v "$tool" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ]; then
        echo "missing: $tool" >&2
        missing=1
    fi
done
if [ "$missing" = 1 ]; then
    echo "install with: apt-get install -y kamailio sip-tester python3" >&2
    exit 2
fi
KAMAILIO=$(command -v kamailio || echo /usr/sbin/kamailio)
KAM_MODULES=${KAM_MODULES:-$(dirname "$(dpkg -L kamailio 2>/dev/null | grep -m1 '/modules/sl.so$' || echo /usr/lib/x86_64-linux-gnu/kamailio/modules/sl.so)")}
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

OUT=${OUT:-$(mktemp -d /tmp/sipp-vs-kamailio.XXXXXX)}
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

mapfile -t P < <(python3 "$HELPER" ports 16)
UAS1=${P[0]} UAS2=${P[1]}
# Switchboard instance n (0, 1) uses ports SB_PORTS[4n..4n+3]: external, internal, heartbeat, API.
SB_PORTS=("${P[2]}" "${P[3]}" "${P[4]}" "${P[5]}" "${P[12]}" "${P[13]}" "${P[14]}" "${P[15]}")
UAC_PORT=${P[6]}
KAM_PORTS=("${P[7]}" "${P[8]}" "${P[9]}")

# ---- two SIPp UAS nodes ----
start_uas() {
    local name=$1 port=$2
    (cd "$OUT" && exec sipp -sn uas -i $IP -p "$port" -nostdin -trace_stat -fd 1 \
        -stf "$OUT/$name-stats.csv" >/dev/null 2>"$OUT/$name.stderr") &
    PIDS+=($!)
}
start_uas uas1 "$UAS1"
start_uas uas2 "$UAS2"

# ---- Switchboard, one instance per runtime ----
declare -A TARGET PID_OF
BALANCERS=()
start_switchboard() {
    local rt=$1 n=$2 name ext int hb api pid
    name=$([ "$rt" = tokio ] && echo switchboard || echo "switchboard-$rt")
    ext=${SB_PORTS[$((4 * n))]} int=${SB_PORTS[$((4 * n + 1))]}
    hb=${SB_PORTS[$((4 * n + 2))]} api=${SB_PORTS[$((4 * n + 3))]}
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
  <http><httpPort>0</httpPort></http>
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
    # Nodes register through the HTTP/JSON heartbeat and heartbeat every second.
    rm -f "$OUT/$name/nodes.ready"
    for _ in $(seq 100); do
        python3 -c "import socket,sys; socket.create_connection(('$IP', $hb), 0.2)" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || { cat "$OUT/$name/switchboard.log" >&2; exit 1; }
        sleep 0.1
    done
    python3 "$HELPER" nodes "$hb" "$OUT/$name/nodes.ready" "$UAS1" "$UAS2" >"$OUT/$name/nodes.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 120); do [ -s "$OUT/$name/nodes.ready" ] && break; sleep 0.1; done
    [ -s "$OUT/$name/nodes.ready" ] || { echo "nodes did not register with $name:" >&2; cat "$OUT/$name/nodes.log" >&2; exit 1; }
    BALANCERS+=("$name")
    TARGET[$name]="$IP:$ext"
    PID_OF[$name]=$pid
}
n=0
for rt in $RUNTIMES; do
    start_switchboard "$rt" "$n"
    n=$((n + 1))
done

# ---- Kamailio, one instance per worker count ----
printf '1 sip:%s:%s\n1 sip:%s:%s\n' $IP "$UAS1" $IP "$UAS2" >"$OUT/dispatcher.list"
i=0
for children in $KAMAILIO_CHILDREN; do
    name="kamailio-c$children"
    port=${KAM_PORTS[$i]}
    i=$((i + 1))
    mkdir -p "$OUT/$name"
    cat >"$OUT/$name/kamailio.cfg" <<EOF
#!KAMAILIO
# Stateless balancer: dispatcher hash over Call-ID, record_route, forward() (no tm).
debug=0
log_stderror=yes
fork=yes
children=$children
listen=udp:$IP:$port
disable_tcp=yes
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=off
mpath="$KAM_MODULES/"
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "dispatcher.so"
modparam("dispatcher", "list_file", "$OUT/dispatcher.list")
request_route {
    if (!mf_process_maxfwd_header("70")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (has_totag() && loose_route()) {
        forward();
        exit;
    }
    if (is_method("INVITE|SUBSCRIBE")) {
        record_route();
    }
    # SIPp's built-in UAC sends ACK and BYE to the balancer without a Route header: they are
    # hashed over the same Call-ID and reach the same node, as with Switchboard.
    if (!ds_select_dst("1", "0")) {
        sl_send_reply("503", "No destination");
        exit;
    }
    forward();
    exit;
}
EOF
    "$KAMAILIO" -DD -E -f "$OUT/$name/kamailio.cfg" -Y "$OUT/$name" \
        </dev/null >"$OUT/$name/kamailio.log" 2>&1 &
    PID_OF[$name]=$!
    PIDS+=($!)
    TARGET[$name]="$IP:$port"
    BALANCERS+=("$name")
done
sleep 2
for b in "${BALANCERS[@]}"; do
    kill -0 "${PID_OF[$b]}" 2>/dev/null || { echo "$b exited early; see $OUT" >&2; exit 1; }
done

# ---- one SIPp UAC run: prints "success failed elapsed_s achieved_cps reasons" ----
# Called as RUN=$((RUN + 1)); run_uac ... (the counter names the run's files).
RUN=0
run_uac() {
    local balancer=$1 rate=$2 calls=$3 tag
    tag=$(printf '%03d-%s-r%s' "$RUN" "$balancer" "$rate")
    local limit=$((calls / rate + 15))
    local t0 t1 rc=0
    t0=$(date +%s.%N)
    (cd "$OUT" && exec timeout -k 5 $((limit + 15)) sipp -sn uac -i $IP -p "$UAC_PORT" \
        -r "$rate" -m "$calls" -timeout "${limit}s" -timeout_error -nostdin \
        -trace_stat -fd 1 -stf "$OUT/$tag.csv" -trace_err -error_file "$OUT/$tag-errors.log" \
        "${TARGET[$balancer]}" >/dev/null 2>"$OUT/$tag.stderr") &
    local uac=$!
    PIDS+=("$uac")
    wait "$uac" || rc=$?
    t1=$(date +%s.%N)
    local ok=0 failed=0 cps=0 reasons=""
    if [ -s "$OUT/$tag.csv" ]; then
        local stat
        stat=$(python3 "$HELPER" sippstat "$OUT/$tag.csv")
        ok=$(sed -n 's/^SuccessfulCall(C)=//p' <<<"$stat")
        failed=$(sed -n 's/^FailedCall(C)=//p' <<<"$stat")
        cps=$(sed -n 's/^CallRate(C)=//p' <<<"$stat")
        reasons=$(awk -F= '($1 ~ /^Failed.+\(C\)$/ && $1 != "FailedCall(C)" && $2 > 0) || ($1 ~ /^(Retransmissions|OutOfCallMsgs|DeadCallMsgs)\(C\)$/ && $2 > 0) { gsub(/\(C\)/, "", $1); printf "%s%s=%s", sep, $1, $2; sep="," }' <<<"$stat")
    fi
    # Calls never finished (SIPp stopped by its timeout) count as failed too.
    local unfinished=$((calls - ok - failed))
    [ "$unfinished" -gt 0 ] && failed=$((failed + unfinished)) && reasons="${reasons:+$reasons,}unfinished=$unfinished"
    [ "$rc" != 0 ] && reasons="${reasons:+$reasons,}sipp_exit=$rc"
    printf '%s %s %s %s %s\n' "$ok" "$failed" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" "${cps:-0}" "${reasons:--}"
}

reverse() { local out=() x; for x in "$@"; do out=("$x" "${out[@]}"); done; echo "${out[@]}"; }

# ---- stepped rates, balancers alternated per step ----
declare -A STEP_FAILED STEP_DETAIL BEST FIRST_FAIL
for b in "${BALANCERS[@]}"; do BEST[$b]=0; FIRST_FAIL[$b]=-; done
step=0
for rate in $RATES; do
    calls=$((rate * STEP_SECONDS))
    if [ $((step % 2)) = 0 ]; then order=("${BALANCERS[@]}"); else read -r -a order <<<"$(reverse "${BALANCERS[@]}")"; fi
    step=$((step + 1))
    for b in "${order[@]}"; do
        RUN=$((RUN + 1))
        read -r ok failed elapsed cps reasons <<<"$(run_uac "$b" "$rate" "$calls")"
        STEP_FAILED[$b,$rate]=$failed
        STEP_DETAIL[$b,$rate]="$ok|$failed|$elapsed|$cps|$reasons"
        echo "step $rate cps, $b: $ok ok, $failed failed, ${elapsed}s, achieved ${cps} cps, $reasons" >&2
        if [ "$failed" = 0 ] && [ "$ok" = "$calls" ]; then
            [ "$rate" -gt "${BEST[$b]}" ] && BEST[$b]=$rate
        elif [ "${FIRST_FAIL[$b]}" = - ] || [ "$rate" -lt "${FIRST_FAIL[$b]}" ]; then
            FIRST_FAIL[$b]=$rate
        fi
        sleep 1
    done
done

# ---- CPU per 1,000 calls at a fixed rate ----
# Idle CPU of each balancer (heartbeats, timers) over the same 5 s, as a baseline.
declare -A CPU_MS IDLE_BEFORE IDLE_MS
for b in "${BALANCERS[@]}"; do IDLE_BEFORE[$b]=$(python3 "$HELPER" cpu "${PID_OF[$b]}"); done
sleep 5
for b in "${BALANCERS[@]}"; do
    IDLE_MS[$b]=$(awk -v t=$(( $(python3 "$HELPER" cpu "${PID_OF[$b]}") - ${IDLE_BEFORE[$b]} )) -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", t * 1000 / hz / 5 }')
    echo "idle $b: ${IDLE_MS[$b]} ms CPU per second" >&2
done
for b in "${BALANCERS[@]}"; do CPU_MS[$b]=""; done
for round in $(seq "$CPU_ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then order=("${BALANCERS[@]}"); else read -r -a order <<<"$(reverse "${BALANCERS[@]}")"; fi
    for b in "${order[@]}"; do
        before=$(python3 "$HELPER" cpu "${PID_OF[$b]}")
        RUN=$((RUN + 1))
        read -r ok failed elapsed cps reasons <<<"$(run_uac "$b" "$CPU_RATE" "$CPU_CALLS")"
        sleep 0.5
        after=$(python3 "$HELPER" cpu "${PID_OF[$b]}")
        ms=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$CPU_CALLS" 'BEGIN { printf "%.1f", t * 1000 / hz * 1000 / n }')
        CPU_MS[$b]="${CPU_MS[$b]:+${CPU_MS[$b]} }$ms"
        echo "cpu round $round, $b: $((after - before)) ticks for $CPU_CALLS calls = $ms ms/1000 calls ($ok ok, $failed failed, $reasons)" >&2
        sleep 1
    done
done

# ---- report ----
rate_header="" rate_rule=""
for rate in $RATES; do rate_header+=" $rate |"; rate_rule+="---:|"; done
{
echo
echo "Offered rates $RATES calls/s, $STEP_SECONDS s each (rate x $STEP_SECONDS calls); CPU at $CPU_RATE calls/s, $CPU_ROUNDS x $CPU_CALLS calls; $(date -u +%Y-%m-%d), $(nproc) cores."
echo
echo "| balancer | highest zero-failure rate (cps) | lowest rate with failures (cps) | CPU ms per 1,000 calls at $CPU_RATE cps (each round; mean) | failed calls at$rate_header"
echo "|---|---:|---:|---|$rate_rule"
for b in "${BALANCERS[@]}"; do
    mean=$(echo "${CPU_MS[$b]}" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.1f", s / NF }')
    row="| $b | ${BEST[$b]} | ${FIRST_FAIL[$b]} | ${CPU_MS[$b]// / \/ }; **$mean** |"
    for rate in $RATES; do row+=" ${STEP_FAILED[$b,$rate]} |"; done
    echo "$row"
done
echo
idle=""; for b in "${BALANCERS[@]}"; do idle+="${idle:+, }$b ${IDLE_MS[$b]}"; done
echo "Idle CPU (ms per second, included in the CPU figures above): $idle."
uas_failed=0
for n in uas1 uas2; do
    f=$(python3 "$HELPER" sippstat "$OUT/$n-stats.csv" 2>/dev/null | sed -n 's/^FailedCall(C)=//p')
    uas_failed=$((uas_failed + ${f:-0}))
done
echo "Failed calls counted by the two UAS over the whole run: $uas_failed."
echo
echo "Per step: successful / failed calls, SIPp's wall time, the rate SIPp achieved, failure reasons and retransmissions."
echo
echo "| rate | balancer | ok | failed | seconds | achieved cps | SIPp counters |"
echo "|---:|---|---:|---:|---:|---:|---|"
for rate in $RATES; do
    for b in "${BALANCERS[@]}"; do
        IFS='|' read -r ok failed elapsed cps reasons <<<"${STEP_DETAIL[$b,$rate]}"
        printf '| %s | %s | %s | %s | %.1f | %s | %s |\n' "$rate" "$b" "$ok" "$failed" "$elapsed" "$cps" "$reasons"
    done
done
} | tee "$OUT/report.md"
