//! The verbs and nouns. Fields are public and default to "not set" (Twilio's own default), so a
//! verb reads as a struct literal: `Gather { action: Some(url), num_digits: Some(1), ..Default::default() }`.

use super::XmlOut;
use quick_xml::events::BytesStart;

fn element<'a>(name: &'a str, attrs: &[(&str, Option<String>)]) -> BytesStart<'a> {
    let mut start = BytesStart::new(name);
    for (key, value) in attrs {
        if let Some(value) = value {
            start.push_attribute((*key, value.as_str()));
        }
    }
    start
}

fn num(n: Option<u32>) -> Option<String> {
    n.map(|n| n.to_string())
}

fn flag(b: Option<bool>) -> Option<String> {
    b.map(|b| b.to_string())
}

fn list<T: AsRef<str>>(values: &[T]) -> Option<String> {
    (!values.is_empty()).then(|| values.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" "))
}

/// The HTTP method Twilio uses for a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST (Twilio's default for most callbacks).
    Post,
}

impl Method {
    fn wire(self) -> Option<String> {
        Some(match self {
            Method::Get => "GET".into(),
            Method::Post => "POST".into(),
        })
    }
}

/// A TwiML verb.
#[derive(Debug, Clone, PartialEq)]
pub enum Verb {
    /// `<Say>`.
    Say(Say),
    /// `<Play>` a URL.
    Play(String),
    /// `<Pause length>` in seconds.
    Pause(u32),
    /// `<Gather>`.
    Gather(Gather),
    /// `<Dial>`.
    Dial(Dial),
    /// `<Record>`.
    Record(Record),
    /// `<Redirect>` to a URL.
    Redirect {
        /// Where to fetch TwiML next.
        url: String,
        /// How.
        method: Option<Method>,
    },
    /// `<Hangup/>`.
    Hangup,
    /// `<Reject>` an inbound call without answering it.
    Reject(Option<RejectReason>),
    /// `<Message>` (messaging TwiML).
    Message(Message),
}

impl Verb {
    pub(super) fn write(&self, out: &mut XmlOut<'_>) {
        match self {
            Verb::Say(say) => say.write(out),
            Verb::Play(url) => out.element(element("Play", &[]), url),
            Verb::Pause(length) => out.empty(element("Pause", &[("length", Some(length.to_string()))])),
            Verb::Gather(gather) => gather.write(out),
            Verb::Dial(dial) => dial.write(out),
            Verb::Record(record) => record.write(out),
            Verb::Redirect { url, method } => {
                out.element(element("Redirect", &[("method", method.and_then(Method::wire))]), url)
            }
            Verb::Hangup => out.empty(element("Hangup", &[])),
            Verb::Reject(reason) => {
                out.empty(element("Reject", &[("reason", reason.map(|r| r.as_str().to_owned()))]))
            }
            Verb::Message(message) => message.write(out),
        }
    }
}

/// `<Say>`: text read to the caller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Say {
    /// What to say.
    pub text: String,
    /// A voice (`alice`, `Polly.Joanna`, …).
    pub voice: Option<String>,
    /// A language tag (`en-US`).
    pub language: Option<String>,
    /// How many times to repeat (0 = until hang-up).
    pub loop_count: Option<u32>,
}

impl Say {
    /// Text in the default voice.
    pub fn new(text: impl Into<String>) -> Self {
        Say { text: text.into(), ..Say::default() }
    }

    fn write(&self, out: &mut XmlOut<'_>) {
        let attrs = [
            ("language", self.language.clone()),
            ("loop", num(self.loop_count)),
            ("voice", self.voice.clone()),
        ];
        out.element(element("Say", &attrs), &self.text);
    }
}

impl From<Say> for Verb {
    fn from(say: Say) -> Verb {
        Verb::Say(say)
    }
}

/// What `<Gather>` listens for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatherInput {
    /// Keypad.
    Dtmf,
    /// Speech.
    Speech,
}

/// `<Gather>`: collect digits or speech, then POST them to `action`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gather {
    /// Where the result goes (always set it).
    pub action: Option<String>,
    /// How.
    pub method: Option<Method>,
    /// What to listen for (Twilio's default: dtmf).
    pub input: Vec<GatherInput>,
    /// Stop after this many digits.
    pub num_digits: Option<u32>,
    /// Seconds of silence before giving up (Twilio's default: 5).
    pub timeout: Option<u32>,
    /// The key that ends input (Twilio's default: `#`).
    pub finish_on_key: Option<String>,
    /// Prompts played while listening: `Say`, `Play` and `Pause` only.
    pub prompts: Vec<Verb>,
}

impl Gather {
    fn write(&self, out: &mut XmlOut<'_>) {
        let input: Vec<&str> = self
            .input
            .iter()
            .map(|i| match i {
                GatherInput::Dtmf => "dtmf",
                GatherInput::Speech => "speech",
            })
            .collect();
        let attrs = [
            ("action", self.action.clone()),
            ("finishOnKey", self.finish_on_key.clone()),
            ("input", list(&input)),
            ("method", self.method.and_then(Method::wire)),
            ("numDigits", num(self.num_digits)),
            ("timeout", num(self.timeout)),
        ];
        write_container(out, element("Gather", &attrs), "Gather", &self.prompts);
    }
}

impl From<Gather> for Verb {
    fn from(gather: Gather) -> Verb {
        Verb::Gather(gather)
    }
}

fn write_container(out: &mut XmlOut<'_>, start: BytesStart<'_>, name: &str, children: &[Verb]) {
    if children.is_empty() {
        out.empty(start);
    } else {
        out.start(start);
        for child in children {
            child.write(out);
        }
        out.end(name);
    }
}

/// `<Dial>`: connect the caller to numbers or a conference.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dial {
    /// Where the result (`DialCallStatus`…) goes; verbs after `<Dial>` never run when set.
    pub action: Option<String>,
    /// How.
    pub method: Option<Method>,
    /// Seconds to ring (5–600; Twilio's default 30).
    pub timeout: Option<u32>,
    /// The caller id shown to the dialled party.
    pub caller_id: Option<String>,
    /// `record-from-answer`, `record-from-ringing`, … (Twilio's values).
    pub record: Option<String>,
    /// Longest call in seconds.
    pub time_limit: Option<u32>,
    /// Keep the caller hearing ringback until the dialled party answers.
    pub answer_on_bridge: Option<bool>,
    /// Whom to dial.
    pub targets: Vec<DialTarget>,
}

impl Dial {
    fn write(&self, out: &mut XmlOut<'_>) {
        let attrs = [
            ("action", self.action.clone()),
            ("answerOnBridge", flag(self.answer_on_bridge)),
            ("callerId", self.caller_id.clone()),
            ("method", self.method.and_then(Method::wire)),
            ("record", self.record.clone()),
            ("timeLimit", num(self.time_limit)),
            ("timeout", num(self.timeout)),
        ];
        out.start(element("Dial", &attrs));
        for target in &self.targets {
            target.write(out);
        }
        out.end("Dial");
    }
}

impl From<Dial> for Verb {
    fn from(dial: Dial) -> Verb {
        Verb::Dial(dial)
    }
}

/// A noun of `<Dial>`.
#[derive(Debug, Clone, PartialEq)]
pub enum DialTarget {
    /// `<Number>`.
    Number(Number),
    /// `<Conference>`.
    Conference(Conference),
}

impl DialTarget {
    fn write(&self, out: &mut XmlOut<'_>) {
        match self {
            DialTarget::Number(n) => n.write(out),
            DialTarget::Conference(c) => c.write(out),
        }
    }
}

/// `<Number>`: a phone number to dial.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Number {
    /// The number (E.164).
    pub number: String,
    /// TwiML run on the dialled party's leg before bridging (call screening).
    pub url: Option<String>,
    /// How to fetch `url`.
    pub method: Option<Method>,
    /// Status callbacks of the dialled leg.
    pub status_callback: Option<String>,
    /// Which events (`initiated ringing answered completed`).
    pub status_callback_event: Vec<String>,
}

impl Number {
    fn write(&self, out: &mut XmlOut<'_>) {
        let attrs = [
            ("method", self.method.and_then(Method::wire)),
            ("statusCallback", self.status_callback.clone()),
            ("statusCallbackEvent", list(&self.status_callback_event)),
            ("url", self.url.clone()),
        ];
        out.element(element("Number", &attrs), &self.number);
    }
}

/// `<Conference>`: a named room.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conference {
    /// The room's name.
    pub name: String,
    /// Whether this participant's arrival starts the conference.
    pub start_conference_on_enter: Option<bool>,
    /// Whether this participant's exit ends it.
    pub end_conference_on_exit: Option<bool>,
    /// `record-from-start` or `do-not-record`.
    pub record: Option<String>,
    /// `true`, `false`, `onEnter`, `onExit`.
    pub beep: Option<String>,
    /// Conference status callbacks.
    pub status_callback: Option<String>,
    /// Which events (`start end join leave mute hold`…).
    pub status_callback_event: Vec<String>,
}

impl Conference {
    fn write(&self, out: &mut XmlOut<'_>) {
        let attrs = [
            ("beep", self.beep.clone()),
            ("endConferenceOnExit", flag(self.end_conference_on_exit)),
            ("record", self.record.clone()),
            ("startConferenceOnEnter", flag(self.start_conference_on_enter)),
            ("statusCallback", self.status_callback.clone()),
            ("statusCallbackEvent", list(&self.status_callback_event)),
        ];
        out.element(element("Conference", &attrs), &self.name);
    }
}

/// `<Record>`: record the caller (voicemail).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// Where the result goes.
    pub action: Option<String>,
    /// How.
    pub method: Option<Method>,
    /// Longest recording in seconds.
    pub max_length: Option<u32>,
    /// Whether to beep first.
    pub play_beep: Option<bool>,
    /// Seconds of silence that end the recording.
    pub timeout: Option<u32>,
    /// Keys that end the recording.
    pub finish_on_key: Option<String>,
    /// Recording status callbacks.
    pub recording_status_callback: Option<String>,
}

impl Record {
    fn write(&self, out: &mut XmlOut<'_>) {
        let attrs = [
            ("action", self.action.clone()),
            ("finishOnKey", self.finish_on_key.clone()),
            ("maxLength", num(self.max_length)),
            ("method", self.method.and_then(Method::wire)),
            ("playBeep", flag(self.play_beep)),
            ("recordingStatusCallback", self.recording_status_callback.clone()),
            ("timeout", num(self.timeout)),
        ];
        out.empty(element("Record", &attrs));
    }
}

impl From<Record> for Verb {
    fn from(record: Record) -> Verb {
        Verb::Record(record)
    }
}

/// Why a call is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// A busy signal.
    Busy,
    /// "Not in service" (Twilio's default).
    Rejected,
}

impl RejectReason {
    fn as_str(self) -> &'static str {
        match self {
            RejectReason::Busy => "busy",
            RejectReason::Rejected => "rejected",
        }
    }
}

/// `<Message>`: a reply to an inbound message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    /// The text.
    pub body: String,
    /// Media URLs; when present the text goes in `<Body>` and each URL in `<Media>`.
    pub media: Vec<String>,
}

impl Message {
    /// A text-only reply.
    pub fn text(body: impl Into<String>) -> Self {
        Message { body: body.into(), media: Vec::new() }
    }

    fn write(&self, out: &mut XmlOut<'_>) {
        if self.media.is_empty() {
            out.element(element("Message", &[]), &self.body);
            return;
        }
        out.start(element("Message", &[]));
        if !self.body.is_empty() {
            out.element(element("Body", &[]), &self.body);
        }
        for url in &self.media {
            out.element(element("Media", &[]), url);
        }
        out.end("Message");
    }
}

impl From<Message> for Verb {
    fn from(message: Message) -> Verb {
        Verb::Message(message)
    }
}
