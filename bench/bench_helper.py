#!/usr/bin/env python3
"""Small helpers for bench/sipp-vs-kamailio.sh (standard library only).

  ports N                         N loopback ports free for UDP and TCP right now, one a line
  nodes HB_PORT READY_FILE P1 P2  register SIP nodes at 127.0.0.1:P1, :P2 with the balancer's
                                  HTTP/JSON heartbeat port, then heartbeat every second until
                                  killed (at most --lifetime seconds)
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


def nodes(hb_port, ready_file, sip_ports, lifetime):
    sessions = []
    for i, sip_port in enumerate(sip_ports):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOCALHOST, 0))
        listener.listen(4)
        threading.Thread(target=answer_stops, args=(listener,), daemon=True).start()
        session = int(time.time() * 1000) + sip_port
        start = json.dumps({"start": {
            "hostName": "node%d" % (i + 1),
            "ip": LOCALHOST,
            "udpPort": str(sip_port),
            "version": "0",
            "sessionId": str(session),
            "heartbeatPort": str(listener.getsockname()[1]),
        }})
        deadline = time.time() + 10
        while True:
            try:
                if '{"start":"OK"}' in http_post(hb_port, start):
                    break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("node on port %d: start not accepted within 10 s" % sip_port)
            time.sleep(0.2)
        sessions.append((session, start))
    with open(ready_file, "w") as f:
        f.write("registered %s\n" % " ".join(str(p) for p in sip_ports))
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
    elif cmd == "cpu":
        print(cpu_ticks(int(args[0])))
    elif cmd == "sippstat":
        sippstat(args[0])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
