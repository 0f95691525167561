#!/usr/bin/env bash
# Switchboard's SMPP balancer against no balancer at all, side by side in one run, on this
# machine.
#
#   smpp-load esme -> target -> smpp-load smsc, SMPP 3.4 over loopback, for each target:
#     * directly the SMSC, no balancer: the ceiling of load tool and SMSC together;
#     * Switchboard on each runtime, `switchboard` (tokio) and `switchboard-smol` (release
#       builds), mux mode, `remoteServers` = the SMSC, a provider window and throttle queue
#       large enough never to hold a request back, enquire_link timers longer than the run.
#   The load tool (bench/smpp-load, its own minimal SMPP code, independent of the balancer's
#   codec) binds CONNECTIONS transceiver sessions of one system_id and keeps WINDOW submit_sm
#   outstanding on each (pipelined), for DURATION seconds; in mux mode all sessions share the
#   balancer's one provider connection. The SMSC answers every submit_sm with ESME_ROK and a
#   unique message_id. Latency is per request, from queuing its octets to reading its response.
#
#   Each balancer runs its default single event-loop thread; the load tool and the SMSC run one
#   thread each (ESME_THREADS, SMSC_THREADS). CPU is utime+stime from /proc/<pid>/stat (all
#   threads) of the balancer, and of the SMSC, before and after each run, per 10,000 PDUs
#   (submit_sm answered ESME_ROK). A short warm-up run per target, an idle-CPU baseline, then
#   ROUNDS rounds of one run per target, the order reversed every other round.
#
# Usage: bench/smpp-vs-direct.sh
# Environment (all optional):
#   SWITCHBOARD=path        use this tokio binary instead of building target/release/switchboard
#   SWITCHBOARD_SMOL=path   use this smol binary instead of building target/release/switchboard-smol
#   SMPP_LOAD=path          use this load tool instead of building target/release/smpp-load
#   RUNTIMES="tokio smol"   which Switchboard binaries to measure ("" for the direct path only)
#   DURATION=10             seconds of each run
#   ROUNDS=3                rounds (one run per target each)
#   CONNECTIONS=4           ESME sessions (one system_id); WINDOW=50 outstanding submit_sm each
#   ESME_THREADS=1 SMSC_THREADS=1   the load tool's executor threads
#   QUICK=1                 a smoke run of about 20 s (DURATION=3, ROUNDS=1, 1 s warm-up)
#   OUT=dir                 where configurations, logs and load tool outputs go (default: mktemp)
# Needs: cargo (unless all three binaries are given), python3, getconf.
# Exit status: 0; 1 if a target had more than 0.1 % errors (non-OK responses, generic_nack,
# missing responses) or a run printed no figures; 2 on a setup error.
# Loopback only; bounded in time (about 2 minutes with the defaults, plus the build; each run is
# stopped by a timeout); stops only the processes it started, by PID.

set -euo pipefail

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    DURATION=${DURATION:-3} ROUNDS=${ROUNDS:-1} WARMUP=${WARMUP:-1}
else
    DURATION=${DURATION:-10} ROUNDS=${ROUNDS:-3} WARMUP=${WARMUP:-2}
fi
CONNECTIONS=${CONNECTIONS:-4}
WINDOW=${WINDOW:-50}
ESME_THREADS=${ESME_THREADS:-1}
SMSC_THREADS=${SMSC_THREADS:-1}
RUNTIMES=${RUNTIMES-"tokio smol"}
SYSTEM_ID=bench
PASSWORD=secret
IDLE_SECONDS=3
# Errors allowed per target, per 100,000 submit_sm (0.1 %).
MAX_ERRORS_PER_100K=100

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
HELPER="$HERE/bench_helper.py"
IP=127.0.0.1
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

for tool in python3 getconf timeout; do
    command -v "$tool" >/dev/null 2>&1 || { echo "missing: $tool" >&2; exit 2; }
done
CLK_TCK=$(getconf CLK_TCK)
RELEASE="${CARGO_TARGET_DIR:-$ROOT/target}/release"

# ---- binaries: one release build of the packages not given ----
declare -A BINARY
packages=()
for rt in $RUNTIMES; do
    case $rt in
    tokio) pkg=switchboard-tokio bin=switchboard given=${SWITCHBOARD:-} ;;
    smol) pkg=switchboard-smol bin=switchboard-smol given=${SWITCHBOARD_SMOL:-} ;;
    *) echo "unknown runtime $rt (tokio, smol)" >&2; exit 2 ;;
    esac
    if [ -z "$given" ]; then packages+=(-p "$pkg"); given="$RELEASE/$bin"; fi
    BINARY[$rt]=$given
done
LOAD=${SMPP_LOAD:-}
if [ -z "$LOAD" ]; then packages+=(-p switchboard-smpp-load); LOAD="$RELEASE/smpp-load"; fi
if [ "${#packages[@]}" -gt 0 ]; then
    echo "building ${packages[*]} (release)..." >&2
    (cd "$ROOT" && cargo build --release "${packages[@]}" --quiet)
fi
for rt in $RUNTIMES; do [ -x "${BINARY[$rt]}" ] || { echo "no binary at ${BINARY[$rt]}" >&2; exit 2; }; done
[ -x "$LOAD" ] || { echo "no load tool at $LOAD" >&2; exit 2; }

OUT=${OUT:-$(mktemp -d /tmp/smpp-vs-direct.XXXXXX)}
mkdir -p "$OUT"
echo "files: $OUT" >&2

bench_track_processes

mapfile -t P < <(python3 "$HELPER" ports 12)
SMSC_PORT=${P[0]}
# Switchboard instance n (0, 1) uses ports SB_PORTS[5n..5n+4]: SMPP, heartbeat, API, SIP
# external and internal UDP (SIP is not measured here, but each leg needs a listener).
SB_PORTS=("${P[@]:1:10}")

# ---- the SMSC ----
declare -A TARGET PID_OF LABEL
TARGETS=()
"$LOAD" smsc --port "$SMSC_PORT" --bind-addr $IP --threads "$SMSC_THREADS" \
    </dev/null >"$OUT/smsc.port" 2>"$OUT/smsc.log" &
PIDS+=($!)
PID_OF[smsc]=$!
wait_port "$SMSC_PORT" "${PID_OF[smsc]}" smsc
TARGETS+=(direct)
TARGET[direct]="$IP:$SMSC_PORT"
LABEL[direct]="SMSC direct"

# ---- Switchboard, one instance per runtime ----
start_switchboard() {
    local rt=$1 n=$2 name smpp hb api ext int pid
    name=$([ "$rt" = tokio ] && echo switchboard || echo "switchboard-$rt")
    smpp=${SB_PORTS[$((5 * n))]} hb=${SB_PORTS[$((5 * n + 1))]} api=${SB_PORTS[$((5 * n + 2))]}
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
    <external><udpPort>$ext</udpPort><tcpPort>0</tcpPort></external>
    <internal><udpPort>$int</udpPort><tcpPort>0</tcpPort></internal>
  </sip>
  <http><httpPort>0</httpPort></http>
  <smpp>
    <smppHost>$IP</smppHost>
    <smppPort>$smpp</smppPort>
    <remoteServers>$IP:$SMSC_PORT</remoteServers>
    <muxMode>true</muxMode>
    <providerWindow>100000</providerWindow>
    <throttleQueueSize>100000</throttleQueueSize>
    <timeoutEnquire>600000</timeoutEnquire>
  </smpp>
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
    wait_port "$smpp" "$pid" "$name (SMPP)"
    TARGETS+=("$name")
    TARGET[$name]="$IP:$smpp"
    PID_OF[$name]=$pid
    LABEL[$name]="$name ($rt)"
}
n=0
BALANCERS=()
for rt in $RUNTIMES; do
    start_switchboard "$rt" "$n"
    BALANCERS+=("${TARGETS[-1]}")
    n=$((n + 1))
done

# The value of KEY in the load tool's one-line JSON report FILE ("" if absent).
field() { sed -n "s/.*\"$2\":\([-0-9.]*\).*/\1/p" "$1"; }

# One load run against target $1 for $2 seconds, its report in $OUT/$3.json.
run_esme() {
    local target=$1 seconds=$2 tag=$3 rc=0
    timeout -k 5 $((seconds + 40)) "$LOAD" esme --target "${TARGET[$target]}" \
        --system-id "$SYSTEM_ID" --password "$PASSWORD" --connections "$CONNECTIONS" \
        --window "$WINDOW" --duration "$seconds" --timeout $((seconds + 30)) \
        --threads "$ESME_THREADS" </dev/null >"$OUT/$tag.json" 2>"$OUT/$tag.stderr" &
    local pid=$!
    PIDS+=("$pid")
    wait "$pid" || rc=$?
    [ "$rc" = 0 ] || echo "the load tool exited with $rc against $target; see $OUT/$tag.stderr" >&2
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- warm-up (not measured; the balancers bind their provider sessions) ----
for t in "${TARGETS[@]}"; do run_esme "$t" "$WARMUP" "warmup-$t"; done

# ---- idle CPU of each balancer (timers) over the same seconds, as a baseline ----
declare -A IDLE_BEFORE IDLE_MS
for b in "${BALANCERS[@]}"; do IDLE_BEFORE[$b]=$(python3 "$HELPER" cpu "${PID_OF[$b]}"); done
sleep "$IDLE_SECONDS"
for b in "${BALANCERS[@]}"; do
    IDLE_MS[$b]=$(awk -v t=$(( $(python3 "$HELPER" cpu "${PID_OF[$b]}") - ${IDLE_BEFORE[$b]} )) -v hz="$CLK_TCK" -v s="$IDLE_SECONDS" 'BEGIN { printf "%.1f", t * 1000 / hz / s }')
    echo "idle $b: ${IDLE_MS[$b]} ms CPU per second" >&2
done

# ---- measured rounds ----
# Per target, space-separated values, one per round.
declare -A RATE P50 P99 CPU10K SMSC10K PDUS ERRS
for t in "${TARGETS[@]}"; do RATE[$t]="" P50[$t]="" P99[$t]="" CPU10K[$t]="" SMSC10K[$t]="" PDUS[$t]=0 ERRS[$t]=0; done
DETAILS=()
RUN=0
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then order=("${TARGETS[@]}"); else read -r -a order <<<"$(reverse "${TARGETS[@]}")"; fi
    for t in "${order[@]}"; do
        RUN=$((RUN + 1))
        tag=$(printf '%02d-%s' "$RUN" "$t")
        cpu_before=0
        [ "$t" = direct ] || cpu_before=$(python3 "$HELPER" cpu "${PID_OF[$t]}")
        smsc_before=$(python3 "$HELPER" cpu "${PID_OF[smsc]}")
        run_esme "$t" "$DURATION" "$tag"
        cpu_ticks=0
        [ "$t" = direct ] || cpu_ticks=$(( $(python3 "$HELPER" cpu "${PID_OF[$t]}") - cpu_before ))
        smsc_ticks=$(( $(python3 "$HELPER" cpu "${PID_OF[smsc]}") - smsc_before ))
        pdus=$(field "$OUT/$tag.json" pdus) errors=$(field "$OUT/$tag.json" errors)
        elapsed=$(field "$OUT/$tag.json" elapsed_s) rate=$(field "$OUT/$tag.json" rate)
        p50=$(field "$OUT/$tag.json" p50_ms) p99=$(field "$OUT/$tag.json" p99_ms)
        if [ -z "$pdus" ]; then
            echo "no figures from the load tool against $t; see $OUT/$tag.stderr" >&2
            pdus=0 errors=1 elapsed=0 rate=0 p50=0 p99=0 # counted as a failed run
        fi
        read -r cpu10k smsc10k < <(awk -v n="$pdus" -v c="$cpu_ticks" -v g="$smsc_ticks" -v hz="$CLK_TCK" 'BEGIN {
                n = (n > 0 ? n : 1)
                printf "%.4f %.4f\n", c / hz * 10000 / n, g / hz * 10000 / n }')
        RATE[$t]+="${RATE[$t]:+ }$rate" P50[$t]+="${P50[$t]:+ }$p50" P99[$t]+="${P99[$t]:+ }$p99"
        SMSC10K[$t]+="${SMSC10K[$t]:+ }$smsc10k"
        [ "$t" = direct ] || CPU10K[$t]+="${CPU10K[$t]:+ }$cpu10k"
        PDUS[$t]=$((${PDUS[$t]} + pdus)) ERRS[$t]=$((${ERRS[$t]} + errors))
        DETAILS+=("| $round | $t | $pdus | $errors | $elapsed | $rate | $p50 | $p99 | $([ "$t" = direct ] && echo - || echo "$cpu_ticks") | $smsc_ticks |")
        echo "round $round, $t: $pdus PDUs, $rate PDU/s, p50 $p50 ms, p99 $p99 ms, errors $errors, balancer CPU $cpu_ticks ticks ($cpu10k s/10k), SMSC $smsc_ticks ticks" >&2
        sleep 1
    done
done

# ---- report ----
FAILED=()
for t in "${TARGETS[@]}"; do
    if [ "${PDUS[$t]}" = 0 ] || [ $((${ERRS[$t]} * 100000)) -gt $((${PDUS[$t]} * MAX_ERRORS_PER_100K)) ]; then
        FAILED+=("$t: ${ERRS[$t]} errors, ${PDUS[$t]} PDUs")
    fi
done
DIRECT_RATE=$(mean "${RATE[direct]}" 3)
{
echo
echo "smpp-load esme, $CONNECTIONS transceiver sessions x window $WINDOW submit_sm, ${DURATION}s per run, $ROUNDS round(s), order alternated; smpp-load smsc answering ESME_ROK; load tool and SMSC $ESME_THREADS and $SMSC_THREADS thread(s); $(date -u +%Y-%m-%d), $(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)."
echo
echo "| target | PDU/s (each round; mean) | rate / direct | p50 ms | p99 ms | errors | balancer CPU s per 10,000 PDUs (each round; mean) | SMSC CPU s per 10,000 PDUs |"
echo "|---|---|---:|---:|---:|---:|---|---:|"
for t in "${TARGETS[@]}"; do
    cpu="-" ratio="-"
    if [ "$t" != direct ]; then
        cpu="$(each "${CPU10K[$t]}"); **$(mean "${CPU10K[$t]}" 4)**"
        ratio=$(awk -v a="$(mean "${RATE[$t]}" 3)" -v b="$DIRECT_RATE" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }')
    fi
    echo "| ${LABEL[$t]} | $(each "${RATE[$t]}"); **$(mean "${RATE[$t]}")** | $ratio | $(mean "${P50[$t]}" 3) | $(mean "${P99[$t]}" 3) | ${ERRS[$t]} of ${PDUS[$t]} | $cpu | $(mean "${SMSC10K[$t]}" 4) |"
done
echo
idle=""; for b in "${BALANCERS[@]}"; do idle+="${idle:+, }$b ${IDLE_MS[$b]}"; done
echo "Idle CPU (ms per second, included in the CPU figures above): ${idle:--}. Load average before the warm-up: $LOAD_BEFORE."
echo "PDUs are submit_sm answered ESME_ROK; errors are other statuses, generic_nack and responses missing at the end, summed over the rounds. p50 and p99 are the means over the rounds of each run's percentiles."
echo
echo "Per run: the load tool's counts and the CPU clock ticks (1/$CLK_TCK s) of the balancer and of the SMSC."
echo
echo "| round | target | PDUs | errors | seconds | PDU/s | p50 ms | p99 ms | balancer ticks | SMSC ticks |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for row in "${DETAILS[@]}"; do echo "$row"; done
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo
    echo "FAILED (no PDUs or more than 0.1 % errors): ${FAILED[*]}"
fi
} | tee "$OUT/report.md"
[ "${#FAILED[@]}" = 0 ] || exit 1
