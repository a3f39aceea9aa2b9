//! Each payload: a valid sample parses; each structurally broken field is named; genuine but
//! unusual values are accepted.

use super::*;

const CA: &str = "CA0123456789abcdef0123456789abcdef";
const AC: &str = "AC0123456789abcdef0123456789abcdef";
const SM: &str = "SM0123456789abcdef0123456789abcdef";
const RE: &str = "RE0123456789abcdef0123456789abcdef";

fn params(pairs: &[(&str, &str)]) -> FormParams {
    FormParams(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

fn voice(extra: &[(&str, &str)]) -> FormParams {
    let mut p = params(&[
        ("CallSid", CA),
        ("AccountSid", AC),
        ("From", "+12025550123"),
        ("To", "+12025550100"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ]);
    p.0.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    p
}

fn without(mut p: FormParams, name: &str) -> FormParams {
    p.0.retain(|(k, _)| k != name);
    p
}

fn fields(errors: Vec<crate::error::FieldError>) -> Vec<String> {
    errors.into_iter().map(|e| e.field).collect()
}

#[test]
fn a_voice_request_parses_with_unusual_values() {
    let request =
        VoiceRequest::parse(&voice(&[("FromCity", "WASHINGTON"), ("NewParam", "x")])).expect("valid");
    assert_eq!(request.call_status, CallStatus::Ringing);
    assert_eq!(request.from.number().map(|n| n.as_str()), Some("+12025550123"));
    let mut p = voice(&[]);
    p.0[2].1 = "anonymous".into();
    p.0[4].1 = "brand-new-status".into();
    let request = VoiceRequest::parse(&p).expect("valid");
    assert_eq!(request.from, Address::Anonymous);
    assert_eq!(request.call_status, CallStatus::Other("brand-new-status".into()));
}

#[test]
fn broken_voice_fields_are_named() {
    assert_eq!(
        fields(VoiceRequest::parse(&without(voice(&[]), "CallSid")).expect_err("broken")),
        ["CallSid"]
    );
    let mut p = voice(&[]);
    p.0[0].1 = "CA123".into();
    p.0[1].1 = "XX0123456789abcdef0123456789abcdef".into();
    assert_eq!(fields(VoiceRequest::parse(&p).expect_err("broken")), ["CallSid", "AccountSid"]);
    assert_eq!(fields(VoiceRequest::parse(&without(voice(&[]), "From")).expect_err("broken")), ["From"]);
}

#[test]
fn a_status_callback_parses_and_keys_by_sequence() {
    let p = voice(&[("CallDuration", "42"), ("SequenceNumber", "3"), ("AnsweredBy", "machine_start")]);
    let callback = CallStatusCallback::parse(&p).expect("valid");
    assert_eq!(callback.call_duration, Some(42));
    assert_eq!(callback.answered_by, Some(AnsweredBy::MachineStart));
    assert_eq!(callback.natural_key(), Some(format!("{CA}:seq:3")));
    let broken = voice(&[("CallDuration", "forty")]);
    assert_eq!(fields(CallStatusCallback::parse(&broken).expect_err("broken")), ["CallDuration"]);
}

#[test]
fn a_dial_result_parses() {
    let p = voice(&[("DialCallStatus", "no-answer"), ("DialCallSid", CA), ("DialCallDuration", "0")]);
    let result = DialResult::parse(&p).expect("valid");
    assert_eq!(result.dial_call_status, DialCallStatus::NoAnswer);
    assert_eq!(fields(DialResult::parse(&voice(&[])).expect_err("broken")), ["DialCallStatus"]);
    let bad_leg = voice(&[("DialCallStatus", "completed"), ("DialCallSid", "nope")]);
    assert_eq!(fields(DialResult::parse(&bad_leg).expect_err("broken")), ["DialCallSid"]);
}

#[test]
fn a_gather_result_parses_and_rejects_non_keys() {
    let result = GatherResult::parse(&voice(&[("Digits", "6")])).expect("valid");
    assert_eq!(result.digits.as_deref(), Some("6"));
    assert_eq!(GatherResult::parse(&voice(&[])).expect("no input").digits, None);
    assert_eq!(
        fields(GatherResult::parse(&voice(&[("Digits", "6; DROP")])).expect_err("broken")),
        ["Digits"]
    );
}

#[test]
fn a_recording_status_parses() {
    let p = params(&[
        ("RecordingSid", RE),
        ("AccountSid", AC),
        ("CallSid", CA),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "12"),
        ("RecordingUrl", "https://api.twilio.com/x"),
    ]);
    let status = RecordingStatusCallback::parse(&p).expect("valid");
    assert_eq!(status.recording_status, RecordingStatus::Completed);
    assert_eq!(status.natural_key(), Some(format!("{RE}:completed")));
    assert_eq!(
        fields(RecordingStatusCallback::parse(&without(p, "RecordingSid")).expect_err("broken")),
        ["RecordingSid"]
    );
}

fn sms(extra: &[(&str, &str)]) -> FormParams {
    let mut p = params(&[
        ("MessageSid", SM),
        ("AccountSid", AC),
        ("From", "+12025550123"),
        ("To", "+12025550100"),
        ("Body", "Hello\u{0007} there\nsecond line"),
        ("NumMedia", "0"),
    ]);
    p.0.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    p
}

#[test]
fn an_inbound_sms_parses_with_media_and_unusual_senders() {
    let sms_in = InboundSms::parse(&sms(&[])).expect("valid");
    assert_eq!(sms_in.body, "Hello there\nsecond line");
    let mut p = sms(&[("MediaUrl0", "https://m/0"), ("MediaContentType0", "image/jpeg")]);
    p.0[5].1 = "1".into();
    p.0[2].1 = "ACME".into();
    let sms_in = InboundSms::parse(&p).expect("valid");
    assert_eq!(sms_in.media.len(), 1);
    assert_eq!(sms_in.from, Address::Alphanumeric("ACME".into()));
    let mut short = sms(&[]);
    short.0[2].1 = "72345".into();
    assert_eq!(InboundSms::parse(&short).expect("valid").from, Address::ShortCode("72345".into()));
}

#[test]
fn broken_sms_fields_are_named() {
    let mut long = sms(&[]);
    long.0[4].1 = "x".repeat(1601);
    assert_eq!(fields(InboundSms::parse(&long).expect_err("broken")), ["Body"]);
    let mut exactly = sms(&[]);
    exactly.0[4].1 = "é".repeat(1600);
    assert!(InboundSms::parse(&exactly).is_ok(), "1600 characters are allowed, whatever their bytes");
    let mut inconsistent = sms(&[("MediaUrl0", "https://m/0")]);
    inconsistent.0[5].1 = "2".into();
    assert_eq!(fields(InboundSms::parse(&inconsistent).expect_err("broken")), ["NumMedia"]);
    let extra = sms(&[("MediaUrl0", "https://m/0")]);
    assert_eq!(fields(InboundSms::parse(&extra).expect_err("broken")), ["NumMedia"]);
    let legacy = without(sms(&[("SmsSid", SM)]), "MessageSid");
    assert!(InboundSms::parse(&legacy).is_ok());
}

#[test]
fn a_message_status_parses_with_unknown_status() {
    let p = params(&[
        ("MessageSid", SM),
        ("AccountSid", AC),
        ("MessageStatus", "failed"),
        ("ErrorCode", "21610"),
    ]);
    let status = MessageStatusCallback::parse(&p).expect("valid");
    assert_eq!(status.error_code, Some(21610));
    assert_eq!(status.natural_key(), Some(format!("{SM}:failed")));
    let novel = params(&[("MessageSid", SM), ("AccountSid", AC), ("MessageStatus", "teleported")]);
    assert!(MessageStatusCallback::parse(&novel).is_ok());
    let missing = params(&[("MessageSid", SM), ("AccountSid", AC)]);
    assert_eq!(fields(MessageStatusCallback::parse(&missing).expect_err("broken")), ["MessageStatus"]);
}
