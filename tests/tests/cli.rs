//! End-to-end tests of the balancer binary's command line (the binary of `SWITCHBOARD_RUNTIME`,
//! or `SWITCHBOARD_BIN`).

mod common;
#[path = "common/smpp.rs"]
mod smpp;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::thread::sleep;
use std::time::Duration;
use switchboard_tests::{binary, binary_name};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures/config")
        .join(name)
}

fn run(args: &[&str]) -> (Option<i32>, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(binary())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", binary_name()));
    let mut text = String::from_utf8_lossy(&stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&stderr));
    (status.code(), text)
}

#[test]
fn check_config_valid_sample() {
    let path = fixture("reference-sample.xml");
    let (code, out) = run(&["--check-config", path.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    for expected in [
        "common.host = 172.21.0.105",
        "sip.external.udpPort = 5060",
        "sip.internal.udpPort = 5080",
        "http.httpsPort = 2081",
        "smpp.smppPort = 2776",
        "heartbeat.heartbeatPort = 2610",
        "warning: common/jmxHtmlAdapterPort",
        "warning: ignored sipStack property javax.sip.STACK_NAME",
        "configuration OK",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
}

#[test]
fn check_config_malformed_names_line_and_column() {
    let path = fixture("malformed.xml");
    let (code, out) = run(&["--check-config", path.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("line 5, column 3"), "{out}");
}

#[test]
fn check_config_bad_algorithm_names_path() {
    let path = fixture("bad-algorithm.xml");
    let (code, out) = run(&["--check-config", path.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("sip/algorithm/algorithmClass"), "{out}");
    assert!(out.contains("RandomAlgorithm"), "{out}");
}

#[test]
fn check_config_missing_file() {
    let (code, out) = run(&["--check-config", "/nonexistent/lb-configuration.xml"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("cannot read"), "{out}");
}

#[test]
fn help_and_usage_errors() {
    let (code, out) = run(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("--check-config"), "{out}");
    let (code, out) = run(&["--frobnicate"]);
    assert_eq!(code, Some(2));
    assert!(out.contains("unknown argument"), "{out}");
}

#[test]
fn version_names_the_binary_and_the_release() {
    for flag in ["--version", "-V"] {
        let (code, out) = run(&[flag]);
        assert_eq!(code, Some(0));
        assert_eq!(
            out.trim(),
            format!("{} {}", binary_name(), env!("CARGO_PKG_VERSION")),
            "{flag}"
        );
    }
}

/// Both running tests bind the default ports (5060, 5065, 2610, 2006, 2080): one at a time.
static DEFAULT_PORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs the binary with `args`, checks it is still up after a second, runs `while_up`, then
/// stops it with SIGTERM and checks the graceful exit. The binary is killed if `while_up`
/// panics; its log goes to a file (a pipe nobody reads while it runs could fill up).
fn stays_up_then_terminates(args: &[&str], while_up: impl FnOnce()) {
    let _ports = DEFAULT_PORTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let log_path = std::env::temp_dir().join(format!("switchboard-cli-{}.log", std::process::id()));
    let log_file = std::fs::File::create(&log_path).expect("create log");
    let mut child = Command::new(binary())
        .args(args)
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", binary_name()));
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    sleep(Duration::from_millis(1000));
    if child.try_wait().expect("poll child").is_some() {
        panic!("{} exited early:\n{}", binary_name(), read_log());
    }
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(while_up)) {
        let _ = child.kill();
        let _ = child.wait();
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        panic!("{message}\n--- {} log\n{}", binary_name(), read_log());
    }
    // SIGTERM by PID: a graceful shutdown exits 0.
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    if !matches!(killed, Ok(s) if s.success()) {
        child.kill().expect("kill the balancer");
    }
    let status = child.wait().expect("wait for the balancer");
    let log = read_log();
    let _ = std::fs::remove_file(&log_path);
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("sip.external.udpPort = 5060"), "{log}");
}

#[test]
fn no_arguments_runs_embedded_default_until_sigterm() {
    stays_up_then_terminates(&[], || {});
}

#[test]
fn config_file_in_reference_spelling_runs() {
    // The sample binds 172.21.0.105, an address of the reference's test machine: run it on
    // loopback instead, everything else unchanged but its SMPP provider, an SMSC started
    // here on loopback (the sample names a public address).
    let dir = common::test_dir("cli-sample");
    let smsc = smpp::Smsc::start(
        &dir,
        "smsc",
        &smpp::SmscOptions::account("sample", "samplepw"),
    );
    let text = std::fs::read_to_string(fixture("reference-sample.xml")).expect("read sample");
    // Its TLS, WSS and HTTPS listeners need the reference's keystore file, which is not
    // here: leave those out (plain HTTP on 2080 stays).
    let mut text = text.replace("<host>172.21.0.105</host>", "<host>127.0.0.1</host>");
    for (from, to) in [
        (
            "<smppHost>172.21.0.105</smppHost>".to_owned(),
            "<smppHost>127.0.0.1</smppHost>".to_owned(),
        ),
        (
            "<remoteServers>174.37.245.38:8000</remoteServers>".to_owned(),
            format!("<remoteServers>{}</remoteServers>", smsc.remote()),
        ),
    ] {
        assert!(text.contains(&from), "the sample names {from}");
        text = text.replace(&from, &to);
    }
    for port in [
        "<tlsPort>5061</tlsPort>",
        "<tlsPort>5081</tlsPort>",
        "<wssPort>5063</wssPort>",
        "<wssPort>5083</wssPort>",
        "<httpsPort>2081</httpsPort>",
    ] {
        assert!(text.contains(port), "the sample names {port}");
        text = text.replace(port, "");
    }
    let path = dir.join("sample.xml");
    std::fs::write(&path, text).expect("write sample copy");
    let arg = format!("-mobicents-balancer-config={}", path.display());
    stays_up_then_terminates(&[&arg, "-DlogLevel=DEBUG"], || {
        // Its SMPP listener (smppPort 2776, mux mode) binds the provider on the first
        // customer bind, with that customer's credentials.
        let mut esme = smpp::Esme::connect(&dir, "esme", smpp::at(2776), false);
        let resp = esme.bind("sample", "samplepw");
        assert_eq!(smpp::num(&resp, "status"), smpp::status::ROK, "{resp}");
        let binds = smsc.wait_binds(1, smpp::STEP);
        assert_eq!(binds.len(), 1, "{}", smsc.report());
        assert_eq!(smpp::text(&binds[0], "system_id"), "sample");
        let seqs = esme.submit(1, "sample");
        let responses = esme.responses(&seqs, smpp::STEP);
        assert_eq!(responses.len(), 1, "{}", esme.report());
        assert_eq!(smpp::num(&responses[0], "status"), smpp::status::ROK);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
