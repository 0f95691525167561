#!/usr/bin/env python3
"""Small helpers for bench/sipp-vs-kamailio.sh and bench/http-vs-haproxy.sh (standard library
only).

  ports N                         N loopback ports free for UDP and TCP right now, one a line
  nodes HB_PORT READY_FILE P1 P2  register SIP nodes at 127.0.0.1:P1, :P2 with the balancer's
                                  HTTP/JSON heartbeat port, then heartbeat every second until
                                  killed (at most 30 minutes)
  httpnodes HB_PORT READY_FILE ROUTE=HTTP_PORT ...
                                  the same for HTTP nodes (hostName and jvmRoute ROUTE, httpPort
                                  HTTP_PORT, udpPort and tcpPort a port free now)
  lbinfo API_PORT ROUTE=HTTP_PORT ...
                                  wait (at most 10 s) until the balancer's /lbinfo lists a node
                                  of each jvmRoute with that httpPort; exit 1 if it does not
  wrkstat FILE                    the SUMMARY line the benchmark's wrk script prints, as
                                  KEY=VALUE lines
  cpu PID                         utime+stime (clock ticks) of PID and all its descendants,
                                  from /proc/<pid>/stat fields 14 and 15
  sippstat FILE                   the last line of a SIPp -stf file as KEY=VALUE lines
"""

import json
import os
import socket
import sys
import threading
import time

LOCALHOST = "127.0.0.1"


def free_ports(n):
    held, ports = [], []
    while len(ports) < n:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((LOCALHOST, 0))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind((LOCALHOST, port))
        except OSError:
            udp.close()
            tcp.close()
            continue
        held += [udp, tcp]
        ports.append(port)
    for s in held:
        s.close()
    return ports


def http_post(port, body, timeout=5.0):
    data = body.encode()
    with socket.create_connection((LOCALHOST, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data
        )
        answer = b""
        while True:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            answer += chunk
            head, sep, rest = answer.partition(b"\r\n\r\n")
            if sep:
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip() or 0)
                if len(rest) >= length:
                    break
        return answer.decode(errors="replace")


def answer_stops(listener):
    """The node's own heartbeat port: answer the balancer's LB->node requests with OK."""
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(2)
            try:
                conn.recv(65536)
                body = b'{"stop":"OK"}'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(body)).encode() + b"\r\n\r\n" + body
                )
            except OSError:
                pass


def register(hb_port, ready_file, nodes_properties, lifetime):
    """Registers each node (a dict of `start` properties) and heartbeats them every second."""
    sessions = []
    for i, properties in enumerate(nodes_properties):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOCALHOST, 0))
        listener.listen(4)
        threading.Thread(target=answer_stops, args=(listener,), daemon=True).start()
        session = int(time.time() * 1000) * 10 + i
        properties = dict(properties, sessionId=str(session),
                          heartbeatPort=str(listener.getsockname()[1]))
        start = json.dumps({"start": properties})
        deadline = time.time() + 10
        while True:
            try:
                if '{"start":"OK"}' in http_post(hb_port, start):
                    break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("node %s: start not accepted within 10 s" % properties["hostName"])
            time.sleep(0.2)
        sessions.append((session, start))
    with open(ready_file, "w") as f:
        f.write("registered %s\n" % " ".join(p["hostName"] for p in nodes_properties))
    end = time.time() + lifetime
    while time.time() < end:
        time.sleep(1)
        for session, start in sessions:
            try:
                answer = http_post(hb_port, json.dumps({"heartbeat": {"sessionId": session}}))
                if '"OK"' not in answer:
                    http_post(hb_port, start)  # unknown session: register again
            except OSError:
                pass


def nodes(hb_port, ready_file, sip_ports, lifetime):
    register(hb_port, ready_file, [{
        "hostName": "node%d" % (i + 1),
        "ip": LOCALHOST,
        "udpPort": str(sip_port),
        "version": "0",
    } for i, sip_port in enumerate(sip_ports)], lifetime)


def route_ports(args):
    """ROUTE=PORT arguments as (route, port) pairs."""
    pairs = []
    for arg in args:
        route, _, port = arg.partition("=")
        pairs.append((route, int(port)))
    return pairs


def http_nodes(hb_port, ready_file, routes, lifetime):
    sip = free_ports(len(routes))
    register(hb_port, ready_file, [{
        "hostName": route,
        "ip": LOCALHOST,
        "httpPort": str(http_port),
        "udpPort": str(sip_port),
        "tcpPort": str(sip_port),
        "version": "0",
        "jvmRoute": route,
    } for (route, http_port), sip_port in zip(routes, sip)], lifetime)


def http_get(port, path, timeout=2.0):
    with socket.create_connection((LOCALHOST, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  + b"Connection: close\r\n\r\n")
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        plain, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size.split(b";")[0] or b"0", 16)
            if n == 0:
                break
            plain, rest = plain + rest[:n], rest[n + 2:]
        body = plain
    return body.decode(errors="replace")


def lbinfo(api_port, routes):
    """Waits until /lbinfo lists a node of each (jvmRoute, httpPort); prints what it lists."""
    deadline, listed = time.time() + 10, []
    while time.time() < deadline:
        try:
            info = json.loads(http_get(api_port, "/lbinfo"))["Nodes info"]
            nodes = info.get("nodesIPv4", []) + info.get("nodesIPv6", [])
            listed = [json.dumps(node) for node in nodes]
            found = {(n.get("properties", {}).get("jvmRoute"),
                      n.get("properties", {}).get("httpPort")) for n in nodes}
            if all((route, str(port)) in found for route, port in routes):
                print("\n".join(listed))
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    print("\n".join(listed))
    sys.exit("/lbinfo on port %d does not list %s" % (api_port, routes))


def wrkstat(path):
    with open(path) as f:
        for line in f:
            if line.startswith("SUMMARY "):
                for pair in line.split()[1:]:
                    print(pair)
                return
    sys.exit("no SUMMARY line in %s" % path)


def children_of():
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        kids.setdefault(int(fields[1]), []).append(int(entry))
    return kids


def cpu_ticks(pid):
    kids = children_of()
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/stat" % p) as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after "(comm)": state is field 3, so utime (14) and stime (15) are 11 and 12.
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
        todo += kids.get(p, [])
    return total


def sippstat(path):
    with open(path) as f:
        lines = [l for l in f.read().splitlines() if l.strip()]
    if len(lines) < 2:
        return
    header = lines[0].split(";")
    last = lines[-1].split(";")
    for k, v in zip(header, last):
        if k:
            print("%s=%s" % (k, v.strip()))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "ports":
        print("\n".join(str(p) for p in free_ports(int(args[0]))))
    elif cmd == "nodes":
        nodes(int(args[0]), args[1], [int(p) for p in args[2:]], lifetime=1800)
    elif cmd == "httpnodes":
        http_nodes(int(args[0]), args[1], route_ports(args[2:]), lifetime=1800)
    elif cmd == "lbinfo":
        lbinfo(int(args[0]), route_ports(args[1:]))
    elif cmd == "wrkstat":
        wrkstat(args[0])
    elif cmd == "cpu":
        print(cpu_ticks(int(args[0])))
    elif cmd == "sippstat":
        sippstat(args[0])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
