//! The raw layer: `lb-configuration.xml` read into a tree of elements with their text, their
//! attributes and their position, without interpreting any value.
//!
//! A generic tree (rather than serde-derived structs) is used so that unknown elements can be
//! reported by path instead of being dropped silently, and so that malformed XML is reported
//! with its line and column.

use super::error::ConfigError;
use quick_xml::events::Event;
use quick_xml::Reader;

/// One XML element with its trimmed text content and its child elements, in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Element {
    /// The element name as written (case-sensitive, as in the reference's JAXB binding).
    pub name: String,
    /// Attributes, unescaped, in document order.
    pub attributes: Vec<(String, String)>,
    /// The text directly inside the element (entities resolved, trimmed).
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// The value of attribute `name`, if present.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// 1-based line and column (in characters) of byte offset `pos` in `text`.
pub(crate) fn line_column(text: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &text[..pos];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn xml_error(text: &str, pos: u64, message: String) -> ConfigError {
    let (line, column) = line_column(text, usize::try_from(pos).unwrap_or(usize::MAX));
    ConfigError::Xml {
        line,
        column,
        message,
    }
}

fn predefined_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        _ => return None,
    })
}

fn element_of(
    text: &str,
    before: u64,
    start: &quick_xml::events::BytesStart<'_>,
) -> Result<Element, ConfigError> {
    let mut element = Element {
        name: start.name().as_ref().to_owned(),
        ..Element::default()
    };
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| xml_error(text, before, e.to_string()))?;
        let key = attribute.key.as_ref().to_owned();
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| xml_error(text, before, e.to_string()))?
            .into_owned();
        element.attributes.push((key, value));
    }
    Ok(element)
}

fn finish_into(stack: &mut [Element], mut done: Element) {
    done.text = done.text.trim().to_owned();
    if let Some(parent) = stack.last_mut() {
        parent.children.push(done);
    }
}

/// Parses a whole document and returns its root element.
pub(crate) fn parse(text: &str) -> Result<Element, ConfigError> {
    let mut reader = Reader::from_str(text);
    // Open elements; the bottom one is a synthetic document node.
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        let before = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => return Err(xml_error(text, reader.error_position(), e.to_string())),
        };
        match event {
            Event::Start(start) | Event::Empty(start)
                if stack.len() == 1 && !stack[0].children.is_empty() =>
            {
                let _ = start;
                return Err(xml_error(
                    text,
                    before,
                    "more than one root element".to_owned(),
                ));
            }
            Event::Start(start) => {
                stack.push(element_of(text, before, &start)?);
            }
            Event::Empty(start) => {
                let element = element_of(text, before, &start)?;
                finish_into(&mut stack, element);
            }
            Event::End(_) => {
                let done = stack.pop().unwrap_or_default();
                finish_into(&mut stack, done);
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = r.xml10_content();
                        match predefined_entity(&name) {
                            Some(s) => s.to_owned(),
                            None => {
                                return Err(xml_error(
                                    text,
                                    before,
                                    format!("unknown entity &{name};"),
                                ))
                            }
                        }
                    }
                    Err(e) => return Err(xml_error(text, before, e.to_string())),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if stack.len() > 1 {
        let open = stack.last().map(|e| e.name.clone()).unwrap_or_default();
        return Err(xml_error(
            text,
            text.len() as u64,
            format!("unexpected end of document: <{open}> is not closed"),
        ));
    }
    let mut document = stack.pop().unwrap_or_default();
    match document.children.pop() {
        Some(root) => Ok(root),
        None => Err(xml_error(
            text,
            text.len() as u64,
            "the document has no root element".to_owned(),
        )),
    }
}
