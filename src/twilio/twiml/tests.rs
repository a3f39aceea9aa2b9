//! The TwiML examples of TWILIO.md (as Twilio's Python library prints them), rebuilt with the
//! builder and compared as parsed XML; escaping; the declaration comes first.

use super::*;
// The one TwiML test parser, shared with the integration tests (which cannot see this crate's
// `cfg(test)` items): the file is compiled into both test crates.
#[allow(dead_code)]
#[path = "../../../tests/api/xml.rs"]
mod xml;
use xml::parse;

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
