#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ for a bounded time each and prints one summary line
# per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS (default 60) is libFuzzer's -max_total_time per target; without TARGETs all of
# them run one after another. The targets are built with AddressSanitizer (nightly flags
# enabled on the stable toolchain through RUSTC_BOOTSTRAP=1) and debug assertions; if that
# build fails, they are built without a sanitizer. Before running, the corpora in
# fuzz/corpus/ are seeded from the committed SIP torture messages (core/tests/corpus/sip),
# the configuration fixtures and a few heartbeat requests; libFuzzer adds what it finds.
#
# Exit status: 0 if no target found a crash, 1 if one did (artifacts in
# fuzz/artifacts/TARGET/, logs in fuzz/artifacts/logs/), 2 on a usage or build error.
#
# Environment: FUZZ_SANITIZER=address|none forces the sanitizer (default: try address, fall
# back to none). Extra libFuzzer flags can be given in FUZZ_ARGS.
set -uo pipefail

ALL_TARGETS=(sip_message sip_uri sip_framer heartbeat_http config_xml balancer_inputs)

duration=60
if [[ $# -gt 0 ]]; then
    if [[ $1 =~ ^[0-9]+$ ]]; then
        duration=$1
        shift
    elif [[ $1 == -h || $1 == --help ]]; then
        sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
    fi
fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=("${ALL_TARGETS[@]}")
fi
for t in "${targets[@]}"; do
    if [[ ! " ${ALL_TARGETS[*]} " =~ \ $t\  ]]; then
        echo "fuzz.sh: unknown target '$t' (known: ${ALL_TARGETS[*]})" >&2
        exit 2
    fi
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz_dir=$root/fuzz
cd "$fuzz_dir" || exit 2

if ! command -v cargo-fuzz >/dev/null 2>&1 && [[ ! -x $HOME/.cargo/bin/cargo-fuzz ]]; then
    echo "fuzz.sh: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2
    exit 2
fi

# ---------------------------------------------------------------------------------------
# Build: AddressSanitizer first, then no sanitizer.
# ---------------------------------------------------------------------------------------
build_flags=(--release --debug-assertions)
sanitizer_env=()
sanitizer_flags=()
build_one() { # $1 = address|none; builds all targets
    if [[ $1 == address ]]; then
        RUSTC_BOOTSTRAP=1 cargo fuzz build "${build_flags[@]}" --sanitizer address
    else
        cargo fuzz build "${build_flags[@]}" --sanitizer none
    fi
}
mkdir -p artifacts/logs
sanitizer=${FUZZ_SANITIZER:-}
if [[ -z $sanitizer || $sanitizer == address ]]; then
    echo "== building fuzz targets with AddressSanitizer (RUSTC_BOOTSTRAP=1)"
    if build_one address >artifacts/logs/build.log 2>&1; then
        sanitizer=address
    elif [[ -z $sanitizer ]]; then
        echo "   AddressSanitizer build failed (see fuzz/artifacts/logs/build.log); building without a sanitizer"
        sanitizer=none
    else
        tail -n 30 artifacts/logs/build.log >&2
        exit 2
    fi
fi
if [[ $sanitizer == none ]]; then
    echo "== building fuzz targets without a sanitizer"
    if ! build_one none >artifacts/logs/build.log 2>&1; then
        tail -n 30 artifacts/logs/build.log >&2
        exit 2
    fi
fi
if [[ $sanitizer == address ]]; then
    sanitizer_env=(RUSTC_BOOTSTRAP=1)
fi
sanitizer_flags=(--sanitizer "$sanitizer")

# ---------------------------------------------------------------------------------------
# Seed corpora (never committed: fuzz/corpus is git-ignored).
# ---------------------------------------------------------------------------------------
echo "== seeding corpora"
python3 - "$root" <<'PY'
import hashlib, pathlib, re, sys

root = pathlib.Path(sys.argv[1])
corpus = root / "fuzz" / "corpus"

def put(target, data):
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    (d / ("seed-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)

sip = sorted((root / "core" / "tests" / "corpus" / "sip").rglob("*.dat"))
uris = set()
for path in sip:
    msg = path.read_bytes()
    put("sip_message", msg)
    # sip_framer input: 3 control bytes (64 KiB limit, 64 header lines, chunk seed), then
    # the stream: the message alone, and the message twice with a keep-alive in between.
    put("sip_framer", b"\xff\x3f\x07" + msg)
    put("sip_framer", b"\xff\x3f\x2a" + msg + b"\r\n\r\n" + msg)
    lines = re.split(rb"\r?\n", msg.split(b"\r\n\r\n")[0])
    parts = lines[0].split(b" ")
    if len(parts) == 3 and not parts[0].startswith(b"SIP/"):
        uris.add(parts[1])
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() not in (b"route", b"record-route", b"contact", b"m",
                                        b"from", b"f", b"to", b"t"):
            continue
        uris.update(re.findall(rb"<([^<>]*)>", value))
        bare = value.strip().split(b";")[0]
        if bare and b"<" not in bare and b'"' not in bare and bare != b"*":
            uris.add(bare)
for u in sorted(uris):
    put("sip_uri", u)
for u in (b"sip:192.0.2.1:5060;transport=tcp;lr", b"sips:[2001:db8::1]:5061;transport=tls",
          b"sip:lb@10.0.0.1:5065;node_host=10.0.0.7;node_port=5080;version=2;lr",
          b"tel:+1-201-555-0123;phone-context=example.com", b"urn:service:sos"):
    put("sip_uri", u)

def http(body):
    if isinstance(body, str):
        body = body.encode()
    return (b"POST / HTTP/1.1\r\nHost: 127.0.0.1:2610\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body

start = ('{"start":{"hostName":"node2","ip":"10.0.0.8","httpPort":"8080","udpPort":"5080",'
         '"tcpPort":"5080","tlsPort":"5081","wsPort":"5082","smppPort":"2776","version":"1",'
         '"sessionId":"42","heartbeatPort":"2222","restcommInstanceId":"ID1","jvmRoute":"r1"}}')
bodies = [
    start,
    '{"start":{"ip":"::1","udpPort":5090,"sessionId":7}}',
    '{"heartbeat":{"sessionId":"1510844617581"}}',
    '{"heartbeat":{"sessionId":1510844617581}}',
    '{"shutdown":{"sessionId":"1510844617581"}}',
    '{"stop":{"sessionId":"1510844617581"}}',
    '{"switchover":{"fromJvmRoute":"r1","toJvmRoute":"r2"}}',
    '{"heartbeat":{"sessionId":"unknown"}}',
]
for b in bodies:
    put("heartbeat_http", http(b))
put("heartbeat_http", http(start) + http('{"heartbeat":{"sessionId":"42"}}')
    + http('{"stop":{"sessionId":"42"}}'))
put("heartbeat_http", b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
put("heartbeat_http", b"ip=10.0.0.9\nudpPort=5080\nsessionId=9\nversion=0\n"
    b"GRACEFUL_SHUTDOWN=false\n# comment\nhostname: node\\\n  9\n")

config = root / "core" / "tests" / "fixtures" / "config"
if config.is_dir():
    for path in sorted(config.glob("*.xml")):
        put("config_xml", path.read_bytes())
default = root / "core" / "src" / "config" / "default.xml"
if default.is_file():
    put("config_xml", default.read_bytes())

# Dictionary for config_xml: every element name the seeds use, as open and close tags.
names = set()
for f in (corpus / "config_xml").glob("*"):
    names.update(re.findall(rb"<([A-Za-z][A-Za-z0-9_.-]*)", f.read_bytes()))
(root / "fuzz" / "target").mkdir(exist_ok=True)
with open(root / "fuzz" / "target" / "config_xml.dict", "wb") as out:
    out.write(b"# generated by scripts/fuzz.sh from the config_xml seeds\n")
    for n in sorted(names):
        for tok in (b"<" + n + b">", b"</" + n + b">"):
            out.write(b'"' + tok.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"\n')
PY
[[ $? -eq 0 ]] || { echo "fuzz.sh: seeding the corpora failed" >&2; exit 2; }

# ---------------------------------------------------------------------------------------
# Run.
# ---------------------------------------------------------------------------------------
declare -A summary
found=0
for t in "${targets[@]}"; do
    log=artifacts/logs/$t.log
    mkdir -p "artifacts/$t" "corpus/$t"
    stamp=$(mktemp)
    dict_file=
    case $t in
        sip_*) dict_file=dict/sip.dict ;;
        heartbeat_http) dict_file=dict/heartbeat.dict ;;
        config_xml) dict_file=target/config_xml.dict ;;
    esac
    dict=()
    [[ -f $dict_file ]] && dict=(-dict="$dict_file")
    echo "== $t: ${duration}s ($sanitizer sanitizer, log fuzz/$log)"
    start=$(date +%s)
    # The outer timeout only guards against a hung process; libFuzzer stops itself.
    env "${sanitizer_env[@]}" timeout -k 30 $((duration * 2 + 120)) \
        cargo fuzz run "${build_flags[@]}" "${sanitizer_flags[@]}" "$t" -- \
        -max_total_time="$duration" -print_final_stats=1 -timeout=10 \
        "${dict[@]}" ${FUZZ_ARGS:-} >"$log" 2>&1
    rc=$?
    elapsed=$(($(date +%s) - start))
    execs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$')
    if [[ -z $execs ]]; then
        execs=$(grep -a -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')
    fi
    rate=$(grep -a -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$')
    if [[ -z $rate ]]; then
        rate=$(grep -a -o 'exec/s: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$')
    fi
    # libFuzzer's own corpus (units kept in memory at the end) and the files on disk, which
    # accumulate over runs.
    units=$(grep -a -o 'corp: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$')
    files=$(find "corpus/$t" -type f | wc -l)
    corp="${units:-?}/${files}"
    new_artifacts=$(find "artifacts/$t" -type f -newer "$stamp" | sort)
    rm -f "$stamp"
    if [[ $rc -eq 0 && -z $new_artifacts ]]; then
        result="no crash"
    else
        found=1
        if [[ -n $new_artifacts ]]; then
            result="CRASH (exit $rc): $(echo "$new_artifacts" | sed "s|^|fuzz/|" | tr '\n' ' ')"
        else
            result="FAILED (exit $rc, no artifact; see fuzz/$log)"
        fi
        grep -a -m 1 -E "panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer" "$log" | sed 's/^/   /'
    fi
    summary[$t]=$(printf '%-15s %4ss  execs %-10s exec/s %-7s corpus %-11s %s' \
        "$t" "$elapsed" "${execs:-?}" "${rate:-?}" "$corp" "$result")
    echo "   ${summary[$t]}"
done

echo
echo "== summary (${duration}s per target, sanitizer: $sanitizer; wall time includes any rebuild;"
echo "   corpus = libFuzzer units / files in fuzz/corpus/TARGET)"
for t in "${targets[@]}"; do
    echo "${summary[$t]}"
done
exit "$found"
