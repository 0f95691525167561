#!/usr/bin/env node
/*
 * An SMSC (SMPP 3.4 message centre) for the SMPP balancer's end-to-end tests
 * (tests/tests/e2e_smpp*.rs), built on the server of npm's `smpp` package (node-smpp).
 *
 * It listens on loopback and writes one JSON object per line on stdout, the first one
 *
 *     {"event":"ready","port":<port>}
 *
 * then one per thing it sees or does (`connect`, `bind`, `submit_sm`, `enquire_link`,
 * `unbind`, `deliver_sm_resp`, `receipt_sent`, `close`, ...), each with the connection number
 * `conn` it happened on. Options:
 *
 *   --port N            port to listen on (0, the default: a free one, told in `ready`)
 *   --account ID:PW     accept binds with this system_id and password (repeatable); any other
 *                       bind is answered ESME_RINVPASWD. Without any: every bind is accepted.
 *   --reply MODE        how submit_sm/data_sm are answered: `ok` (default, ESME_ROK with a new
 *                       message_id), `silent` (never answered)
 *   --throttle-every N  answer every Nth submit_sm ESME_RTHROTTLED (0x58) instead
 *   --reply-delay-ms N  answer each request N ms after it arrived (default 0)
 *   --id-base N         message ids are the decimal numbers N+1, N+2, ... (default 100000)
 *   --receipts-ms N     N ms after accepting a submit_sm, send a delivery receipt for it on the
 *                       same connection: deliver_sm, esm_class 0x04, `id:<message_id> ...
 *                       stat:DELIVRD` text and the receipted_message_id TLV (default: none)
 *   --tls-pem FILE      listen with TLS, the certificate chain and private key in this PEM file
 *   --max-lifetime-s N  exit after N s whatever happens (default 120)
 *
 * Commands, one JSON object per line on stdin:
 *   {"op":"deliver","text":T[,"conn":C][,"count":N]}  deliver_sm (a mobile-originated
 *        message) to connection C, or to every bound receiver/transceiver connection
 *   {"op":"reply","mode":"ok"|"silent"}                change the reply mode
 *   {"op":"unbind"}                                    send unbind on every bound connection
 *   {"op":"close"}                                     close every connection at once
 *   {"op":"exit"}                                      exit
 *
 * It exits when stdin closes (the test that started it is gone), on `exit`, or after its
 * maximum lifetime.
 */
'use strict';

const path = require('path');

function loadSmpp() {
    try {
        return require('smpp');
    } catch (e) {
        // Installed globally by scripts/install-test-deps.sh.
        const root = require('child_process').execSync('npm root -g').toString().trim();
        return require(path.join(root, 'smpp'));
    }
}

const smpp = loadSmpp();

const ESME_ROK = 0x00;
const ESME_RINVBNDSTS = 0x04;
const ESME_RINVPASWD = 0x0e;
const ESME_RTHROTTLED = 0x58;

function parseArgs(argv) {
    const opts = {
        host: '127.0.0.1',
        port: 0,
        accounts: [],
        reply: 'ok',
        throttleEvery: 0,
        replyDelayMs: 0,
        idBase: 100000,
        receiptsMs: -1,
        maxLifetimeS: 120,
        tlsPem: null,
    };
    for (let i = 2; i < argv.length; i++) {
        const key = argv[i];
        const value = argv[++i];
        if (value === undefined) {
            throw new Error(`option ${key} needs a value`);
        }
        switch (key) {
            case '--host': opts.host = value; break;
            case '--port': opts.port = Number(value); break;
            case '--account': {
                const at = value.indexOf(':');
                if (at < 0) throw new Error(`--account ${value}: expected ID:PASSWORD`);
                opts.accounts.push({ systemId: value.slice(0, at), password: value.slice(at + 1) });
                break;
            }
            case '--reply': opts.reply = value; break;
            case '--throttle-every': opts.throttleEvery = Number(value); break;
            case '--reply-delay-ms': opts.replyDelayMs = Number(value); break;
            case '--id-base': opts.idBase = Number(value); break;
            case '--receipts-ms': opts.receiptsMs = Number(value); break;
            case '--max-lifetime-s': opts.maxLifetimeS = Number(value); break;
            case '--tls-pem': opts.tlsPem = value; break;
            default: throw new Error(`unknown option ${key}`);
        }
    }
    if (!['ok', 'silent'].includes(opts.reply)) {
        throw new Error(`--reply ${opts.reply}: expected ok or silent`);
    }
    return opts;
}

const opts = parseArgs(process.argv);

function emit(event) {
    process.stdout.write(JSON.stringify(event) + '\n');
}

// Every decoded PDU keeps the octets it was decoded from, to read the message fields exactly.
const fromBuffer = smpp.PDU.prototype.fromBuffer;
smpp.PDU.prototype.fromBuffer = function (buffer) {
    Object.defineProperty(this, 'raw', { value: Buffer.from(buffer), enumerable: false });
    return fromBuffer.call(this, buffer);
};

/** Reads a C-Octet String at `at`; returns [text, next offset]. */
function cstring(buf, at) {
    let end = at;
    while (end < buf.length && buf[end] !== 0) end++;
    return [buf.toString('latin1', at, end), Math.min(end + 1, buf.length)];
}

/** The message fields of a submit_sm/deliver_sm body (SMPP 3.4 §4.4.1), from its octets. */
function messageFields(raw) {
    let at = 16;
    let v;
    const f = {};
    [f.service_type, at] = cstring(raw, at);
    f.source_addr_ton = raw[at++];
    f.source_addr_npi = raw[at++];
    [f.source_addr, at] = cstring(raw, at);
    f.dest_addr_ton = raw[at++];
    f.dest_addr_npi = raw[at++];
    [f.destination_addr, at] = cstring(raw, at);
    f.esm_class = raw[at++];
    at += 2; // protocol_id, priority_flag
    [v, at] = cstring(raw, at); // schedule_delivery_time
    [v, at] = cstring(raw, at); // validity_period
    f.registered_delivery = raw[at++];
    at += 1; // replace_if_present_flag
    f.data_coding = raw[at++];
    at += 1; // sm_default_msg_id
    const smLength = raw[at++] || 0;
    const sm = raw.slice(at, at + smLength);
    at += smLength;
    const tlvs = {};
    while (at + 4 <= raw.length) {
        const tag = raw.readUInt16BE(at);
        const len = raw.readUInt16BE(at + 2);
        tlvs[tag] = raw.slice(at + 4, at + 4 + len);
        at += 4 + len;
    }
    let body = sm;
    f.concat = null;
    if (f.esm_class & 0x40 && sm.length > 0) {
        // User data header (3GPP TS 23.040 §9.2.3.24): IEI 0x00 (8-bit reference) or 0x08.
        const udhl = sm[0];
        let i = 1;
        while (i + 1 < 1 + udhl && i + 1 < sm.length) {
            const iei = sm[i];
            const iel = sm[i + 1];
            const data = sm.slice(i + 2, i + 2 + iel);
            if (iei === 0x00 && iel === 3) {
                f.concat = { ref: data[0], total: data[1], part: data[2] };
            } else if (iei === 0x08 && iel === 4) {
                f.concat = { ref: data.readUInt16BE(0), total: data[2], part: data[3] };
            }
            i += 2 + iel;
        }
        body = sm.slice(1 + udhl);
    }
    if (tlvs[0x020c] && tlvs[0x020e] && tlvs[0x020f]) {
        f.sar = {
            ref: tlvs[0x020c].readUInt16BE(0),
            total: tlvs[0x020e][0],
            part: tlvs[0x020f][0],
        };
    }
    if (tlvs[0x0424] && sm.length === 0) {
        body = tlvs[0x0424]; // message_payload
    }
    f.short_message = body.toString('latin1');
    f.short_message_hex = sm.toString('hex');
    return f;
}

let nextConn = 0;
let nextMessageId = opts.idBase;
let submitted = 0;
const sessions = new Map(); // conn -> {session, bound, command, systemId}

function accountOk(systemId, password) {
    if (opts.accounts.length === 0) return true;
    return opts.accounts.some((a) => a.systemId === systemId && a.password === password);
}

function later(fn) {
    if (opts.replyDelayMs > 0) setTimeout(fn, opts.replyDelayMs);
    else fn();
}

function sendReceipt(conn, messageId, fields) {
    const entry = sessions.get(conn);
    if (!entry || !entry.bound) {
        emit({ event: 'receipt_dropped', conn, message_id: messageId });
        return;
    }
    const text = `id:${messageId} sub:001 dlvrd:001 submit date:2611300000 ` +
        `done date:2611300000 stat:DELIVRD err:000 text:${fields.short_message.slice(0, 20)}`;
    const pdu = new smpp.PDU('deliver_sm', {
        source_addr: fields.destination_addr,
        destination_addr: fields.source_addr,
        esm_class: 0x04,
        data_coding: 0,
        short_message: Buffer.from(text, 'latin1'),
        receipted_message_id: messageId,
        message_state: 2,
    });
    const sent = entry.session.send(pdu, (resp) => {
        emit({
            event: 'deliver_sm_resp', conn, seq: resp.sequence_number,
            status: resp.command_status, receipt_for: messageId,
        });
    });
    if (sent) emit({ event: 'receipt_sent', conn, seq: pdu.sequence_number, message_id: messageId });
}

function onSession(session) {
    const conn = ++nextConn;
    const entry = { session, bound: false, command: null, systemId: null };
    sessions.set(conn, entry);
    const socket = session.socket;
    emit({ event: 'connect', conn, remote: `${socket.remoteAddress}:${socket.remotePort}` });

    for (const command of ['bind_transceiver', 'bind_transmitter', 'bind_receiver']) {
        session.on(command, (pdu) => {
            const ok = !entry.bound && accountOk(pdu.system_id, pdu.password);
            const status = entry.bound ? ESME_RINVBNDSTS : ok ? ESME_ROK : ESME_RINVPASWD;
            emit({
                event: 'bind', conn, command, seq: pdu.sequence_number,
                system_id: pdu.system_id, password: pdu.password, system_type: pdu.system_type,
                interface_version: pdu.interface_version, status,
            });
            if (status === ESME_ROK) {
                entry.bound = true;
                entry.command = command;
                entry.systemId = pdu.system_id;
                session.send(pdu.response({ system_id: 'smsc' }));
            } else {
                session.send(pdu.response({ command_status: status }));
            }
        });
    }

    session.on('submit_sm', (pdu) => {
        const fields = messageFields(pdu.raw);
        const event = { event: 'submit_sm', conn, seq: pdu.sequence_number, ...fields };
        if (!entry.bound) {
            emit({ ...event, status: ESME_RINVBNDSTS });
            session.send(pdu.response({ command_status: ESME_RINVBNDSTS }));
            return;
        }
        submitted += 1;
        if (opts.reply === 'silent') {
            emit({ ...event, status: null });
            return;
        }
        if (opts.throttleEvery > 0 && submitted % opts.throttleEvery === 0) {
            emit({ ...event, status: ESME_RTHROTTLED });
            later(() => session.send(pdu.response({ command_status: ESME_RTHROTTLED })));
            return;
        }
        const messageId = String(++nextMessageId);
        emit({ ...event, status: ESME_ROK, message_id: messageId });
        later(() => session.send(pdu.response({ message_id: messageId })));
        if (opts.receiptsMs >= 0) {
            setTimeout(() => sendReceipt(conn, messageId, fields), opts.receiptsMs);
        }
    });

    session.on('data_sm', (pdu) => {
        emit({ event: 'data_sm', conn, seq: pdu.sequence_number });
        if (opts.reply === 'silent') return;
        const messageId = String(++nextMessageId);
        later(() => session.send(pdu.response({ message_id: messageId })));
    });

    for (const command of ['query_sm', 'cancel_sm', 'replace_sm', 'submit_multi']) {
        session.on(command, (pdu) => {
            emit({ event: command, conn, seq: pdu.sequence_number, message_id: pdu.message_id });
            if (opts.reply === 'silent') return;
            later(() => session.send(pdu.response()));
        });
    }

    session.on('enquire_link', (pdu) => {
        emit({ event: 'enquire_link', conn, seq: pdu.sequence_number });
        session.send(pdu.response());
    });

    session.on('enquire_link_resp', (pdu) => {
        emit({ event: 'enquire_link_resp', conn, seq: pdu.sequence_number });
    });

    session.on('unbind', (pdu) => {
        emit({ event: 'unbind', conn, seq: pdu.sequence_number });
        entry.bound = false;
        session.send(pdu.response());
        session.close();
    });

    session.on('unbind_resp', (pdu) => {
        emit({ event: 'unbind_resp', conn, seq: pdu.sequence_number });
        session.close();
    });

    session.on('generic_nack', (pdu) => {
        emit({ event: 'generic_nack', conn, seq: pdu.sequence_number, status: pdu.command_status });
    });

    session.on('unknown', (pdu) => {
        emit({ event: 'unknown', conn, seq: pdu.sequence_number, command_id: pdu.command_id });
        session.send(pdu.response());
    });

    session.on('error', (e) => {
        emit({ event: 'error', conn, message: String(e && e.message) });
        session.destroy();
    });

    session.on('close', () => {
        sessions.delete(conn);
        emit({ event: 'close', conn });
    });
}

function command(line) {
    let cmd;
    try {
        cmd = JSON.parse(line);
    } catch (e) {
        emit({ event: 'bad_command', line });
        return;
    }
    switch (cmd.op) {
        case 'deliver': {
            const count = cmd.count || 1;
            for (const [conn, entry] of sessions) {
                if (cmd.conn !== undefined && cmd.conn !== conn) continue;
                if (!entry.bound || entry.command === 'bind_transmitter') continue;
                for (let n = 0; n < count; n++) {
                    const text = count > 1 ? `${cmd.text}-${n}` : cmd.text;
                    const pdu = new smpp.PDU('deliver_sm', {
                        source_addr: cmd.source || '447700900001',
                        destination_addr: cmd.dest || '447700900002',
                        esm_class: 0,
                        data_coding: 0,
                        short_message: Buffer.from(text, 'latin1'),
                    });
                    entry.session.send(pdu, (resp) => {
                        emit({
                            event: 'deliver_sm_resp', conn, seq: resp.sequence_number,
                            status: resp.command_status, text,
                        });
                    });
                    emit({ event: 'deliver_sent', conn, seq: pdu.sequence_number, text });
                }
            }
            break;
        }
        case 'reply':
            opts.reply = cmd.mode;
            emit({ event: 'reply_mode', mode: cmd.mode });
            break;
        case 'unbind':
            for (const [conn, entry] of sessions) {
                if (!entry.bound) continue;
                const pdu = new smpp.PDU('unbind', {});
                entry.session.send(pdu);
                emit({ event: 'unbind_sent', conn, seq: pdu.sequence_number });
            }
            break;
        case 'close':
            for (const entry of sessions.values()) entry.session.destroy();
            break;
        case 'exit':
            process.exit(0);
            break;
        default:
            emit({ event: 'bad_command', line });
    }
}

let serverOptions = {};
if (opts.tlsPem) {
    const pem = require('fs').readFileSync(opts.tlsPem);
    serverOptions = { key: pem, cert: pem };
}
const server = smpp.createServer(serverOptions, onSession);
server.on('error', (e) => {
    emit({ event: 'fatal', message: String(e && e.message) });
    process.exit(1);
});
server.listen(opts.port, opts.host, () => {
    emit({ event: 'ready', port: server.address().port });
});

let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line) command(line);
    }
});
// The test that started this is gone (or closed stdin on purpose): stop.
process.stdin.on('end', () => process.exit(0));
setTimeout(() => {
    emit({ event: 'lifetime_over' });
    process.exit(0);
}, opts.maxLifetimeS * 1000);
