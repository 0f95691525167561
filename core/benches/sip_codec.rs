//! SIP codec benchmarks: parse + top Via + Call-ID of a typical INVITE and 200 OK, and the
//! balancer's request rewrite (two Vias, two Record-Routes, Max-Forwards) + serialize.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use switchboard_core::sip::{Editor, HeaderName, SipMessage};

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, UPDATE\r\n\
Supported: replaces, timer, 100rel\r\n\
User-Agent: SoftPhone/4.2.1 (Linux x86_64)\r\n\
Session-Expires: 1800;refresher=uac\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 312\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n\
s=Session SDP\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0 8 18 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=x-padding:abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmn\r\n";

const OK: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhdsa84b4zsd_0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5065;branch=z9hG4bK776asdhdsa84b4_0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;received=192.0.2.101;rport=5060\r\n\
Record-Route: <sip:10.0.0.1:5060;transport=udp;lr;node_host=10.0.0.7;node_port=5080;version=0>\r\n\
Record-Route: <sip:10.0.0.1:5065;transport=udp;lr;node_host=10.0.0.7;node_port=5080;version=0>\r\n\
To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:bob@192.0.2.4>\r\n\
Content-Length: 0\r\n\r\n";

fn bench(c: &mut Criterion) {
    let invite = Bytes::from_static(INVITE);
    let ok = Bytes::from_static(OK);
    let mut g = c.benchmark_group("sip");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_invite_top_via_call_id", |b| {
        b.iter(|| {
            let m = SipMessage::parse(black_box(invite.clone())).unwrap();
            let v = m.top_via().unwrap();
            black_box((v.branch, v.host, m.call_id().unwrap().len()));
        })
    });
    g.bench_function("parse_200_top_via_call_id", |b| {
        b.iter(|| {
            let m = SipMessage::parse(black_box(ok.clone())).unwrap();
            let v = m.top_via().unwrap();
            black_box((v.branch, v.host, m.call_id().unwrap().len()));
        })
    });
    g.bench_function("parse_rewrite_serialize_invite", |b| {
        b.iter(|| {
            let m = SipMessage::parse(black_box(invite.clone())).unwrap();
            let branch = m.top_via().unwrap().branch.unwrap_or_default();
            let cid = m.call_id().unwrap();
            let cid5 = cid.get(..5).unwrap_or(cid);
            let mut ed = Editor::new(&m);
            ed.push_header(
                HeaderName::Via,
                &format_args!(
                    "SIP/2.0/UDP 10.0.0.1:5065;branch={}{}_0",
                    String::from_utf8_lossy(branch),
                    String::from_utf8_lossy(cid5)
                ),
            );
            ed.push_header(
                HeaderName::Via,
                &format_args!(
                    "SIP/2.0/UDP 10.0.0.1:5060;branch={}{}zsd_0",
                    String::from_utf8_lossy(branch),
                    String::from_utf8_lossy(cid5)
                ),
            );
            ed.push_header(
                HeaderName::RecordRoute,
                "<sip:10.0.0.1:5065;transport=udp;lr;node_host=10.0.0.7;node_port=5080;version=0>",
            );
            ed.push_header(
                HeaderName::RecordRoute,
                "<sip:10.0.0.1:5060;transport=udp;lr;node_host=10.0.0.7;node_port=5080;version=0>",
            );
            ed.decrement_max_forwards().unwrap();
            black_box(ed.finish().unwrap());
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
