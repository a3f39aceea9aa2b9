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

fn node(e: &BytesStart<'_>) -> Result<Node, String> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| format!("attribute: {e}"))?;
        let value =
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| format!("value: {e}"))?;
        attrs.push((a.key.as_ref().to_owned(), value.into_owned()));
    }
    attrs.sort();
    let name = e.name().as_ref().to_owned();
    Ok(Node { name, attrs, text: String::new(), children: vec![] })
}

/// The `<Response>` element of a TwiML document (which must start with the declaration).
pub fn parse(xml: &str) -> Node {
    try_parse(xml).unwrap_or_else(|problem| panic!("not TwiML ({problem}): {xml}"))
}

/// [`parse`], or why `xml` is not a TwiML document: no declaration first, not well-formed, or
/// not one `<Response>` root.
pub fn try_parse(xml: &str) -> Result<Node, String> {
    if !xml.starts_with("<?xml") {
        return Err("no XML declaration first".into());
    }
    let mut reader = Reader::from_str(xml);
    let mut stack = vec![Node::el("#doc", &[], "", vec![])];
    loop {
        let event = reader.read_event().map_err(|e| format!("not well-formed: {e}"))?;
        match event {
            Event::Start(e) => stack.push(node(&e)?),
            Event::Empty(e) => {
                let n = node(&e)?;
                stack.last_mut().ok_or("no parent")?.children.push(n);
            }
            Event::End(_) => {
                let done = stack.pop().ok_or("an end without a start")?;
                stack.last_mut().ok_or("an end without a start")?.children.push(done);
            }
            Event::Text(t) => stack.last_mut().ok_or("text outside")?.text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let name: &str = &r;
                let entity = format!("&{name};");
                let ch = quick_xml::escape::unescape(&entity).map_err(|e| format!("entity: {e}"))?;
                stack.last_mut().ok_or("an entity outside")?.text.push_str(&ch);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let [doc] = <[Node; 1]>::try_from(stack).map_err(|_| "an element left open")?;
    let [root] = <[Node; 1]>::try_from(doc.children).map_err(|_| "not exactly one root")?;
    if root.name != "Response" {
        return Err(format!("the root is <{}>", root.name));
    }
    Ok(root)
}
