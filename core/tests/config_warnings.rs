//! Warnings: accepted configurations whose keys have no effect are reported, never silent.

use switchboard_core::config::{Config, ConfigWarning};

fn warnings(body: &str) -> Vec<String> {
    let xml = format!("<load-balancer-properties>{body}</load-balancer-properties>");
    match Config::from_xml(&xml) {
        Ok(loaded) => loaded.warnings.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("refused:\n{e}"),
    }
}

#[test]
fn unknown_elements_are_named_by_path() {
    let w = warnings("<sip><external><udpPrt>5060</udpPrt></external></sip><extras/>");
    assert_eq!(
        w,
        [
            "sip/external/udpPrt: unknown element, ignored",
            "extras: unknown element, ignored"
        ]
    );
}

#[test]
fn unsupported_keys_are_named() {
    let w = warnings(
        "<common><cacheConfiguration>x</cacheConfiguration><rmiRegistryPort>2000</rmiRegistryPort>\
         <jmxHtmlAdapterPort>8000</jmxHtmlAdapterPort></common><sip><usePrettyEncoding>true</usePrettyEncoding></sip>",
    );
    assert_eq!(w.len(), 4, "{w:#?}");
    assert!(
        w[0].starts_with("common/cacheConfiguration: not supported"),
        "{}",
        w[0]
    );
    assert!(
        w[1].starts_with("common/rmiRegistryPort: not supported"),
        "{}",
        w[1]
    );
    assert!(
        w[2].starts_with("common/jmxHtmlAdapterPort: not supported"),
        "{}",
        w[2]
    );
    assert!(
        w[3].starts_with("sip/usePrettyEncoding: not supported"),
        "{}",
        w[3]
    );
}

#[test]
fn empty_unsupported_keys_are_quiet() {
    assert!(warnings("<common><cacheConfiguration/></common>").is_empty());
}

#[test]
fn sip_stack_properties_warn_once_each() {
    let property =
        |k: &str, v: &str| format!("<property><key>{k}</key><value>{v}</value></property>");
    let w = warnings(&format!(
        "<sipStack>{}{}{}{}</sipStack>",
        property("gov.nist.javax.sip.AGGRESSIVE_CLEANUP", "true"),
        property("gov.nist.javax.sip.MAX_MESSAGE_SIZE", "10000"),
        property("gov.nist.javax.sip.AGGRESSIVE_CLEANUP", "true"),
        property("javax.sip.STACK_NAME", "x"),
    ));
    assert_eq!(
        w,
        [
            "ignored sipStack property gov.nist.javax.sip.AGGRESSIVE_CLEANUP",
            "ignored sipStack property javax.sip.STACK_NAME"
        ]
    );
}

#[test]
fn superseded_spellings() {
    let w = warnings(
        "<common><statisticPort>2006</statisticPort><apiPort>2007</apiPort></common>\
         <sip><responsesStatusCodeNodeRemoval>503</responsesStatusCodeNodeRemoval>\
         <responseStatusCodeNodeRemoval>500</responseStatusCodeNodeRemoval>\
         <earlyDialogWorstCase>true</earlyDialogWorstCase>\
         <algorithm><earlyDialogWorstCase>false</earlyDialogWorstCase></algorithm></sip>",
    );
    assert_eq!(
        w,
        [
            "common/statisticPort: ignored because common/apiPort is also set",
            "sip/responseStatusCodeNodeRemoval: ignored because sip/responsesStatusCodeNodeRemoval is also set",
            "sip/algorithm/earlyDialogWorstCase: ignored because sip/earlyDialogWorstCase is also set",
        ]
    );
}

#[test]
fn rmi_and_kube_heartbeats_are_unsupported() {
    let w = warnings(
        "<heartbeat configclass=\"org.mobicents.tools.heartbeat.rmi.HeartbeatConfigRmi\">\
         <heartbeatConfig><rmiRegistryPort>2000</rmiRegistryPort></heartbeatConfig></heartbeat>",
    );
    assert_eq!(w.len(), 2, "{w:#?}");
    assert!(
        w[0].starts_with("heartbeat@configclass: not supported"),
        "{}",
        w[0]
    );
    assert!(w[0].contains("HeartbeatConfigRmi"), "{}", w[0]);
    assert!(w[1].starts_with("heartbeat/heartbeatConfig/rmiRegistryPort: not supported"));
    let w = warnings("<heartbeat><heartbeatConfig><ProtocolClassName>x</ProtocolClassName></heartbeatConfig></heartbeat>");
    assert_eq!(
        w,
        ["heartbeat/heartbeatConfig/ProtocolClassName: unknown element, ignored"]
    );
}

#[test]
fn duplicates_warn() {
    let xml = "<load-balancer-properties><common><host>1.1.1.1</host><host>2.2.2.2</host></common></load-balancer-properties>";
    let loaded = Config::from_xml(xml).expect("accepted");
    assert_eq!(loaded.config.common.host, "1.1.1.1");
    assert_eq!(
        loaded.warnings,
        [ConfigWarning::Duplicate {
            path: "common/host".to_owned()
        }]
    );
}

#[test]
fn reference_sample_warnings() {
    let loaded =
        Config::from_xml(include_str!("fixtures/config/reference-sample.xml")).expect("accepted");
    let w: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    for expected in [
        "common/nodeCommunicationProtocolClassName: not supported",
        "common/heartbeatPorts: not supported",
        "common/jmxHtmlAdapterPort: not supported",
        "ssl/keyStorePassword: not supported",
        "smpp/maxConnectionSize: not supported",
        "smpp/nonBlockingSocketsEnabled: not supported",
        "ignored sipStack property gov.nist.javax.sip.TRACE_LEVEL",
    ] {
        assert!(
            w.iter().any(|l| l.starts_with(expected)),
            "missing {expected:?} in {w:#?}"
        );
    }
    let aggressive = w
        .iter()
        .filter(|l| l.contains("AGGRESSIVE_CLEANUP"))
        .count();
    assert_eq!(aggressive, 1);
}

#[test]
fn smpp_mux_mode_without_remote_servers_warns() {
    let w = warnings("<smpp><smppPort>2776</smppPort></smpp>");
    assert_eq!(w.len(), 1, "{w:#?}");
    assert!(
        w[0].starts_with("smpp/remoteServers: no remote server while smpp/muxMode is true"),
        "{}",
        w[0]
    );
    assert!(w[0].contains("customers cannot bind"), "{}", w[0]);
    assert_eq!(
        warnings("<smpp><smppPort>2776</smppPort><muxMode>true</muxMode></smpp>").len(),
        1
    );
    // SMPP off, mux mode with providers, regular mode without providers (heartbeat nodes with
    // smppPort may come): nothing to say.
    assert!(warnings("<smpp><muxMode>true</muxMode></smpp>").is_empty());
    assert!(warnings(
        "<smpp><smppPort>2776</smppPort><remoteServers>127.0.0.1:2775</remoteServers></smpp>"
    )
    .is_empty());
    assert!(warnings("<smpp><smppPort>2776</smppPort><muxMode>false</muxMode></smpp>").is_empty());
}
