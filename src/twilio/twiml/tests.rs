//! The TwiML examples of TWILIO.md (as Twilio's Python library prints them), rebuilt with the
//! builder and compared as parsed XML; escaping; the declaration comes first.

use super::*;
use quick_xml::Reader;
use quick_xml::events::Event;

/// A parsed element: name, sorted attributes, text, children.
#[derive(Debug, PartialEq)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
}

fn parse(xml: &str) -> Node {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Node> =
        vec![Node { name: "#doc".into(), attrs: vec![], text: String::new(), children: vec![] }];
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
            Event::Text(t) => {
                let text = t.xml10_content().into_owned();
                stack.last_mut().expect("node").text.push_str(&text);
            }
            Event::GeneralRef(r) => {
                let name: &str = &r;
                let ch = quick_xml::escape::unescape(&format!("&{name};")).expect("entity").into_owned();
                stack.last_mut().expect("node").text.push_str(&ch);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    stack.pop().expect("doc").children.pop().expect("root")
}

fn node(e: &quick_xml::events::BytesStart<'_>) -> Node {
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

fn same(built: &Twiml, expected: &str) {
    let xml = built.to_xml();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert_eq!(parse(&xml), parse(expected), "\nbuilt:    {xml}\nexpected: {expected}");
}

#[test]
fn dial_example() {
    let dial = Dial {
        action: Some("/x".into()),
        method: Some(Method::Post),
        timeout: Some(20),
        targets: vec![DialTarget::Number(Number { number: "+15551234567".into(), ..Number::default() })],
        ..Dial::default()
    };
    same(
        &Twiml::new().verb(dial),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial action="/x" method="POST" timeout="20"><Number>+15551234567</Number></Dial></Response>"#,
    );
}

#[test]
fn gather_example() {
    let gather = Gather {
        action: Some("/gather".into()),
        input: vec![GatherInput::Dtmf, GatherInput::Speech],
        num_digits: Some(1),
        timeout: Some(5),
        prompts: vec![Verb::Say(Say {
            text: "Press 1 for sales & support, or say <agent>.".into(),
            voice: Some("Polly.Joanna".into()),
            language: Some("en-US".into()),
            loop_count: None,
        })],
        ..Gather::default()
    };
    same(
        &Twiml::new().verb(gather).say("We didn't receive any input. Goodbye!").hangup(),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/gather" input="dtmf speech" numDigits="1" timeout="5"><Say language="en-US" voice="Polly.Joanna">Press 1 for sales &amp; support, or say &lt;agent&gt;.</Say></Gather><Say>We didn't receive any input. Goodbye!</Say><Hangup /></Response>"#,
    );
}

#[test]
fn message_example() {
    same(
        &Twiml::new().verb(Message::text(r#"Tom & Jerry said "hi" <3"#)),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>Tom &amp; Jerry said "hi" &lt;3</Message></Response>"#,
    );
}

#[test]
fn empty_response_example() {
    same(&Twiml::new(), r#"<?xml version="1.0" encoding="UTF-8"?><Response />"#);
}

#[test]
fn escaping_covers_markup_quotes_and_non_ascii() {
    let say = Say {
        text: r#"a & b < c > d "e" 'f' — Zürich ☎"#.into(),
        voice: Some(r#"x"y'z&"#.into()),
        ..Say::default()
    };
    let xml = Twiml::new().verb(say).to_xml();
    assert!(!xml.contains("& b"), "{xml}");
    assert!(xml.contains("Zürich ☎"), "{xml}");
    let parsed = parse(&xml);
    assert_eq!(parsed.children[0].text, r#"a & b < c > d "e" 'f' — Zürich ☎"#);
    assert_eq!(parsed.children[0].attrs, vec![("voice".to_string(), r#"x"y'z&"#.to_string())]);
}

#[test]
fn the_response_is_text_xml() {
    use axum::response::IntoResponse;
    let response = Twiml::new().hangup().into_response();
    assert_eq!(response.headers()["content-type"], "text/xml; charset=utf-8");
}
