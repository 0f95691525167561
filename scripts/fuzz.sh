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
# the configuration fixtures, a few heartbeat requests, HTTP requests and responses,
# WebSocket handshakes and frames and SMPP PDUs; libFuzzer adds what it finds.
#
# Exit status: 0 if no target found a crash, 1 if one did (artifacts in
# fuzz/artifacts/TARGET/, logs in fuzz/artifacts/logs/), 2 on a usage or build error.
#
# Environment: FUZZ_SANITIZER=address|none forces the sanitizer (default: try address, fall
# back to none). Extra libFuzzer flags can be given in FUZZ_ARGS.
set -uo pipefail

ALL_TARGETS=(sip_message sip_uri sip_framer heartbeat_http config_xml balancer_inputs http_framer
    ws_frames smpp_frames)

duration=60
if [[ $# -gt 0 ]]; then
    if [[ $1 =~ ^[0-9]+$ ]]; then
        duration=$1
        shift
    elif [[ $1 == -h || $1 == --help ]]; then
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
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
# http_framer input: 3 control bytes (flags: bit 0 responses, bit 1 relay after a switch,
# bits 2-7 which responses answer a HEAD; limits, below 0x80 the defaults; chunk seed), then
# the connection's bytes.
requests = [
    b"GET /index.html HTTP/1.1\r\nHost: lb.example.com\r\nAccept: */*\r\n\r\n",
    b"POST /api/v1/calls HTTP/1.1\r\nHost: lb\r\nContent-Type: application/json\r\n"
    b"Content-Length: 17\r\n\r\n{\"call\":\"a@b.c\"}\n",
    b"PUT /upload HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 42\r\n\r\n",
    b"\r\nGET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n"
    b"ab\r\nGET /3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"PUT /big HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n0123456789",
    b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
    b"CONNECT backend:443 HTTP/1.1\r\nHost: backend:443\r\n\r\nopaque tunnel bytes",
]
responses = [
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
    b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\nHTTP/1.0 200 OK\r\n\r\nuntil close",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    b"\x81\x05Hello",
]
for i, r in enumerate(requests):
    put("http_framer", bytes([0x00, 0x00, 0x11 + i]) + r)
    put("http_framer", bytes([0x02, 0xc0 | i * 9, 0x51 + i]) + r)
for i, r in enumerate(responses):
    put("http_framer", bytes([0x01, 0x00, 0x21 + i]) + r)
    put("http_framer", bytes([0x07 if i == 3 else 0x03, 0x95, 0x61 + i]) + r)
(root / "fuzz" / "target").mkdir(exist_ok=True)
with open(root / "fuzz" / "target" / "http_framer.dict", "wb") as out:
    out.write(b"# generated by scripts/fuzz.sh for http_framer\n")
    for tok in (b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 101 ", b"HTTP/1.1 204 ",
                b"HTTP/1.1 304 ", b"HTTP/1.1 100 ", b"GET / HTTP/1.1\r\n", b"HEAD ", b"CONNECT ",
                b"Content-Length: ", b"Transfer-Encoding: ", b"chunked", b"gzip, chunked",
                b"Connection: close", b"Connection: Upgrade", b"Upgrade: websocket",
                b"Expect: 100-continue", b"\r\n", b"\r\n\r\n", b"0\r\n\r\n", b";ext=v", b"\t"):
        out.write(b'"' + b"".join(b"\\x%02x" % c if c < 0x20 or c in b'"\\' else bytes([c])
                                  for c in tok) + b'"\n')

# ws_frames input: 3 control bytes (message size limit, 255 for 1 MiB; chunk seed; handshake
# options: bit 0 the sip sub-protocol, bits 1-2 the client's key seed), then the bytes.
import base64, struct

def frame(opcode, payload, mask=None, fin=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    m = 0x80 if mask else 0
    if len(payload) < 126:
        head += bytes([m | len(payload)])
    elif len(payload) < 65536:
        head += bytes([m | 126]) + struct.pack(">H", len(payload))
    else:
        head += bytes([m | 127]) + struct.pack(">Q", len(payload))
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload

key = b"\x37\xfa\x21\x3d"
for mask in (None, key):  # client role decodes unmasked frames, server role masked ones
    frames = [
        frame(0x1, b"Hello", mask),
        frame(0x1, b"Hel", mask, fin=False) + frame(0x9, b"ping", mask) + frame(0x0, b"lo", mask),
        frame(0xA, b"Hello", mask) + frame(0x2, bytes(range(256)), mask),
        frame(0x1, "OPTIONS sip:lb SIP/2.0\r\nVia: SIP/2.0/WS h;branch=z9hG4bK1\r\n\r\n".encode(),
              mask) + frame(0x8, b"\x03\xe8bye", mask),
        frame(0x2, b"\x00" * 300, mask) + frame(0x8, b"", mask) + frame(0x1, b"ignored", mask),
        frame(0x1, "caf\u00e9 \u2713".encode(), mask, fin=False) + frame(0x0, b"", mask),
    ]
    for i, f in enumerate(frames):
        put("ws_frames", bytes([0xff, 0x31 + i, 0x00]) + f)
        put("ws_frames", bytes([0x10 + i * 8, 0x41 + i, 0x00]) + f)

def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & (2**64 - 1)
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    return state, z ^ (z >> 31)

def accept_for(client_seed):
    s, a = splitmix64(client_seed)
    s, b = splitmix64(s)
    k = base64.b64encode(struct.pack(">QQ", a, b))
    return base64.b64encode(hashlib.sha1(k + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())

put("ws_frames", b"\xff\x11\x01GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n" + frame(0x1, b"Hello", key))
for hs in (0, 1, 2, 7):
    proto = b"Sec-WebSocket-Protocol: sip\r\n" if hs & 1 else b""
    put("ws_frames", b"\xff\x12" + bytes([hs]) + b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
        + accept_for(hs >> 1 & 3) + b"\r\n" + proto + b"\r\n" + frame(0x1, b"Hello"))

# smpp_frames input: 2 control bytes (maximum PDU size, 255 for the default; chunk seed),
# then the connection's bytes: one PDU of each SMPP 3.4 command, all of them in one stream,
# and a stream whose second command_length (15) loses the framing.
def smpp(cid, status, seq, body=b""):
    return struct.pack(">IIII", 16 + len(body), cid, status, seq) + body

sm = (b"CMT\x00\x01\x01447700900001\x00\x01\x01447700900002\x00\x40\x00\x01\x00"
      b"000001000000000R\x00\x01\x00\x00\x00\x09\x05\x00\x03\x2A\x02\x01Hi!"
      b"\x02\x0C\x00\x02\x00\x07\x14\x01\x00\x02xy")
receipt = (b"\x00\x01\x01447700900002\x00\x05\x00447700900001\x00\x04\x00\x00\x00\x00\x00\x00"
           b"\x00\x00\x22id:1234567890 sub:001 stat:DELIVRD\x00\x1E\x00\x0B1234567890\x00")
pdus = [
    smpp(0x02, 0, 1, b"SMPP3TEST\x00secret08\x00SUBMIT1\x00\x34\x01\x01\x00"),
    smpp(0x09, 0, 2, b"esme\x00pw\x00\x00\x34\x00\x00\x00"),
    smpp(0x80000009, 0, 2, b"loadbalancer\x00\x02\x10\x00\x01\x34"),
    smpp(0x04, 0, 3, sm), smpp(0x80000004, 0, 3, b"0A1B2C\x00"),
    smpp(0x05, 0, 4, receipt), smpp(0x80000005, 0, 4, b"\x00"),
    smpp(0x103, 0, 5, b"WAP\x00\x01\x01111\x00\x01\x01222\x00\x00\x00\x08\x04\x24\x00\x02hi"),
    smpp(0x80000103, 0xFE, 5, b"m1\x00\x04\x25\x00\x01\x02"),
    smpp(0x21, 0, 6, b"\x00\x01\x01111\x00\x02\x01\x01\x01222\x00\x02friends\x00"
         b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02ok"),
    smpp(0x80000021, 0, 6, b"m9\x00\x01\x01\x01222\x00\x00\x00\x00\x0B"),
    smpp(0x03, 0, 7, b"m1\x00\x01\x01111\x00"),
    smpp(0x80000003, 0, 7, b"m1\x00240101120000000+\x00\x02\x00"),
    smpp(0x08, 0, 8, b"\x00m1\x00\x01\x01111\x00\x01\x01222\x00"), smpp(0x80000008, 0, 8),
    smpp(0x07, 0, 9, b"m1\x00\x01\x01111\x00\x00\x00\x01\x00\x03new"), smpp(0x80000007, 0, 9),
    smpp(0x0B, 0, 10, b"smsc\x00pw\x00"),
    smpp(0x102, 0, 11, b"\x01\x01111\x00\x00\x00esme\x00\x04\x22\x00\x01\x00"),
    smpp(0x15, 0, 12), smpp(0x80000015, 0, 12), smpp(0x06, 0, 13), smpp(0x80000006, 0, 13),
    smpp(0x80000000, 3, 14),
]
for i, p in enumerate(pdus):
    put("smpp_frames", bytes([0xff, 0x11 + i]) + p)
put("smpp_frames", b"\xff\x42" + b"".join(pdus))
put("smpp_frames", b"\x20\x43" + b"".join(pdus[:6]))
put("smpp_frames", b"\xff\x44" + pdus[0] + struct.pack(">IIII", 15, 2, 0, 0x42))
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
        http_framer) dict_file=target/http_framer.dict ;;
    esac
    dict=()
    [[ -f $dict_file ]] && dict=(-dict="$dict_file")
    # balancer_inputs reads a sequence of ops: long inputs from the start.
    target_args=()
    [[ $t == balancer_inputs ]] && target_args=(-len_control=0 -max_len=4096)
    echo "== $t: ${duration}s ($sanitizer sanitizer, log fuzz/$log)"
    start=$(date +%s)
    # The outer timeout only guards against a hung process; libFuzzer stops itself.
    env "${sanitizer_env[@]}" timeout -k 30 $((duration * 2 + 120)) \
        cargo fuzz run "${build_flags[@]}" "${sanitizer_flags[@]}" "$t" -- \
        -max_total_time="$duration" -print_final_stats=1 -timeout=10 \
        "${dict[@]}" "${target_args[@]}" ${FUZZ_ARGS:-} >"$log" 2>&1
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
