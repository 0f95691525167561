//! # switchboard-tests
//!
//! The end-to-end tests of the balancer binaries, in `tests/tests/`: the real binary started on
//! loopback and driven by SIPp and hand-written peers (SIPp calls over UDP, TCP and IPv6, TLS
//! and WSS clients, failover, node death, bad input, management, the command line). One set of
//! scenarios runs against every runtime's binary (docs/decisions.md §10.1).
//!
//! This library chooses the binary a run drives, once per test process:
//!
//! - `SWITCHBOARD_BIN=/path/to/binary` runs that file;
//! - otherwise `SWITCHBOARD_RUNTIME` names the runtime (`tokio`, the default, or `smol`) and the
//!   binary is that runtime's, in the cargo target directory of the running test executable
//!   (`<target>/<profile>/deps/<test>-<hash>` runs `<target>/<profile>/<binary>`).
//!
//! Cargo does not build another package's binary for these tests: `scripts/test.sh` builds every
//! binary first (`cargo build --workspace --bins`). A missing binary stops the test with the
//! command that builds it.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A runtime adapter and the binary it builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Runtime {
    /// The value of `SWITCHBOARD_RUNTIME` that selects it.
    pub name: &'static str,
    /// The cargo package that builds the binary.
    pub package: &'static str,
    /// The binary's name (without the platform's executable suffix).
    pub binary: &'static str,
}

/// Every runtime the suite knows, the default first.
pub const RUNTIMES: &[Runtime] = &[
    Runtime {
        name: "tokio",
        package: "switchboard-tokio",
        binary: "switchboard",
    },
    Runtime {
        name: "smol",
        package: "switchboard-smol",
        binary: "switchboard-smol",
    },
];

/// The environment variable naming the runtime to test (`tokio` or `smol`).
pub const RUNTIME_VAR: &str = "SWITCHBOARD_RUNTIME";
/// The environment variable naming a binary to test instead of a runtime's own.
pub const BIN_VAR: &str = "SWITCHBOARD_BIN";

/// The runtime named by `SWITCHBOARD_RUNTIME` (default `tokio`); panics on an unknown name.
pub fn runtime() -> Runtime {
    match std::env::var(RUNTIME_VAR) {
        Ok(name) if !name.is_empty() => runtime_named(&name).unwrap_or_else(|| {
            let known: Vec<&str> = RUNTIMES.iter().map(|r| r.name).collect();
            panic!(
                "{RUNTIME_VAR}={name:?} names no runtime; known: {}",
                known.join(", ")
            )
        }),
        _ => RUNTIMES[0],
    }
}

/// The runtime called `name`, if any.
pub fn runtime_named(name: &str) -> Option<Runtime> {
    RUNTIMES.iter().copied().find(|r| r.name == name)
}

/// The binary under test: `SWITCHBOARD_BIN` if set, else the selected runtime's binary in the
/// test executable's target directory. Panics, naming the build command, if it does not exist.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os(BIN_VAR).filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            assert!(path.is_file(), "{BIN_VAR}={} is not a file", path.display());
            return path;
        }
        let runtime = runtime();
        let profile_dir = profile_dir();
        let path = profile_dir.join(format!(
            "{}{}",
            runtime.binary,
            std::env::consts::EXE_SUFFIX
        ));
        assert!(
            path.is_file(),
            "the `{}` binary of runtime {} is not built ({} does not exist): run `{}` first, \
             or set {BIN_VAR} to a built binary",
            runtime.binary,
            runtime.name,
            path.display(),
            build_command(&runtime, &profile_dir),
        );
        path
    })
}

/// The name of the binary under test (its file name without directory or suffix), for messages.
pub fn binary_name() -> &'static str {
    binary()
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("switchboard")
}

/// `<target>/<profile>`: the directory of the running test executable, or its parent when the
/// executable is in `deps/` (where cargo puts test executables).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    let dir = exe.parent().expect("directory of the test executable");
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir.parent().unwrap_or(dir).to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// The cargo command that builds `runtime`'s binary into `profile_dir`.
fn build_command(runtime: &Runtime, profile_dir: &Path) -> String {
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => String::new(),
        Some("release") => " --release".to_owned(),
        Some(other) => format!(" --profile {other}"),
    };
    format!("cargo build{profile} -p {}", runtime.package)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_are_found_by_name() {
        assert_eq!(runtime_named("tokio").unwrap().binary, "switchboard");
        assert_eq!(runtime_named("smol").unwrap().binary, "switchboard-smol");
        assert_eq!(runtime_named("async-std"), None);
    }

    #[test]
    fn build_command_follows_the_profile() {
        let tokio = runtime_named("tokio").unwrap();
        let smol = runtime_named("smol").unwrap();
        assert_eq!(
            build_command(&tokio, Path::new("/t/target/debug")),
            "cargo build -p switchboard-tokio"
        );
        assert_eq!(
            build_command(&smol, Path::new("/t/target/release")),
            "cargo build --release -p switchboard-smol"
        );
        assert_eq!(
            build_command(&tokio, Path::new("/t/target/ci")),
            "cargo build --profile ci -p switchboard-tokio"
        );
    }
}
