//! TwiML builder: typed verbs and nouns, written with quick-xml (which escapes `& < > " '` in
//! attributes and text, and passes non-ASCII through as UTF-8), served as
//! `text/xml; charset=utf-8` with nothing before the XML declaration (else Twilio error 12100).

mod verbs;

pub use verbs::*;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use std::io::Cursor;

/// The content type of every TwiML answer.
pub const TWIML_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// A `<Response>` document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Twiml {
    verbs: Vec<Verb>,
}

impl Twiml {
    /// An empty `<Response/>` (the answer to status callbacks).
    pub fn new() -> Self {
        Twiml::default()
    }

    /// Appends a verb.
    #[must_use]
    pub fn verb(mut self, verb: impl Into<Verb>) -> Self {
        self.verbs.push(verb.into());
        self
    }

    /// Appends `<Say>` with default voice.
    #[must_use]
    pub fn say(self, text: impl Into<String>) -> Self {
        self.verb(Say::new(text))
    }

    /// Appends `<Hangup/>`.
    #[must_use]
    pub fn hangup(self) -> Self {
        self.verb(Verb::Hangup)
    }

    /// The verbs so far.
    pub fn verbs(&self) -> &[Verb] {
        &self.verbs
    }

    /// The document as XML text, starting with the declaration.
    pub fn to_xml(&self) -> String {
        let mut writer = Writer::new(Cursor::new(Vec::with_capacity(256)));
        let mut out = XmlOut(&mut writer);
        out.decl();
        if self.verbs.is_empty() {
            out.empty(BytesStart::new("Response"));
        } else {
            out.start(BytesStart::new("Response"));
            for verb in &self.verbs {
                verb.write(&mut out);
            }
            out.end("Response");
        }
        // quick-xml writes only valid UTF-8 from &str input.
        String::from_utf8(writer.into_inner().into_inner()).unwrap_or_default()
    }
}

impl IntoResponse for Twiml {
    fn into_response(self) -> Response {
        let mut response = self.to_xml().into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(TWIML_CONTENT_TYPE));
        response
    }
}

/// A thin wrapper that writes events to an in-memory buffer. Writing to a `Vec` cannot fail, so
/// the results are discarded here once instead of at every call site.
pub(crate) struct XmlOut<'a>(&'a mut Writer<Cursor<Vec<u8>>>);

impl XmlOut<'_> {
    fn decl(&mut self) {
        let _ = self.0.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    }
    pub(crate) fn start(&mut self, element: BytesStart<'_>) {
        let _ = self.0.write_event(Event::Start(element));
    }
    pub(crate) fn end(&mut self, name: &str) {
        let _ = self.0.write_event(Event::End(BytesEnd::new(name)));
    }
    pub(crate) fn empty(&mut self, element: BytesStart<'_>) {
        let _ = self.0.write_event(Event::Empty(element));
    }
    pub(crate) fn text(&mut self, text: &str) {
        let _ = self.0.write_event(Event::Text(BytesText::new(text)));
    }
    /// `<name attrs>text</name>`, or `<name attrs/>` when the text is empty.
    pub(crate) fn element(&mut self, element: BytesStart<'_>, text: &str) {
        if text.is_empty() {
            self.empty(element);
        } else {
            let name = element.name().as_ref().to_owned();
            self.start(element);
            self.text(text);
            self.end(&name);
        }
    }
}

#[cfg(test)]
mod tests;
