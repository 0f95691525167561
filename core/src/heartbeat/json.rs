//! The JSON body of the HTTP heartbeat protocol (behaviour reference §3.2): one object whose
//! **first** key is the command.

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use thiserror::Error;

/// A decoded node→balancer command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `start`: every payload field as a string property (numbers converted, `null` dropped).
    Start(BTreeMap<String, String>),
    /// `heartbeat`.
    Heartbeat {
        /// `sessionId`, string or number on the wire.
        session_id: String,
    },
    /// `shutdown` (graceful).
    Shutdown {
        /// `sessionId`.
        session_id: String,
    },
    /// `stop` (immediate removal).
    Stop {
        /// `sessionId`.
        session_id: String,
    },
    /// `switchover`.
    Switchover {
        /// `fromJvmRoute`.
        from_jvm_route: String,
        /// `toJvmRoute`.
        to_jvm_route: String,
    },
}

impl Command {
    /// The command's wire name, also the key of its answer (`{"<name>":"OK"}`).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Start(_) => "start",
            Command::Heartbeat { .. } => "heartbeat",
            Command::Shutdown { .. } => "shutdown",
            Command::Stop { .. } => "stop",
            Command::Switchover { .. } => "switchover",
        }
    }
}

/// A heartbeat body that cannot be understood (answered with `400`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Not a JSON object (or not JSON at all).
    #[error("malformed json")]
    MalformedJson,
    /// `{}`.
    #[error("empty object")]
    Empty,
    /// The first key is not a known command.
    #[error("unknown command `{0}`")]
    UnknownCommand(String),
    /// The payload has the wrong shape.
    #[error("{command}: payload must be an object")]
    PayloadNotObject {
        /// The command.
        command: &'static str,
    },
    /// A required field is missing or empty.
    #[error("{command}: missing {field}")]
    MissingField {
        /// The command.
        command: &'static str,
        /// The field.
        field: &'static str,
    },
}

/// The first entry of a JSON object; the other entries are skipped.
struct FirstEntry(Option<(String, Value)>);

impl<'de> Deserialize<'de> for FirstEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FirstEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FirstEntry, A::Error> {
                let first = map.next_entry::<String, Value>()?;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(FirstEntry(first))
            }
        }
        d.deserialize_map(V)
    }
}

/// The text form of a scalar JSON value: strings as is, integers without a fraction,
/// booleans as `true`/`false`; `None` for `null`. Objects and arrays keep their JSON text.
pub fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.to_string(),
            (None, Some(i), _) => i.to_string(),
            // 1.510844617581E12 from a client that sends doubles.
            (None, None, Some(f)) if f.fract() == 0.0 && (0.0..1.8e19).contains(&f) => {
                format!("{f:.0}")
            }
            _ => n.to_string(),
        }),
        Value::Array(_) | Value::Object(_) => Some(value.to_string()),
    }
}

fn session_id(command: &'static str, payload: &Value) -> Result<String, CommandError> {
    let raw = match payload {
        Value::Object(map) => map.get("sessionId").and_then(value_text),
        Value::String(_) | Value::Number(_) => value_text(payload),
        Value::Null | Value::Bool(_) | Value::Array(_) => None,
    };
    raw.map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or(CommandError::MissingField {
            command,
            field: "sessionId",
        })
}

/// Decodes a heartbeat body, dispatching on the first key of the object (§3.2). Never panics;
/// `sessionId` and ports may be JSON strings or numbers.
pub fn parse_command(body: &[u8]) -> Result<Command, CommandError> {
    let FirstEntry(first) =
        serde_json::from_slice::<FirstEntry>(body).map_err(|_| CommandError::MalformedJson)?;
    let (key, payload) = first.ok_or(CommandError::Empty)?;
    match key.as_str() {
        "start" => {
            let Value::Object(map) = payload else {
                return Err(CommandError::PayloadNotObject { command: "start" });
            };
            let props: BTreeMap<String, String> = map
                .iter()
                .filter_map(|(k, v)| value_text(v).map(|t| (k.clone(), t)))
                .collect();
            if props.get("sessionId").is_none_or(|s| s.trim().is_empty()) {
                return Err(CommandError::MissingField {
                    command: "start",
                    field: "sessionId",
                });
            }
            Ok(Command::Start(props))
        }
        "heartbeat" => Ok(Command::Heartbeat {
            session_id: session_id("heartbeat", &payload)?,
        }),
        "shutdown" => Ok(Command::Shutdown {
            session_id: session_id("shutdown", &payload)?,
        }),
        "stop" => Ok(Command::Stop {
            session_id: session_id("stop", &payload)?,
        }),
        "switchover" => {
            let field = |name: &'static str| {
                payload
                    .get(name)
                    .and_then(value_text)
                    .filter(|s| !s.is_empty())
                    .ok_or(CommandError::MissingField {
                        command: "switchover",
                        field: name,
                    })
            };
            Ok(Command::Switchover {
                from_jvm_route: field("fromJvmRoute")?,
                to_jvm_route: field("toJvmRoute")?,
            })
        }
        _ => Err(CommandError::UnknownCommand(key.chars().take(64).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_key_wins_even_when_it_does_not_sort_first() {
        let c = parse_command(br#"{"stop":{"sessionId":5},"heartbeat":{"sessionId":6}}"#);
        assert_eq!(
            c,
            Ok(Command::Stop {
                session_id: "5".into()
            })
        );
    }

    #[test]
    fn session_ids_as_strings_numbers_and_doubles() {
        for body in [
            &br#"{"heartbeat":{"sessionId":1510844617581}}"#[..],
            br#"{"heartbeat":{"sessionId":"1510844617581"}}"#,
            br#"{"heartbeat":{"sessionId":1.510844617581E12}}"#,
        ] {
            assert_eq!(
                parse_command(body),
                Ok(Command::Heartbeat {
                    session_id: "1510844617581".into()
                })
            );
        }
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(parse_command(b"[1]"), Err(CommandError::MalformedJson));
        assert_eq!(parse_command(b"{}"), Err(CommandError::Empty));
        assert_eq!(
            parse_command(b"{\"x\":1}"),
            Err(CommandError::UnknownCommand("x".into()))
        );
        assert!(matches!(
            parse_command(b"{\"stop\":{}}"),
            Err(CommandError::MissingField { .. })
        ));
        assert!(matches!(
            parse_command(b"{\"start\":{\"ip\":\"::1\"}}"),
            Err(CommandError::MissingField { .. })
        ));
        assert!(matches!(
            parse_command(b"{\"start\":3}"),
            Err(CommandError::PayloadNotObject { .. })
        ));
    }
}
