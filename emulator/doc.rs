//! A TwiML document as a tree, read with quick-xml.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use std::collections::HashMap;

/// An element.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// The verb or noun.
    pub name: String,
    /// Its attributes.
    pub attrs: HashMap<String, String>,
    /// Its text.
    pub text: String,
    /// Nested verbs and nouns.
    pub children: Vec<Node>,
}

impl Node {
    /// An attribute.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    /// A numeric attribute.
    pub fn num(&self, name: &str) -> Option<f64> {
        self.attr(name).and_then(|v| v.parse().ok())
    }
}

fn node(e: &BytesStart<'_>) -> Node {
    let attrs = e
        .attributes()
        .filter_map(Result::ok)
        .filter_map(|a| {
            let value = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok()?.into_owned();
            Some((a.key.as_ref().to_owned(), value))
        })
        .collect();
    Node { name: e.name().as_ref().to_owned(), attrs, ..Node::default() }
}

/// Parses a TwiML document; its `<Response>`, or an error Twilio would report (12100).
pub fn parse(xml: &str) -> Result<Node, String> {
    if !xml.trim_start().starts_with("<?xml") && !xml.trim_start().starts_with("<Response") {
        return Err("12100: document is not TwiML".into());
    }
    let mut reader = Reader::from_str(xml);
    let mut stack = vec![Node::default()];
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => stack.push(node(&e)),
            Ok(Event::Empty(e)) => {
                let n = node(&e);
                stack.last_mut().ok_or("12100: malformed")?.children.push(n);
            }
            Ok(Event::End(_)) => {
                let done = stack.pop().ok_or("12100: malformed")?;
                stack.last_mut().ok_or("12100: malformed")?.children.push(done);
            }
            Ok(Event::Text(t)) => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&t.xml10_content());
                }
            }
            Ok(Event::GeneralRef(r)) => {
                let name: &str = &r;
                let ch = quick_xml::escape::unescape(&format!("&{name};"))
                    .map_err(|e| e.to_string())?
                    .into_owned();
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&ch);
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("12100: {e}")),
        }
    }
    let root = stack.pop().and_then(|d| d.children.into_iter().next()).ok_or("12100: empty document")?;
    if root.name == "Response" { Ok(root) } else { Err("12100: the root is not <Response>".into()) }
}
