#!/usr/bin/env python3
"""A cluster node for the HTTP balancer's end-to-end tests (tests/tests/e2e_http*.rs).

It binds free loopback ports itself, registers with the balancer through the JSON heartbeat
(`start`, then `heartbeat` every second), prints one line

    READY http=<port> ssl=<port|0> ws=<port|0>

on stdout and serves until killed:

- httpPort (and sslPort with --ssl-cert/--ssl-key): HTTP/1.1 with keep-alive. Every answer
  carries `X-Served-By: NAME`, `X-Listener: http|ssl` and, when the request has no JSESSIONID
  cookie, `Set-Cookie: JSESSIONID=<hex>.<jvmRoute>; Path=/`. The body is JSON:
  {"node", "listener", "method", "path", "headers" (lower-case names), "body_len"}.
  Paths: /echo answers the request body (a chunked one decoded); /chunked answers the JSON in
  a chunked body; /big?bytes=N answers N bytes (0, 1, …, 255, 0, …); /slow?ms=N waits N ms
  first; /status/NNN answers status NNN (204 and 304 without a body); /close answers with
  `Connection: close`, /close-delimited without a length (the body ends with the connection),
  /drop-after normally but then closes the connection without notice. A request with
  `Upgrade: websocket` is accepted (101) and every frame is echoed.
- wsPort (--ws): a `websockets` echo server offering the sub-protocol `sip`; its 101 carries
  `X-Served-By: NAME` and `X-Listener: ws`.

Signals: SIGUSR1 sends `{"shutdown":…}` (graceful shutdown) and the node keeps serving and
heartbeating; SIGTERM stops heartbeating and exits at once.
"""

import argparse
import asyncio
import base64
import hashlib
import http.client
import http.server
import json
import os
import secrets
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse

LOOPBACK = "127.0.0.1"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def make_handler(name, jvm_route, listener):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "http-node"
        disable_nagle_algorithm = True  # head and body leave at once, not 40 ms apart

        def log_message(self, fmt, *args):
            log(f"{name}/{listener}:", fmt % args)

        def read_body(self):
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                body = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailer fields
                        return body
                    body += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def handle_any(self):
            if self.headers.get("Upgrade", "").lower() == "websocket":
                return self.websocket_echo()
            body = self.read_body()
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            status = 200
            if url.path.startswith("/status/"):
                status = int(url.path.rsplit("/", 1)[1])
            if url.path == "/slow":
                time.sleep(int(query.get("ms", ["0"])[0]) / 1000)
            headers = {}
            for key, value in self.headers.items():
                key = key.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            info = {
                "node": name,
                "listener": listener,
                "method": self.command,
                "path": self.path,
                "headers": headers,
                "body_len": len(body),
            }
            out = body if url.path == "/echo" else json.dumps(info).encode()
            if url.path == "/big":
                size = int(query.get("bytes", ["0"])[0])
                out = (bytes(range(256)) * (size // 256 + 1))[:size]
            self.send_response(status)
            self.send_header("X-Served-By", name)
            self.send_header("X-Listener", listener)
            self.send_header("Content-Type", "application/json")
            if "JSESSIONID=" not in self.headers.get("Cookie", ""):
                cookie = f"JSESSIONID={secrets.token_hex(16).upper()}.{jvm_route}; Path=/"
                self.send_header("Set-Cookie", cookie)
            if status in (204, 304):  # no body, no framing field
                self.end_headers()
                return
            if url.path == "/close-delimited":  # the body ends where the connection does
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(out)
                self.close_connection = True
                return
            if url.path == "/close":
                self.send_header("Connection", "close")
                self.close_connection = True
            if url.path == "/chunked":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if self.command != "HEAD":
                    third = max(1, len(out) // 3)
                    for i in range(0, len(out), third):
                        part = out[i : i + third]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                return
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out)
            if url.path == "/drop-after":  # a kept connection closed without notice
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = handle_any

        def websocket_echo(self):
            """RFC 6455 handshake, then every data frame is sent back, until a close."""
            key = self.headers.get("Sec-WebSocket-Key", "")
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest())
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept.decode())
            offered = self.headers.get("Sec-WebSocket-Protocol")
            if offered:
                self.send_header("Sec-WebSocket-Protocol", offered.split(",")[0].strip())
            self.send_header("X-Served-By", name)
            self.send_header("X-Listener", listener)
            self.end_headers()
            self.wfile.flush()
            self.close_connection = True
            read = self.rfile.read
            while True:
                head = read(2)
                if len(head) < 2:
                    return
                first, length = head[0], head[1] & 0x7F
                if length == 126:
                    length = struct.unpack("!H", read(2))[0]
                elif length == 127:
                    length = struct.unpack("!Q", read(8))[0]
                mask = read(4) if head[1] & 0x80 else b"\0\0\0\0"
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(read(length)))
                opcode = first & 0x0F
                if opcode == 9:  # ping → pong
                    first = (first & 0xF0) | 0xA
                elif opcode == 0xA:
                    continue
                if len(data) < 126:
                    out = bytes([first, len(data)])
                elif len(data) < 65536:
                    out = bytes([first, 126]) + struct.pack("!H", len(data))
                else:
                    out = bytes([first, 127]) + struct.pack("!Q", len(data))
                self.wfile.write(out + data)
                self.wfile.flush()
                if opcode == 8:  # close echoed: done
                    return

    return Handler


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    tls = None  # an ssl.SSLContext: every accepted connection is wrapped in its own thread

    def finish_request(self, request, client_address):
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                log("TLS handshake failed:", e)
                return
        super().finish_request(request, client_address)


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def start_ws(name):
    """The `websockets` echo server on a free port, in its own thread; returns the port."""
    from websockets.asyncio.server import serve as ws_serve

    ready = threading.Event()
    port = []

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    def headers(connection, request, response):
        response.headers["X-Served-By"] = name
        response.headers["X-Listener"] = "ws"
        return response

    async def main():
        async with ws_serve(
            echo, LOOPBACK, 0, subprotocols=["sip"], process_response=headers
        ) as server:
            port.append(server.sockets[0].getsockname()[1])
            ready.set()
            await asyncio.get_running_loop().create_future()

    threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
    if not ready.wait(10):
        sys.exit("the WebSocket server did not start")
    return port[0]


def post(port, payload):
    """One JSON POST to the balancer's heartbeat port; the answer's body, or None."""
    try:
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
        conn.request("POST", "/", json.dumps(payload), {"Content-Type": "application/json"})
        answer = conn.getresponse().read().decode(errors="replace")
        conn.close()
        return answer
    except OSError as e:
        log("heartbeat port:", e)
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lb-heartbeat", type=int, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--jvm-route", required=True)
    p.add_argument("--instance-id")
    p.add_argument("--ssl-cert")
    p.add_argument("--ssl-key")
    p.add_argument("--ws", action="store_true")
    p.add_argument("--sip-port", type=int, default=0, help="udpPort/tcpPort (default: free)")
    args = p.parse_args()

    http_port = serve(Server((LOOPBACK, 0), make_handler(args.name, args.jvm_route, "http")))
    ssl_port = 0
    if args.ssl_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.ssl_cert, args.ssl_key)
        server = Server((LOOPBACK, 0), make_handler(args.name, args.jvm_route, "ssl"))
        server.tls = tls
        ssl_port = serve(server)
    ws_port = start_ws(args.name) if args.ws else 0

    class StopHandler(http.server.BaseHTTPRequestHandler):
        """The node's heartbeat port: the balancer's `stop` is answered `{"stop":"OK"}`."""

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "13")
            self.end_headers()
            self.wfile.write(b'{"stop":"OK"}')

        def log_message(self, fmt, *a):
            log("heartbeat port:", fmt % a)

    heartbeat_port = serve(Server((LOOPBACK, 0), StopHandler))
    sip = []  # the SIP ports are only announced: held so that no one else takes them
    sip_port = args.sip_port
    if not sip_port:
        for _ in range(100):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((LOOPBACK, 0))
            tcp = socket.socket()
            try:
                tcp.bind((LOOPBACK, udp.getsockname()[1]))
            except OSError:
                udp.close()
                continue
            sip, sip_port = [udp, tcp], udp.getsockname()[1]
            break

    session = str(int(time.time() * 1000) * 100 + os.getpid() % 100)
    node = {
        "hostName": args.name,
        "ip": LOOPBACK,
        "httpPort": str(http_port),
        "udpPort": str(sip_port),
        "tcpPort": str(sip_port),
        "version": "0",
        "sessionId": session,
        "heartbeatPort": str(heartbeat_port),
        "jvmRoute": args.jvm_route,
    }
    if ssl_port:
        node["sslPort"] = str(ssl_port)
    if ws_port:
        node["wsPort"] = str(ws_port)
    if args.instance_id:
        node["Restcomm-Instance-Id"] = args.instance_id
    deadline = time.monotonic() + 10
    while '{"start":"OK"}' not in (post(args.lb_heartbeat, {"start": node}) or ""):
        if time.monotonic() > deadline:
            sys.exit("start not accepted by the balancer")
        time.sleep(0.2)

    stopping = threading.Event()
    shutdown = {"shutdown": {"sessionId": session}}
    signal.signal(signal.SIGUSR1, lambda *_: post(args.lb_heartbeat, shutdown))
    signal.signal(signal.SIGTERM, lambda *_: (stopping.set(), os._exit(0)))
    print(f"READY http={http_port} ssl={ssl_port} ws={ws_port}", flush=True)
    while not stopping.wait(1.0):
        post(args.lb_heartbeat, {"heartbeat": {"sessionId": session}})


if __name__ == "__main__":
    main()
