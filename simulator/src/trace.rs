//! Input traces: every `(now, Input)` fed to each balancer, as JSON lines, with a digest of
//! every output. [`replay`] feeds the inputs to fresh balancers built from the recorded
//! configurations and compares the digests: a run is reproduced bit for bit or the replay
//! says where it diverged.
//!
//! Format: a header line `{"trace":2,"seed":…,"scenario":…,"configs":[xml,…]}`, one line per
//! input `{"lb":0,"at":micros,"input":{…}}`, and a footer `{"inputs":N,"output_digests":[…]}`.

use crate::sip::{fnv1a, FNV_BASIS};
use serde::{Deserialize, Serialize};
use switchboard_core::balancer::Balancer;
use switchboard_core::config::Config;
use switchboard_core::io::{Input, Output};
use switchboard_core::time::Timestamp;
use thiserror::Error;

/// The format version this build writes and reads. Version 2: listeners are the opaque ids
/// the core declares, service ports take connections (`Accepted`, then `Data`).
pub const TRACE_VERSION: u32 = 2;

/// A finished trace (JSON lines).
#[derive(Debug, Clone)]
pub struct Trace {
    /// The whole text.
    pub text: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    trace: u32,
    seed: u64,
    scenario: String,
    configs: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    lb: usize,
    at: Timestamp,
    input: Input,
}

#[derive(Debug, Serialize, Deserialize)]
struct Footer {
    inputs: u64,
    output_digests: Vec<u64>,
}

/// Records a run.
#[derive(Debug)]
pub(crate) struct TraceRecorder {
    text: String,
    inputs: u64,
    digests: Vec<u64>,
}

impl TraceRecorder {
    pub(crate) fn new(seed: u64, scenario: &str, configs: Vec<String>) -> TraceRecorder {
        let digests = vec![FNV_BASIS; configs.len()];
        let header = Header {
            trace: TRACE_VERSION,
            seed,
            scenario: scenario.to_owned(),
            configs,
        };
        let mut text = serde_json::to_string(&header).unwrap_or_default();
        text.push('\n');
        TraceRecorder {
            text,
            inputs: 0,
            digests,
        }
    }

    pub(crate) fn input(&mut self, lb: usize, at: Timestamp, input: &Input) {
        #[derive(Serialize)]
        struct LineRef<'a> {
            lb: usize,
            at: Timestamp,
            input: &'a Input,
        }
        if let Ok(s) = serde_json::to_string(&LineRef { lb, at, input }) {
            self.text.push_str(&s);
            self.text.push('\n');
        }
        self.inputs += 1;
    }

    pub(crate) fn output(&mut self, lb: usize, out: &Output) {
        if let Some(d) = self.digests.get_mut(lb) {
            *d = digest(*d, out);
        }
    }

    pub(crate) fn finish(mut self) -> Trace {
        let footer = Footer {
            inputs: self.inputs,
            output_digests: self.digests,
        };
        self.text
            .push_str(&serde_json::to_string(&footer).unwrap_or_default());
        self.text.push('\n');
        Trace { text: self.text }
    }
}

fn digest(d: u64, out: &Output) -> u64 {
    fnv1a(d, &serde_json::to_vec(out).unwrap_or_default())
}

/// A trace that cannot be replayed, or a replay that diverged.
#[derive(Debug, Error)]
pub enum ReplayError {
    /// A line is not what the format says.
    #[error("trace line {line}: {why}")]
    Format {
        /// 1-based line number.
        line: usize,
        /// Why.
        why: String,
    },
    /// A recorded configuration no longer loads.
    #[error("balancer {0}: recorded configuration refused: {1}")]
    Config(usize, String),
    /// The outputs differ from the recorded ones.
    #[error("balancer {lb}: outputs differ from the recording (digest {replayed:#x}, recorded {recorded:#x})")]
    Diverged {
        /// Balancer.
        lb: usize,
        /// Digest of the replay.
        replayed: u64,
        /// Digest recorded.
        recorded: u64,
    },
}

/// What a successful replay did.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    /// Seed of the recorded run.
    pub seed: u64,
    /// Scenario of the recorded run.
    pub scenario: String,
    /// Inputs fed.
    pub inputs: u64,
    /// Output digest per balancer (equal to the recorded ones).
    pub digests: Vec<u64>,
}

/// Re-runs a recorded trace on fresh balancers and checks every output matches.
pub fn replay(text: &str) -> Result<ReplayReport, ReplayError> {
    let mut lines = text.lines().enumerate();
    let bad = |line: usize, why: String| ReplayError::Format {
        line: line + 1,
        why,
    };
    let (n, first) = lines.next().ok_or_else(|| bad(0, "empty trace".into()))?;
    let header: Header = serde_json::from_str(first).map_err(|e| bad(n, e.to_string()))?;
    if header.trace != TRACE_VERSION {
        return Err(bad(
            n,
            format!(
                "trace format {}, this build replays format {TRACE_VERSION}",
                header.trace
            ),
        ));
    }
    let mut lbs = Vec::new();
    for (i, xml) in header.configs.iter().enumerate() {
        let config = Config::from_xml(xml)
            .map_err(|e| ReplayError::Config(i, e.to_string()))?
            .config;
        lbs.push(
            Balancer::new(config, Timestamp::ZERO)
                .map_err(|e| ReplayError::Config(i, e.to_string()))?,
        );
    }
    let mut digests = vec![FNV_BASIS; lbs.len()];
    let mut inputs = 0u64;
    #[allow(clippy::explicit_counter_loop)]
    for (n, text) in lines {
        if text.starts_with("{\"inputs\"") {
            let footer: Footer = serde_json::from_str(text).map_err(|e| bad(n, e.to_string()))?;
            if footer.inputs != inputs {
                return Err(bad(
                    n,
                    format!("{} inputs recorded, {inputs} read", footer.inputs),
                ));
            }
            for (lb, (replayed, recorded)) in digests.iter().zip(&footer.output_digests).enumerate()
            {
                if replayed != recorded {
                    return Err(ReplayError::Diverged {
                        lb,
                        replayed: *replayed,
                        recorded: *recorded,
                    });
                }
            }
            return Ok(ReplayReport {
                seed: header.seed,
                scenario: header.scenario,
                inputs,
                digests,
            });
        }
        let line: Line = serde_json::from_str(text).map_err(|e| bad(n, e.to_string()))?;
        let b = lbs
            .get_mut(line.lb)
            .ok_or_else(|| bad(n, format!("no balancer {}", line.lb)))?;
        b.handle(line.at, line.input);
        while let Some(out) = b.poll_output() {
            digests[line.lb] = digest(digests[line.lb], &out);
        }
        inputs += 1;
    }
    Err(bad(0, "no footer: the trace is truncated".into()))
}
