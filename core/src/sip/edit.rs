//! Editing without re-parsing: a splice list on the original ranges, serialized once
//! (style guide §3.4; proxy behaviour RFC 3261 §16.6, §16.7, §18.2.1, RFC 3581 §4).

use super::accessors::ValueRef;
use super::error::ParseError;
use super::header::{CommaSplit, HeaderName, Params};
use super::parse::SipMessage;
use super::uri::Uri;
use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;
use std::io::Write as _;
use std::ops::Range;

/// Why an edit could not be applied. These are caller mistakes or properties of the message
/// that the caller must handle (e.g. Max-Forwards already 0 → answer 483).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// Two edits touch overlapping bytes.
    #[error("overlapping edits")]
    Overlap,
    /// A slice or range handed to the editor is not inside this message.
    #[error("range is not inside the message")]
    NotInMessage,
    /// No header at that index / with that value.
    #[error("no such header or value")]
    NoSuchHeader,
    /// Max-Forwards is 0: do not forward, answer 483 (RFC 3261 §16.3 step 3).
    #[error("Max-Forwards is 0")]
    MaxForwardsExhausted,
    /// The message could not be read for this edit.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// Something the editor can write as new bytes without an intermediate allocation: byte and
/// string slices, owned buffers, and `format_args!(...)`.
pub trait EditValue {
    /// Appends the bytes to `out`.
    fn write_to(&self, out: &mut Vec<u8>);
}

impl EditValue for [u8] {
    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}
impl EditValue for str {
    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}
impl<const N: usize> EditValue for [u8; N] {
    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}
impl EditValue for Vec<u8> {
    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}
impl EditValue for String {
    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}
impl EditValue for Bytes {
    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}
impl EditValue for fmt::Arguments<'_> {
    fn write_to(&self, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail.
        let _ = out.write_fmt(*self);
    }
}
impl<T: EditValue + ?Sized> EditValue for &T {
    fn write_to(&self, out: &mut Vec<u8>) {
        (**self).write_to(out);
    }
}

/// A header name for a new line: a [`HeaderName`] (written in its canonical long form) or a
/// string for extension headers.
pub trait NameArg {
    /// The spelling to write.
    fn as_name(&self) -> &str;
}
impl NameArg for HeaderName {
    fn as_name(&self) -> &str {
        self.as_str()
    }
}
impl NameArg for str {
    fn as_name(&self) -> &str {
        self
    }
}
impl<T: NameArg + ?Sized> NameArg for &T {
    fn as_name(&self) -> &str {
        (**self).as_name()
    }
}

#[derive(Debug, Clone)]
struct Splice {
    at: Range<usize>,
    ins: Range<usize>,
    /// A body edit: placed after the end of the header section when both sit at the same
    /// offset (a message without the empty line that ends its headers).
    body: bool,
}

/// Collects edits on a parsed message and serializes once ([`Editor::finish`]) into an
/// exactly sized buffer. Bytes outside the edited ranges are copied unchanged; the output
/// covers the message proper (leading CRLFs and bytes after the body are dropped).
#[derive(Debug)]
pub struct Editor<'m> {
    msg: &'m SipMessage,
    splices: Vec<Splice>,
    scratch: Vec<u8>,
}

impl<'m> Editor<'m> {
    /// Starts an empty edit of `msg`.
    pub fn new(msg: &'m SipMessage) -> Self {
        Editor {
            msg,
            splices: Vec::with_capacity(8),
            scratch: Vec::with_capacity(256),
        }
    }

    /// The message being edited.
    pub fn message(&self) -> &'m SipMessage {
        self.msg
    }

    fn region(&self) -> Range<usize> {
        self.msg.msg_start..self.msg.body.end
    }

    fn push(
        &mut self,
        at: Range<usize>,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), EditError> {
        let region = self.region();
        if at.start > at.end || at.start < region.start || at.end > region.end {
            return Err(EditError::NotInMessage);
        }
        let s = self.scratch.len();
        write(&mut self.scratch);
        let e = self.scratch.len();
        self.splices.push(Splice {
            at,
            ins: s..e,
            body: false,
        });
        Ok(())
    }

    fn write_line(out: &mut Vec<u8>, name: &str, value: &(impl EditValue + ?Sized)) {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        value.write_to(out);
        out.extend_from_slice(b"\r\n");
    }

    /// Replaces the bytes in `at` (a range of [`SipMessage::raw`]) with `value`.
    pub fn replace_range(
        &mut self,
        at: Range<usize>,
        value: &(impl EditValue + ?Sized),
    ) -> Result<(), EditError> {
        self.push(at, |out| value.write_to(out))
    }

    /// Replaces `sub`, a slice borrowed from the message (a view's `host`, `params`, …).
    pub fn replace_slice(
        &mut self,
        sub: &[u8],
        value: &(impl EditValue + ?Sized),
    ) -> Result<(), EditError> {
        let at = self.msg.range_of(sub).ok_or(EditError::NotInMessage)?;
        self.replace_range(at, value)
    }

    /// Inserts a header line above all others.
    pub fn insert_header_top(
        &mut self,
        name: &(impl NameArg + ?Sized),
        value: &(impl EditValue + ?Sized),
    ) {
        let at = self.msg.headers_start;
        // headers_start is inside the region by construction.
        let _ = self.push(at..at, |out| Self::write_line(out, name.as_name(), value));
    }

    /// Inserts a header line before header `index`.
    pub fn insert_header_before(
        &mut self,
        index: usize,
        name: &(impl NameArg + ?Sized),
        value: &(impl EditValue + ?Sized),
    ) -> Result<(), EditError> {
        let at = self
            .msg
            .headers
            .get(index)
            .ok_or(EditError::NoSuchHeader)?
            .line_range
            .start;
        self.push(at..at, |out| Self::write_line(out, name.as_name(), value))
    }

    /// Inserts a header line after header `index` (after its continuation lines).
    pub fn insert_header_after(
        &mut self,
        index: usize,
        name: &(impl NameArg + ?Sized),
        value: &(impl EditValue + ?Sized),
    ) -> Result<(), EditError> {
        let slot = self.msg.headers.get(index).ok_or(EditError::NoSuchHeader)?;
        let at = slot.line_range.end;
        // Only the last line can lack its CRLF; `finish` writes it before lines inserted here.
        self.push(at..at, |out| Self::write_line(out, name.as_name(), value))
    }

    /// Inserts a header line above the first line of the same name, or at the top if there
    /// is none: how a proxy adds its Via (RFC 3261 §16.6 step 8) and Record-Route (step 4).
    pub fn push_header(&mut self, name: HeaderName, value: &(impl EditValue + ?Sized)) {
        match self.msg.first_index(name) {
            Some(i) => {
                let _ = self.insert_header_before(i, &name, value);
            }
            None => self.insert_header_top(&name, value),
        }
    }

    /// Appends a header line after the last header.
    pub fn append_header(
        &mut self,
        name: &(impl NameArg + ?Sized),
        value: &(impl EditValue + ?Sized),
    ) {
        match self.msg.headers.len().checked_sub(1) {
            Some(last) => {
                let _ = self.insert_header_after(last, name, value);
            }
            None => self.insert_header_top(name, value),
        }
    }

    /// Removes header line `index` with its continuation lines.
    pub fn remove_header(&mut self, index: usize) -> Result<(), EditError> {
        let at = self
            .msg
            .headers
            .get(index)
            .ok_or(EditError::NoSuchHeader)?
            .line_range
            .clone();
        self.push(at, |_| {})
    }

    /// Removes every header line named `name`.
    pub fn remove_all(&mut self, name: HeaderName) -> Result<(), EditError> {
        let idx: Vec<usize> = self.msg.get_all(name).map(|(i, _)| i).collect();
        idx.into_iter().try_for_each(|i| self.remove_header(i))
    }

    /// Replaces the value of header line `index` (name and line end kept).
    pub fn replace_value(
        &mut self,
        index: usize,
        value: &(impl EditValue + ?Sized),
    ) -> Result<(), EditError> {
        let at = self
            .msg
            .headers
            .get(index)
            .ok_or(EditError::NoSuchHeader)?
            .value_range
            .clone();
        self.push(at, |out| value.write_to(out))
    }

    /// Removes one value of a multi-value header with its comma; the whole line if it was
    /// the only value (RFC 3261 §16.12, §18.2.1 for the top Via of a response).
    pub fn remove_value(&mut self, v: &ValueRef) -> Result<(), EditError> {
        let slot = self
            .msg
            .headers
            .get(v.header)
            .ok_or(EditError::NoSuchHeader)?;
        let base = slot.value_range.start;
        let ranges: Vec<Range<usize>> = CommaSplit::new(self.msg.slice(slot.value_range.clone()))
            .map(|r| base + r.start..base + r.end)
            .collect();
        let k = ranges
            .iter()
            .position(|r| *r == v.range)
            .ok_or(EditError::NoSuchHeader)?;
        if ranges.len() == 1 {
            return self.remove_header(v.header);
        }
        let at = match (
            ranges.get(k + 1),
            k.checked_sub(1).and_then(|p| ranges.get(p)),
        ) {
            (Some(next), _) => v.range.start..next.start,
            (None, Some(prev)) => prev.end..v.range.end,
            (None, None) => return Err(EditError::NoSuchHeader),
        };
        self.push(at, |_| {})
    }

    /// Removes the topmost Via value (a proxy forwarding a response, RFC 3261 §16.7 step 3).
    pub fn remove_top_via(&mut self) -> Result<(), EditError> {
        let v = self
            .msg
            .values(HeaderName::Via)
            .next()
            .ok_or(ParseError::MissingHeader(HeaderName::Via))?;
        self.remove_value(&v)
    }

    /// Sets parameter `name` in `params` (the `params` slice of a [`Uri`], [`super::Via`] or
    /// [`super::NameAddr`] of this message): replaces an existing one, else appends
    /// `;name[=value]` at the end of the list. `None` writes a flag (`;lr`, `;rport`).
    pub fn set_param(
        &mut self,
        params: &[u8],
        name: &str,
        value: Option<&(impl EditValue + ?Sized)>,
    ) -> Result<(), EditError> {
        let list = self.msg.range_of(params).ok_or(EditError::NotInMessage)?;
        let at = match Params::new(params).named(name) {
            Some(p) => self
                .msg
                .range_of(p.segment)
                .ok_or(EditError::NotInMessage)?,
            None => list.end..list.end,
        };
        self.push(at, |out| {
            out.push(b';');
            out.extend_from_slice(name.as_bytes());
            if let Some(v) = value {
                out.push(b'=');
                v.write_to(out);
            }
        })
    }

    /// Removes every parameter `name` from `params`; returns whether one was present.
    pub fn remove_param(&mut self, params: &[u8], name: &str) -> Result<bool, EditError> {
        let mut found = false;
        for p in Params::new(params).filter(|p| p.name.eq_ignore_ascii_case(name.as_bytes())) {
            let at = self
                .msg
                .range_of(p.segment)
                .ok_or(EditError::NotInMessage)?;
            self.push(at, |_| {})?;
            found = true;
        }
        Ok(found)
    }

    /// Rewrites host and port of a SIP URI of this message; IPv6 hosts must be given with
    /// brackets (RFC 5118 §4.4).
    pub fn set_uri_host_port(
        &mut self,
        uri: &Uri<'_>,
        host: &(impl EditValue + ?Sized),
        port: Option<u16>,
    ) -> Result<(), EditError> {
        let at = self
            .msg
            .range_of(uri.host_port)
            .ok_or(EditError::NotInMessage)?;
        self.push(at, |out| {
            host.write_to(out);
            if let Some(p) = port {
                let _ = write!(out, ":{p}");
            }
        })
    }

    /// Decrements Max-Forwards (RFC 3261 §16.6 step 3) and returns the new value; adds
    /// `Max-Forwards: 70` if absent. Errors with [`EditError::MaxForwardsExhausted`] at 0
    /// (answer 483, do not forward) or if the value is malformed.
    pub fn decrement_max_forwards(&mut self) -> Result<u8, EditError> {
        match self.msg.max_forwards()? {
            Some(0) => Err(EditError::MaxForwardsExhausted),
            Some(n) => {
                let i = self
                    .msg
                    .first_index(HeaderName::MaxForwards)
                    .ok_or(EditError::NoSuchHeader)?;
                let v = n - 1;
                self.replace_value(i, &format_args!("{v}"))?;
                Ok(v)
            }
            None => {
                self.append_header(&HeaderName::MaxForwards, "70");
                Ok(70)
            }
        }
    }

    /// Adds `Content-Length` with the body length if the message has none (a datagram
    /// forwarded onto a stream, RFC 3261 §18.3 / RFC 4475 `inv2543`).
    pub fn ensure_content_length(&mut self) {
        if self.msg.content_length.is_none() {
            let n = self.msg.body.len();
            self.append_header(&HeaderName::ContentLength, &format_args!("{n}"));
        }
    }

    /// Replaces the body and keeps Content-Length correct (replaced, or added).
    pub fn set_body(&mut self, body: &[u8]) -> Result<(), EditError> {
        let n = body.len();
        let at = self.msg.body.clone();
        self.push(at, |out| out.extend_from_slice(body))?;
        if let Some(last) = self.splices.last_mut() {
            last.body = true;
        }
        let cl: Vec<usize> = self
            .msg
            .get_all(HeaderName::ContentLength)
            .map(|(i, _)| i)
            .collect();
        if cl.is_empty() {
            self.append_header(&HeaderName::ContentLength, &format_args!("{n}"));
        }
        for i in cl {
            self.replace_value(i, &format_args!("{n}"))?;
        }
        Ok(())
    }

    /// Size of the output [`Editor::finish`] will produce. Costs a dry run of the edit; the
    /// hot path does not need it ([`Editor::finish`] sizes its buffer from an upper bound).
    pub fn output_len(&self) -> usize {
        let mut splices = self.splices.clone();
        splices.sort_by_key(|s| (s.at.start, s.at.end));
        let mut len = 0;
        self.emit(&splices, |bytes| len += bytes.len());
        len
    }

    /// Applies all edits and returns the new message in one buffer, allocated once.
    pub fn finish(mut self) -> Result<Bytes, EditError> {
        self.splices.sort_by_key(|s| (s.at.start, s.at.end));
        let region = self.region();
        let mut cursor = region.start;
        for s in &self.splices {
            if s.at.start < cursor {
                return Err(EditError::Overlap);
            }
            cursor = s.at.end;
        }
        // Upper bound: the region, every insertion, and a missing CRLF plus empty line.
        let ins: usize = self.splices.iter().map(|s| s.ins.len()).sum();
        let mut out = BytesMut::with_capacity(region.len() + ins + 4);
        self.emit(&self.splices, |bytes| out.put_slice(bytes));
        tracing::trace!(
            splices = self.splices.len(),
            len = out.len(),
            "sip message rewritten"
        );
        Ok(out.freeze())
    }

    /// Writes the edited message through `put`, splices sorted by position. A message
    /// without the empty line after its headers (a datagram may end right after its last
    /// header, RFC 4475 `baddn`) gets, at the end of its header section, the CRLF its last
    /// line lacks (only if that line is still the last one written) before any header
    /// appended there, and the empty line after them, before the body.
    fn emit(&self, splices: &[Splice], mut put: impl FnMut(&[u8])) {
        let raw = &self.msg.raw;
        let region = self.region();
        let term_at = self.msg.headers_end;
        let mut last = None;
        let mut write = |bytes: &[u8], last: &mut Option<u8>| {
            if let Some(&b) = bytes.last() {
                *last = Some(b);
            }
            put(bytes);
        };
        let mut cursor = region.start;
        let mut line_end_done = self.msg.has_blank_line;
        let mut blank_done = self.msg.has_blank_line;
        for s in splices {
            if !line_end_done && term_at <= s.at.start {
                write(
                    raw.get(cursor..term_at.max(cursor)).unwrap_or_default(),
                    &mut last,
                );
                cursor = cursor.max(term_at);
                if last != Some(b'\n') {
                    write(b"\r\n", &mut last);
                }
                line_end_done = true;
            }
            if !blank_done && (term_at < s.at.start || (term_at == s.at.start && s.body)) {
                write(
                    raw.get(cursor..term_at.max(cursor)).unwrap_or_default(),
                    &mut last,
                );
                cursor = cursor.max(term_at);
                write(b"\r\n", &mut last);
                blank_done = true;
            }
            write(raw.get(cursor..s.at.start).unwrap_or_default(), &mut last);
            write(
                self.scratch.get(s.ins.clone()).unwrap_or_default(),
                &mut last,
            );
            cursor = s.at.end;
        }
        if !line_end_done {
            write(
                raw.get(cursor..term_at.max(cursor)).unwrap_or_default(),
                &mut last,
            );
            cursor = cursor.max(term_at);
            if last != Some(b'\n') {
                write(b"\r\n", &mut last);
            }
        }
        if !blank_done {
            write(
                raw.get(cursor..term_at.max(cursor)).unwrap_or_default(),
                &mut last,
            );
            cursor = cursor.max(term_at);
            write(b"\r\n", &mut last);
        }
        write(raw.get(cursor..region.end).unwrap_or_default(), &mut last);
    }
}
