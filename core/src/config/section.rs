//! Typed reading of one element's children: every child read is marked used, and whatever is
//! left at the end is reported as an unknown element. Values that cannot be read are collected
//! as errors and replaced by the default, so one pass finds every problem in the file.

use super::error::{ConfigError, ConfigWarning};
use super::raw::Element;
use regex::Regex;
use std::str::FromStr;
use std::time::Duration;

/// Errors and warnings collected while building the typed configuration.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigWarning>,
}

impl Ctx {
    pub fn error(&mut self, e: ConfigError) {
        self.errors.push(e);
    }

    pub fn warn(&mut self, w: ConfigWarning) {
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    pub fn invalid(&mut self, path: String, value: &str, expected: &str) {
        self.error(ConfigError::InvalidValue {
            path,
            value: value.to_owned(),
            expected: expected.to_owned(),
        });
    }
}

/// The children of one element (possibly absent: then every read returns its default).
#[derive(Debug)]
pub(crate) struct Section<'a> {
    path: String,
    element: Option<&'a Element>,
    used: Vec<bool>,
}

impl<'a> Section<'a> {
    pub fn new(element: Option<&'a Element>, path: impl Into<String>) -> Section<'a> {
        Section {
            path: path.into(),
            used: vec![false; element.map_or(0, |e| e.children.len())],
            element,
        }
    }

    /// The path of child `name`, e.g. `sip/external/udpPort`.
    pub fn path_of(&self, name: &str) -> String {
        format!("{}/{}", self.path, name)
    }

    /// The element itself, if present.
    pub fn element(&self) -> Option<&'a Element> {
        self.element
    }

    /// Every child called `name`, marked used.
    pub fn all(&mut self, name: &str) -> Vec<&'a Element> {
        let mut found = Vec::new();
        if let Some(element) = self.element {
            for (i, child) in element.children.iter().enumerate() {
                if child.name == name {
                    self.used[i] = true;
                    found.push(child);
                }
            }
        }
        found
    }

    /// The first child called `name` (a repeated one is a warning), marked used.
    pub fn child(&mut self, ctx: &mut Ctx, name: &str) -> Option<&'a Element> {
        let found = self.all(name);
        if found.len() > 1 {
            ctx.warn(ConfigWarning::Duplicate {
                path: self.path_of(name),
            });
        }
        found.first().copied()
    }

    /// The section of child `name` (absent child = empty section).
    pub fn sub(&mut self, ctx: &mut Ctx, name: &str) -> Section<'a> {
        let child = self.child(ctx, name);
        Section::new(child, self.path_of(name))
    }

    /// The text of child `name`, `None` if absent or empty (an empty element keeps the default).
    pub fn text(&mut self, ctx: &mut Ctx, name: &str) -> Option<&'a str> {
        self.child(ctx, name)
            .map(|e| e.text.as_str())
            .filter(|t| !t.is_empty())
    }

    /// Child `name` as an owned string.
    pub fn string(&mut self, ctx: &mut Ctx, name: &str) -> Option<String> {
        self.text(ctx, name).map(str::to_owned)
    }

    /// Child `name` as a port: `Some(None)` for `0` (off), `Some(Some(p))` for a port, `None`
    /// if absent, empty or invalid (invalid is an error).
    pub fn port_setting(&mut self, ctx: &mut Ctx, name: &str) -> Option<Option<u16>> {
        let text = self.text(ctx, name)?;
        match text.parse::<u16>() {
            Ok(0) => Some(None),
            Ok(port) => Some(Some(port)),
            Err(_) => {
                ctx.error(ConfigError::InvalidPort {
                    path: self.path_of(name),
                    value: text.to_owned(),
                });
                None
            }
        }
    }

    /// Child `name` as a port with a default (`0` in the file = off).
    pub fn port(&mut self, ctx: &mut Ctx, name: &str, default: Option<u16>) -> Option<u16> {
        self.port_setting(ctx, name).unwrap_or(default)
    }

    /// Child `name` parsed as a number, `None` if absent, empty or invalid (an error).
    pub fn opt_number<T: FromStr>(&mut self, ctx: &mut Ctx, name: &str) -> Option<T> {
        let text = self.text(ctx, name)?;
        match text.parse::<T>() {
            Ok(n) => Some(n),
            Err(_) => {
                ctx.invalid(self.path_of(name), text, "expected a non-negative integer");
                None
            }
        }
    }

    /// Child `name` as a number with a default.
    pub fn number<T: FromStr>(&mut self, ctx: &mut Ctx, name: &str, default: T) -> T {
        self.opt_number(ctx, name).unwrap_or(default)
    }

    /// Child `name` in milliseconds, `None` if absent.
    pub fn opt_millis(&mut self, ctx: &mut Ctx, name: &str) -> Option<Duration> {
        self.opt_number::<u64>(ctx, name).map(Duration::from_millis)
    }

    /// Child `name` in milliseconds with a default.
    pub fn millis(&mut self, ctx: &mut Ctx, name: &str, default_ms: u64) -> Duration {
        self.opt_millis(ctx, name)
            .unwrap_or(Duration::from_millis(default_ms))
    }

    /// Child `name` as a boolean (`true/false`, `yes/no`, `on/off`, `t/f`, `y/n`, `1/0`).
    pub fn flag(&mut self, ctx: &mut Ctx, name: &str, default: bool) -> bool {
        let Some(text) = self.text(ctx, name) else {
            return default;
        };
        match parse_bool(text) {
            Some(b) => b,
            None => {
                ctx.invalid(self.path_of(name), text, "expected true or false");
                default
            }
        }
    }

    /// Child `name` as a comma-separated list (entries trimmed, empty entries dropped).
    pub fn list(&mut self, ctx: &mut Ctx, name: &str) -> Option<Vec<String>> {
        self.text(ctx, name).map(split_list)
    }

    /// Child `name` compiled as a regular expression (a bad one is an error).
    pub fn regex(&mut self, ctx: &mut Ctx, name: &str) -> Option<Regex> {
        let text = self.text(ctx, name)?;
        compile(ctx, self.path_of(name), text)
    }

    /// Marks child `name` as read-but-unsupported: a warning if it has a value.
    pub fn unsupported(&mut self, ctx: &mut Ctx, name: &str, reason: &str) {
        if self.text(ctx, name).is_some() {
            ctx.warn(ConfigWarning::Unsupported {
                path: self.path_of(name),
                reason: reason.to_owned(),
            });
        }
    }

    /// Reports every child not read as an unknown element.
    pub fn finish(self, ctx: &mut Ctx) {
        if let Some(element) = self.element {
            for (child, used) in element.children.iter().zip(&self.used) {
                if !used {
                    ctx.warn(ConfigWarning::UnknownElement {
                        path: format!("{}/{}", self.path, child.name),
                    });
                }
            }
        }
    }
}

/// Compiles `pattern`, recording a [`ConfigError::BadRegex`] at `path` on failure.
pub(crate) fn compile(ctx: &mut Ctx, path: String, pattern: &str) -> Option<Regex> {
    match Regex::new(pattern) {
        Ok(r) => Some(r),
        Err(e) => {
            ctx.error(ConfigError::BadRegex {
                path,
                value: pattern.to_owned(),
                message: e.to_string().lines().last().unwrap_or_default().to_owned(),
            });
            None
        }
    }
}

/// Java commons-configuration boolean spellings.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "t" | "y" | "1" => Some(true),
        "false" | "no" | "off" | "f" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Splits a comma-separated list, trimming entries and dropping empty ones.
pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
