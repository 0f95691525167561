#!/usr/bin/env bash
# Switchboard's SMPP balancer against no balancer at all, side by side in one run, on this
# machine, in two series:
#
#   raw        the SMSC answers every submit_sm at once: the rate is bounded by CPU, the
#              balancer's work per PDU against the direct path's almost none (raw capacity);
#   delayed    the SMSC answers each submit_sm SMSC_DELAY_MS after it arrived, as a real
#              provider would, with enough requests outstanding to load the path (by default
#              4 sessions x window 240 at 5 ms: about 150,000 PDU/s direct; the SMSC's timer
#              ticks every millisecond, so a 5 ms delay is 5 to 6 ms, about 6.3 ms end to end).
#
#   smpp-load esme -> target -> smpp-load smsc, SMPP 3.4 over loopback; each series has its own
#   SMSC and these targets:
#     * directly the SMSC, no balancer: the ceiling of load tool and SMSC together;
#     * Switchboard on each runtime, `switchboard` (tokio) and `switchboard-smol` (release
#       builds), mux mode, `remoteServers` = that series' SMSC, a provider window and throttle
#       queue large enough never to hold a request back, enquire_link timers longer than the run.
#   The load tool (bench/smpp-load, its own minimal SMPP code, independent of the balancer's
#   codec) binds C transceiver sessions of one system_id and keeps W submit_sm outstanding on
#   each (pipelined), for DURATION seconds; in mux mode all sessions share the balancer's one
#   provider connection. The SMSC answers every submit_sm with ESME_ROK and a unique
#   message_id. Latency is per request, from queuing its octets to reading its response.
#
#   Each balancer runs its default single event-loop thread; the load tool and each SMSC run one
#   thread each (ESME_THREADS, SMSC_THREADS). CPU is utime+stime from /proc/<pid>/stat (all
#   threads) of the balancer, and of the SMSC, before and after each run, per 10,000 PDUs
#   (submit_sm answered ESME_ROK). A short warm-up run per target, an idle-CPU baseline, then
#   ROUNDS rounds; a round is one run per target of each series in turn, the order of the
#   targets reversed every other round.
#
# Usage: bench/smpp-vs-direct.sh
# Environment (all optional):
#   SWITCHBOARD=path        use this tokio binary instead of building target/release/switchboard
#   SWITCHBOARD_SMOL=path   use this smol binary instead of building target/release/switchboard-smol
#   SMPP_LOAD=path          use this load tool instead of building target/release/smpp-load
#   RUNTIMES="tokio smol"   which Switchboard binaries to measure ("" for the direct path only)
#   SERIES="raw delayed"    which series to run
#   DURATION=6              seconds of each run
#   ROUNDS=3                rounds (one run per target of each series)
#   CONNECTIONS=4 WINDOW=50 raw series: ESME sessions (one system_id), outstanding submit_sm each
#   SMSC_DELAY_MS=5         delayed series: the SMSC's delay before each submit_sm_resp (ms)
#   DELAYED_CONNECTIONS=4 DELAYED_WINDOW=240   delayed series: sessions, outstanding each
#   ESME_THREADS=1 SMSC_THREADS=1   the load tool's executor threads
#   QUICK=1                 a smoke run of about 45 s (DURATION=3, ROUNDS=1, 1 s warm-up)
#   OUT=dir                 where configurations, logs and load tool outputs go (default: mktemp)
# Needs: cargo (unless all three binaries are given), python3, getconf.
# Exit status: 0; 1 if a target had more than 0.1 % errors (non-OK responses, generic_nack,
# missing responses) or a run printed no figures; 2 on a setup error.
# Loopback only; bounded in time (with the defaults 3 rounds x 2 series x 3 targets x 6 s plus
# 6 warm-ups of 2 s: 2 minutes of load, about 2.5 minutes in all, plus the build; each run is
# stopped by a timeout); stops only the processes it started, by PID.

set -euo pipefail

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    DURATION=${DURATION:-3} ROUNDS=${ROUNDS:-1} WARMUP=${WARMUP:-1}
else
    DURATION=${DURATION:-6} ROUNDS=${ROUNDS:-3} WARMUP=${WARMUP:-2}
fi
SERIES=${SERIES-"raw delayed"}
CONNECTIONS=${CONNECTIONS:-4}
WINDOW=${WINDOW:-50}
SMSC_DELAY_MS=${SMSC_DELAY_MS:-5}
DELAYED_CONNECTIONS=${DELAYED_CONNECTIONS:-4}
DELAYED_WINDOW=${DELAYED_WINDOW:-240}
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

# ---- the series ----
declare -A DELAY_OF CONN_OF WINDOW_OF TITLE_OF
read -r -a SERIES_LIST <<<"$SERIES"
[ "${#SERIES_LIST[@]}" -gt 0 ] || { echo "no series (SERIES=\"raw delayed\")" >&2; exit 2; }
for series in "${SERIES_LIST[@]}"; do
    case $series in
    raw)
        DELAY_OF[raw]=0 CONN_OF[raw]=$CONNECTIONS WINDOW_OF[raw]=$WINDOW
        TITLE_OF[raw]="the SMSC answers at once (raw capacity)"
        ;;
    delayed)
        DELAY_OF[delayed]=$SMSC_DELAY_MS CONN_OF[delayed]=$DELAYED_CONNECTIONS
        WINDOW_OF[delayed]=$DELAYED_WINDOW
        TITLE_OF[delayed]="the SMSC answers each submit_sm after $SMSC_DELAY_MS ms"
        ;;
    *) echo "unknown series $series (raw, delayed)" >&2; exit 2 ;;
    esac
done
read -r -a RUNTIME_LIST <<<"$RUNTIMES"

# ---- binaries: one release build of the packages not given ----
declare -A BINARY
packages=()
for rt in "${RUNTIME_LIST[@]}"; do
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
for rt in "${RUNTIME_LIST[@]}"; do [ -x "${BINARY[$rt]}" ] || { echo "no binary at ${BINARY[$rt]}" >&2; exit 2; }; done
[ -x "$LOAD" ] || { echo "no load tool at $LOAD" >&2; exit 2; }

OUT=${OUT:-$(mktemp -d /tmp/smpp-vs-direct.XXXXXX)}
mkdir -p "$OUT"
echo "files: $OUT" >&2

bench_track_processes

# Per series one SMSC port, and per runtime a Switchboard instance with 5 ports: SMPP,
# heartbeat, API, SIP external and internal UDP (SIP is not measured here, but each leg needs a
# listener).
mapfile -t P < <(python3 "$HELPER" ports $((${#SERIES_LIST[@]} * (1 + 5 * ${#RUNTIME_LIST[@]}))))
NEXT_PORT=0
# Sets PORT to the next free port.
take_port() { PORT=${P[$NEXT_PORT]}; NEXT_PORT=$((NEXT_PORT + 1)); }

# Targets are keyed SERIES-NAME: raw-direct, raw-switchboard, delayed-switchboard-smol, ...
declare -A TARGET PID_OF LABEL SERIES_OF SMSC_PORT SMSC_PID TARGETS_OF
TARGETS=()
BALANCERS=()

# ---- the SMSCs, one per series ----
for series in "${SERIES_LIST[@]}"; do
    take_port
    SMSC_PORT[$series]=$PORT
    "$LOAD" smsc --port "$PORT" --bind-addr $IP --threads "$SMSC_THREADS" \
        --delay-ms "${DELAY_OF[$series]}" </dev/null >"$OUT/smsc-$series.port" 2>"$OUT/smsc-$series.log" &
    PIDS+=($!)
    SMSC_PID[$series]=$!
    wait_port "$PORT" "${SMSC_PID[$series]}" "smsc ($series)"
    key="$series-direct"
    TARGETS+=("$key")
    TARGETS_OF[$series]=$key
    TARGET[$key]="$IP:$PORT"
    LABEL[$key]="SMSC direct"
    SERIES_OF[$key]=$series
done

# ---- Switchboard, one instance per runtime and series ----
start_switchboard() {
    local rt=$1 series=$2 name key smpp hb api ext int pid
    name=$([ "$rt" = tokio ] && echo switchboard || echo "switchboard-$rt")
    key="$series-$name"
    take_port; smpp=$PORT
    take_port; hb=$PORT
    take_port; api=$PORT
    take_port; ext=$PORT
    take_port; int=$PORT
    mkdir -p "$OUT/$key"
    cat >"$OUT/$key/lb-configuration.xml" <<EOF
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
    <remoteServers>$IP:${SMSC_PORT[$series]}</remoteServers>
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
    RUST_LOG=${RUST_LOG:-warn} NO_COLOR=1 "${BINARY[$rt]}" --config "$OUT/$key/lb-configuration.xml" \
        </dev/null >"$OUT/$key/switchboard.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_port "$smpp" "$pid" "$key (SMPP)"
    TARGETS+=("$key")
    TARGETS_OF[$series]+=" $key"
    BALANCERS+=("$key")
    TARGET[$key]="$IP:$smpp"
    PID_OF[$key]=$pid
    LABEL[$key]="$name ($rt)"
    SERIES_OF[$key]=$series
}
for series in "${SERIES_LIST[@]}"; do
    for rt in "${RUNTIME_LIST[@]}"; do start_switchboard "$rt" "$series"; done
done

# True if target $1 is a balancer (not the direct path).
is_balancer() { [ "${1%-direct}" = "$1" ]; }

# The value of KEY in the load tool's one-line JSON report FILE ("" if absent).
field() { sed -n "s/.*\"$2\":\([-0-9.]*\).*/\1/p" "$1"; }

# One load run against target $1 for $2 seconds, its report in $OUT/$3.json.
run_esme() {
    local target=$1 seconds=$2 tag=$3 rc=0 series=${SERIES_OF[$1]}
    timeout -k 5 $((seconds + 40)) "$LOAD" esme --target "${TARGET[$target]}" \
        --system-id "$SYSTEM_ID" --password "$PASSWORD" --connections "${CONN_OF[$series]}" \
        --window "${WINDOW_OF[$series]}" --duration "$seconds" --timeout $((seconds + 30)) \
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
    IDLE_MS[$b]=$(awk -v t=$(($(python3 "$HELPER" cpu "${PID_OF[$b]}") - ${IDLE_BEFORE[$b]})) -v hz="$CLK_TCK" -v s="$IDLE_SECONDS" 'BEGIN { printf "%.1f", t * 1000 / hz / s }')
    echo "idle $b: ${IDLE_MS[$b]} ms CPU per second" >&2
done

# ---- measured rounds ----
# Per target, space-separated values, one per round.
declare -A RATE P50 P99 CPU10K SMSC10K PDUS ERRS
for t in "${TARGETS[@]}"; do RATE[$t]="" P50[$t]="" P99[$t]="" CPU10K[$t]="" SMSC10K[$t]="" PDUS[$t]=0 ERRS[$t]=0; done
DETAILS=()
RUN=0
for round in $(seq "$ROUNDS"); do
    for series in "${SERIES_LIST[@]}"; do
        read -r -a order <<<"${TARGETS_OF[$series]}"
        [ $((round % 2)) = 1 ] || read -r -a order <<<"$(reverse "${order[@]}")"
        smsc=${SMSC_PID[$series]}
        for t in "${order[@]}"; do
            RUN=$((RUN + 1))
            tag=$(printf '%02d-%s' "$RUN" "$t")
            cpu_before=0
            ! is_balancer "$t" || cpu_before=$(python3 "$HELPER" cpu "${PID_OF[$t]}")
            smsc_before=$(python3 "$HELPER" cpu "$smsc")
            run_esme "$t" "$DURATION" "$tag"
            cpu_ticks=0
            ! is_balancer "$t" || cpu_ticks=$(($(python3 "$HELPER" cpu "${PID_OF[$t]}") - cpu_before))
            smsc_ticks=$(($(python3 "$HELPER" cpu "$smsc") - smsc_before))
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
            ! is_balancer "$t" || CPU10K[$t]+="${CPU10K[$t]:+ }$cpu10k"
            PDUS[$t]=$((${PDUS[$t]} + pdus)) ERRS[$t]=$((${ERRS[$t]} + errors))
            DETAILS+=("| $round | $series | ${LABEL[$t]} | $pdus | $errors | $elapsed | $rate | $p50 | $p99 | $(is_balancer "$t" && echo "$cpu_ticks" || echo -) | $smsc_ticks |")
            echo "round $round, $t: $pdus PDUs, $rate PDU/s, p50 $p50 ms, p99 $p99 ms, errors $errors, balancer CPU $cpu_ticks ticks ($cpu10k s/10k), SMSC $smsc_ticks ticks" >&2
            sleep 1
        done
    done
done

# ---- report ----
FAILED=()
for t in "${TARGETS[@]}"; do
    if [ "${PDUS[$t]}" = 0 ] || [ $((${ERRS[$t]} * 100000)) -gt $((${PDUS[$t]} * MAX_ERRORS_PER_100K)) ]; then
        FAILED+=("$t: ${ERRS[$t]} errors, ${PDUS[$t]} PDUs")
    fi
done
{
echo
echo "${DURATION}s per run, $ROUNDS round(s), order alternated; smpp-load smsc answering ESME_ROK; load tool and each SMSC $ESME_THREADS and $SMSC_THREADS thread(s); $(date -u +%Y-%m-%d), $(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)."
for series in "${SERIES_LIST[@]}"; do
    direct_rate=$(mean "${RATE[$series-direct]}" 3)
    echo
    echo "Series $series: ${TITLE_OF[$series]}; smpp-load esme, ${CONN_OF[$series]} transceiver sessions x window ${WINDOW_OF[$series]} submit_sm."
    echo
    echo "| target | PDU/s (each round; mean) | rate / direct | p50 ms | p99 ms | errors | balancer CPU s per 10,000 PDUs (each round; mean) | SMSC CPU s per 10,000 PDUs |"
    echo "|---|---|---:|---:|---:|---:|---|---:|"
    for t in ${TARGETS_OF[$series]}; do
        cpu="-" ratio="-"
        if is_balancer "$t"; then
            cpu="$(each "${CPU10K[$t]}"); **$(mean "${CPU10K[$t]}" 4)**"
            ratio=$(awk -v a="$(mean "${RATE[$t]}" 3)" -v b="$direct_rate" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }')
        fi
        echo "| ${LABEL[$t]} | $(each "${RATE[$t]}"); **$(mean "${RATE[$t]}")** | $ratio | $(mean "${P50[$t]}" 3) | $(mean "${P99[$t]}" 3) | ${ERRS[$t]} of ${PDUS[$t]} | $cpu | $(mean "${SMSC10K[$t]}" 4) |"
    done
done
echo
idle=""; for b in "${BALANCERS[@]}"; do idle+="${idle:+, }$b ${IDLE_MS[$b]}"; done
echo "Idle CPU (ms per second, included in the CPU figures above): ${idle:--}. Load average before the warm-up: $LOAD_BEFORE."
echo "PDUs are submit_sm answered ESME_ROK; errors are other statuses, generic_nack and responses missing at the end, summed over the rounds. p50 and p99 are the means over the rounds of each run's percentiles."
echo
echo "Per run: the load tool's counts and the CPU clock ticks (1/$CLK_TCK s) of the balancer and of the series' SMSC."
echo
echo "| round | series | target | PDUs | errors | seconds | PDU/s | p50 ms | p99 ms | balancer ticks | SMSC ticks |"
echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for row in "${DETAILS[@]}"; do echo "$row"; done
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo
    echo "FAILED (no PDUs or more than 0.1 % errors): ${FAILED[*]}"
fi
} | tee "$OUT/report.md"
[ "${#FAILED[@]}" = 0 ] || exit 1
