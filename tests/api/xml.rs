//! TwiML compared as parsed XML: element names, sorted attributes, text, children. Also compiled
//! into the library's unit tests (src/twilio/twiml/tests.rs), so it names only `quick_xml`.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

#[derive(Debug, PartialEq, Clone)]
pub struct Node {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn el(name: &str, attrs: &[(&str, &str)], text: &str, children: Vec<Node>) -> Node {
        let mut attrs: Vec<(String, String)> =
            attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        attrs.sort();
        Node { name: name.into(), attrs, text: text.into(), children }
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }
}

fn node(e: &BytesStart<'_>) -> Node {
    let mut attrs: Vec<(String, String)> = e
        .attributes()
        .map(|a| {
            let a = a.expect("attribute");
            (
                a.key.as_ref().to_owned(),
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0).expect("value").into_owned(),
            )
        })
        .collect();
    attrs.sort();
    Node { name: e.name().as_ref().to_owned(), attrs, text: String::new(), children: vec![] }
}

/// The `<Response>` element of a TwiML document (which must start with the declaration).
pub fn parse(xml: &str) -> Node {
    assert!(xml.starts_with("<?xml"), "not TwiML: {xml}");
    let mut reader = Reader::from_str(xml);
    let mut stack = vec![Node::el("#doc", &[], "", vec![])];
    loop {
        match reader.read_event().expect("well-formed") {
            Event::Start(e) => stack.push(node(&e)),
            Event::Empty(e) => {
                let n = node(&e);
                stack.last_mut().expect("parent").children.push(n);
            }
            Event::End(_) => {
                let done = stack.pop().expect("open");
                stack.last_mut().expect("parent").children.push(done);
            }
            Event::Text(t) => stack.last_mut().expect("node").text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let name: &str = &r;
                let ch = quick_xml::escape::unescape(&format!("&{name};")).expect("entity").into_owned();
                stack.last_mut().expect("node").text.push_str(&ch);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let root = stack.pop().expect("doc").children.pop().expect("root");
    assert_eq!(root.name, "Response");
    root
}
