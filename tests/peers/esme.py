#!/usr/bin/env python3
"""An ESME (SMPP 3.4 client) for the SMPP balancer's end-to-end tests (tests/tests/e2e_smpp*.rs),
built on PyPI's `smpplib`: its PDU classes build and parse every PDU, its `gsm.make_parts`
splits long messages with a concatenation UDH, and its client opens the connection (plain, or
TLS through Python's ssl module without certificate verification with --tls).

It connects to --host/--port at once and then obeys commands, one JSON object per line on
stdin; it writes one JSON object per line on stdout for every PDU it sends and receives, e.g.

    {"event":"sent","command":"submit_sm","seq":3,"text":"hello-0"}
    {"event":"recv","command":"submit_sm_resp","command_id":2147483652,"status":0,"seq":3,
     "message_id":"100001"}

Received deliver_sm (answered deliver_sm_resp ESME_ROK unless --no-answer-deliver) and
enquire_link (always answered) are reported too; `recv` events carry `short_message`,
`esm_class`, `receipted_message_id`, `system_id`, `sc_interface_version` when the PDU has them.
A closed connection is reported as {"event":"closed"}; the process stays up for more commands.

Commands:
  {"op":"bind","type":"transceiver"|"transmitter"|"receiver","system_id":S,"password":P}
  {"op":"submit","count":N,"text":T}          N submit_sm with the texts T-0, T-1, ...;
        optional "source", "dest", "registered_delivery"
  {"op":"submit_long","text":T}               one long text split into parts with a UDH
  {"op":"deliver","text":T}                   a deliver_sm (not valid from an ESME)
  {"op":"enquire_link"}  {"op":"unbind"}
  {"op":"raw","hex":H}                        these octets as they are
  {"op":"close"}                              close the connection
  {"op":"connect"}                            connect again after a close
  {"op":"exit"}

It exits on `exit`, when stdin closes (the test that started it is gone) or after
--max-lifetime-s seconds (default 120).
"""

import argparse
import json
import select
import socket
import ssl
import struct
import sys
import time

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp

RECV_FIELDS = (
    "message_id",
    "system_id",
    "esm_class",
    "receipted_message_id",
    "sc_interface_version",
    "source_addr",
    "destination_addr",
)


def emit(event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def text_of(value):
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


class Esme:
    def __init__(self, args):
        self.args = args
        self.client = None
        self.sock = None
        self.buffer = b""

    # -- connection ------------------------------------------------------------------------

    def connect(self):
        context = None
        if self.args.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self.client = smpplib.client.Client(
            self.args.host,
            self.args.port,
            timeout=5,
            ssl_context=context,
            allow_unknown_opt_params=True,
        )
        try:
            self.client.connect()
        except smpplib.exceptions.ConnectionError as e:
            emit({"event": "connect_failed", "error": str(e)})
            if self.client._socket is not None:
                self.client._socket.close()
                self.client._socket = None
            self.client = None
            return
        self.sock = self.client._socket
        self.buffer = b""
        emit({"event": "connected", "tls": bool(self.args.tls)})

    def close(self, why="closed"):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        if self.client is not None:
            self.client._socket = None
            self.client.state = smpplib.consts.SMPP_CLIENT_STATE_CLOSED
        emit({"event": why})

    def send_bytes(self, data):
        if self.sock is None:
            emit({"event": "not_connected"})
            return False
        try:
            self.sock.sendall(data)
            return True
        except OSError as e:
            emit({"event": "send_failed", "error": str(e)})
            self.close()
            return False

    def send(self, pdu, **extra):
        """Sends a smpplib PDU as it is, whatever the client's own state machine thinks."""
        ok = self.send_bytes(pdu.generate())
        if ok:
            emit({"event": "sent", "command": pdu.command, "seq": pdu.sequence, **extra})
        return pdu.sequence

    def make(self, command, **fields):
        return smpplib.smpp.make_pdu(command, client=self.client, **fields)

    def answer(self, command, seq):
        """A response carrying the request's sequence number."""
        pdu = self.make(command)
        pdu.sequence = seq
        return pdu

    # -- receiving -------------------------------------------------------------------------

    def on_readable(self):
        # Read without blocking: over TLS a readable socket may carry only a record with no
        # application data (a TLS 1.3 session ticket).
        self.sock.settimeout(0.0)
        try:
            chunk = self.sock.recv(65536)
            # TLS records already decrypted wait in the ssl object, not in the socket.
            while isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
                chunk += self.sock.recv(self.sock.pending())
        except (ssl.SSLWantReadError, BlockingIOError):
            return
        except OSError as e:
            emit({"event": "recv_failed", "error": str(e)})
            self.close()
            return
        finally:
            if self.sock is not None:
                self.sock.settimeout(5)
        if not chunk:
            self.close()
            return
        self.buffer += chunk
        while len(self.buffer) >= 16:
            (length,) = struct.unpack(">L", self.buffer[:4])
            if length < 16 or length > 1 << 20:
                emit({"event": "bad_frame", "hex": self.buffer[:32].hex()})
                self.close()
                return
            if len(self.buffer) < length:
                break
            raw, self.buffer = self.buffer[:length], self.buffer[length:]
            self.on_pdu(raw)

    def on_pdu(self, raw):
        _, command_id, status, seq = struct.unpack(">LLLL", raw[:16])
        event = {"event": "recv", "command_id": command_id, "status": status, "seq": seq}
        try:
            pdu = smpplib.smpp.parse_pdu(
                raw, client=self.client, allow_unknown_opt_params=True
            )
        except Exception as e:  # a PDU smpplib cannot parse is still reported
            pdu = None
            event["parse_error"] = str(e)
        if pdu is not None:
            event["command"] = pdu.command
            for field in RECV_FIELDS:
                value = getattr(pdu, field, None)
                if value is not None:
                    event[field] = text_of(value)
            short_message = getattr(pdu, "short_message", None)
            if short_message is not None:
                event["short_message"] = text_of(short_message)
        else:
            event.setdefault("command", "unknown")
        emit(event)
        if pdu is None:
            return
        if pdu.command == "deliver_sm" and not self.args.no_answer_deliver:
            self.send(self.answer("deliver_sm_resp", seq))
        elif pdu.command == "enquire_link":
            self.send(self.answer("enquire_link_resp", seq))
        elif pdu.command == "unbind":
            self.send(self.answer("unbind_resp", seq))

    # -- commands --------------------------------------------------------------------------

    def command(self, cmd):
        op = cmd.get("op")
        if op == "connect":
            if self.sock is None:
                self.connect()
            return True
        if op == "exit":
            return False
        if op == "close":
            if self.sock is not None:
                self.close("closed_by_test")
            return True
        if self.sock is None:
            emit({"event": "not_connected", "op": op})
            return True
        if op == "bind":
            pdu = self.make(
                "bind_" + cmd.get("type", "transceiver"),
                system_id=cmd["system_id"],
                password=cmd["password"],
                system_type=cmd.get("system_type", ""),
            )
            self.send(pdu, system_id=cmd["system_id"])
        elif op == "submit":
            for n in range(int(cmd.get("count", 1))):
                text = "%s-%d" % (cmd.get("text", "msg"), n)
                pdu = self.make(
                    "submit_sm",
                    source_addr_ton=1,
                    source_addr_npi=1,
                    source_addr=cmd.get("source", "447700900100"),
                    dest_addr_ton=1,
                    dest_addr_npi=1,
                    destination_addr=cmd.get("dest", "447700900200"),
                    short_message=text.encode("latin-1"),
                    data_coding=0,
                    esm_class=0,
                    registered_delivery=int(cmd.get("registered_delivery", 0)),
                )
                self.send(pdu, text=text)
        elif op == "submit_long":
            parts, coding, esm_class = smpplib.gsm.make_parts(cmd["text"])
            for part in parts:
                pdu = self.make(
                    "submit_sm",
                    source_addr_ton=1,
                    source_addr_npi=1,
                    source_addr=cmd.get("source", "447700900100"),
                    dest_addr_ton=1,
                    dest_addr_npi=1,
                    destination_addr=cmd.get("dest", "447700900200"),
                    short_message=part,
                    data_coding=coding,
                    esm_class=esm_class,
                    registered_delivery=0,
                )
                self.send(pdu, parts=len(parts), udh=part[:6].hex())
        elif op == "deliver":
            pdu = self.make(
                "deliver_sm",
                source_addr="447700900300",
                destination_addr="447700900400",
                short_message=cmd.get("text", "mo").encode("latin-1"),
                esm_class=0,
                data_coding=0,
            )
            self.send(pdu)
        elif op == "enquire_link":
            self.send(self.make("enquire_link"))
        elif op == "unbind":
            self.send(self.make("unbind"))
        elif op == "raw":
            if self.send_bytes(bytes.fromhex(cmd["hex"])):
                emit({"event": "sent", "command": "raw", "bytes": len(cmd["hex"]) // 2})
        else:
            emit({"event": "bad_command", "command": cmd})
        return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--no-answer-deliver", action="store_true")
    parser.add_argument("--max-lifetime-s", type=float, default=120)
    args = parser.parse_args()

    esme = Esme(args)
    esme.connect()
    deadline = time.monotonic() + args.max_lifetime_s
    stdin = sys.stdin.buffer.raw if hasattr(sys.stdin.buffer, "raw") else sys.stdin.buffer
    pending = b""
    while time.monotonic() < deadline:
        watched = [stdin] + ([esme.sock] if esme.sock is not None else [])
        readable, _, _ = select.select(watched, [], [], 0.5)
        if esme.sock is not None and esme.sock in readable:
            esme.on_readable()
        if stdin in readable:
            data = stdin.read(65536)
            if not data:
                break
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if not line.strip():
                    continue
                try:
                    cmd = json.loads(line)
                except ValueError:
                    emit({"event": "bad_command", "line": line.decode("utf-8", "replace")})
                    continue
                if not esme.command(cmd):
                    pending = None
                    break
        if pending is None:
            break
    if esme.sock is not None:
        esme.close("closed_at_exit")
    emit({"event": "exit"})


if __name__ == "__main__":
    main()
