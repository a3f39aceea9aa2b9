//! Conferences: rooms joined by `<Dial><Conference>`, each with a `CF…` SID, its participants and
//! its status callbacks (`conference-start`, `participant-join`, `participant-leave`,
//! `conference-end`, `announcement-end`), updated through the REST API by SID only (a friendly
//! name gets Twilio's 404), ended when a participant with `endConferenceOnExit` leaves, the last
//! one leaves, or `Status=completed` is posted; `AnnounceUrl` is fetched (signed) and played.

use super::doc::Node;
use super::state::{Emulator, lock};

/// A conference.
#[derive(Debug, Clone)]
pub struct ConferenceRecord {
    /// `CF…`.
    pub sid: String,
    /// Its friendly name.
    pub name: String,
    /// `init`, `in-progress`, `completed`.
    pub status: String,
    /// Calls in the room, with whether their exit ends it.
    pub participants: Vec<(String, bool)>,
    /// Where its events go (from the first participant's TwiML).
    pub callback: Option<String>,
    /// Which events (`start end join leave announcement`).
    pub events: Vec<String>,
    /// The next `SequenceNumber`.
    pub sequence: u32,
}

/// The callback event named for a requested event word.
fn wanted(conference: &ConferenceRecord, event: &str) -> bool {
    let word = match event {
        "conference-start" => "start",
        "conference-end" => "end",
        "participant-join" => "join",
        "participant-leave" => "leave",
        "announcement-end" => "announcement",
        other => other,
    };
    conference.events.iter().any(|e| e == word)
}

/// Sends a conference status callback if it was requested.
async fn event(emu: &Emulator, sid: &str, name: &str, call: Option<&str>, extra: Vec<(String, String)>) {
    let (url, params) = {
        let mut conferences = lock(&emu.conferences);
        let Some(c) = conferences.iter_mut().find(|c| c.sid == sid) else { return };
        let Some(url) = c.callback.clone().filter(|_| wanted(c, name)) else { return };
        c.sequence += 1;
        let mut params = vec![
            ("ConferenceSid".to_owned(), c.sid.clone()),
            ("FriendlyName".to_owned(), c.name.clone()),
            ("AccountSid".to_owned(), emu.config.account_sid.clone()),
            ("StatusCallbackEvent".to_owned(), name.to_owned()),
            ("SequenceNumber".to_owned(), c.sequence.to_string()),
            ("Timestamp".to_owned(), emu.now_rfc2822()),
        ];
        params.extend(call.map(|call| ("CallSid".to_owned(), call.to_owned())));
        params.extend(extra);
        (url, params)
    };
    emu.webhook(&url, &params).await;
}

/// A call joins the room named by `noun` (created on first use); its SID.
pub async fn join(emu: &Emulator, call: &str, noun: &Node) -> String {
    let name = noun.text.trim().to_owned();
    let ends = noun.attr("endConferenceOnExit") == Some("true");
    let starts = noun.attr("startConferenceOnEnter") != Some("false");
    let (sid, started) = {
        let mut conferences = lock(&emu.conferences);
        let open = conferences.iter().position(|c| c.name == name && c.status != "completed");
        let index = open.unwrap_or_else(|| {
            conferences.push(ConferenceRecord {
                sid: emu.sid("CF"),
                name: name.clone(),
                status: "init".into(),
                participants: Vec::new(),
                callback: noun.attr("statusCallback").map(str::to_owned),
                events: noun
                    .attr("statusCallbackEvent")
                    .unwrap_or("")
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                sequence: 0,
            });
            conferences.len() - 1
        });
        let c = &mut conferences[index];
        c.participants.push((call.to_owned(), ends));
        let started = starts && c.status == "init";
        if started {
            c.status = "in-progress".into();
        }
        (c.sid.clone(), started)
    };
    emu.update_call(call, |c| c.conference = Some(sid.clone()));
    if started {
        event(emu, &sid, "conference-start", None, Vec::new()).await;
    }
    event(emu, &sid, "participant-join", Some(call), Vec::new()).await;
    sid
}

/// Whether `call` is still in conference `sid`.
pub fn present(emu: &Emulator, sid: &str, call: &str) -> bool {
    lock(&emu.conferences).iter().any(|c| c.sid == sid && c.participants.iter().any(|(p, _)| p == call))
}

/// `call` leaves (hung up); the conference ends when its exit ends it or nobody is left.
pub async fn leave(emu: &Emulator, sid: &str, call: &str) {
    let ends = {
        let mut conferences = lock(&emu.conferences);
        let Some(c) = conferences.iter_mut().find(|c| c.sid == sid) else { return };
        let Some(at) = c.participants.iter().position(|(p, _)| p == call) else { return };
        let (_, ends) = c.participants.remove(at);
        ends || c.participants.is_empty()
    };
    event(emu, sid, "participant-leave", Some(call), Vec::new()).await;
    if ends {
        end(emu, sid, "participant-with-end-conference-on-exit-left", Some(call)).await;
    }
}

/// Ends the conference: every participant leaves, then `conference-end`.
pub async fn end(emu: &Emulator, sid: &str, reason: &str, ending: Option<&str>) {
    let left = {
        let mut conferences = lock(&emu.conferences);
        let Some(c) = conferences.iter_mut().find(|c| c.sid == sid && c.status != "completed") else {
            return;
        };
        c.status = "completed".into();
        std::mem::take(&mut c.participants)
    };
    for (call, _) in &left {
        event(emu, sid, "participant-leave", Some(call), Vec::new()).await;
    }
    let mut extra = vec![("ReasonConferenceEnded".to_owned(), reason.to_owned())];
    extra.extend(ending.map(|c| ("CallSidEndingConference".to_owned(), c.to_owned())));
    event(emu, sid, "conference-end", None, extra).await;
}

/// The conference with this SID (never its friendly name).
pub fn by_sid(emu: &Emulator, sid: &str) -> Option<ConferenceRecord> {
    lock(&emu.conferences).iter().find(|c| c.sid == sid).cloned()
}

/// Plays an announcement: fetches `url` (signed, as Twilio does), plays it, then
/// `announcement-end`.
pub async fn announce(emu: &Emulator, sid: &str, url: &str) {
    let params = vec![
        ("AccountSid".to_owned(), emu.config.account_sid.clone()),
        ("ConferenceSid".to_owned(), sid.to_owned()),
    ];
    emu.webhook(url, &params).await;
    emu.clock.sleep(1.0).await;
    event(emu, sid, "announcement-end", None, Vec::new()).await;
}

/// The SID of the conference a REST path names: the conference with that SID, else the open one
/// with that friendly name (created, in progress, when there is none) — `Participants.json`
/// accepts either, as Twilio does. `call` is added as a participant.
pub fn ensure_with(emu: &Emulator, sid_or_name: &str, call: &str, ends: bool) -> String {
    let mut conferences = lock(&emu.conferences);
    let found = conferences
        .iter()
        .position(|c| c.sid == sid_or_name)
        .or_else(|| conferences.iter().position(|c| c.name == sid_or_name && c.status != "completed"));
    let index = found.unwrap_or_else(|| {
        conferences.push(ConferenceRecord {
            sid: emu.sid("CF"),
            name: sid_or_name.to_owned(),
            status: "in-progress".into(),
            participants: Vec::new(),
            callback: None,
            events: Vec::new(),
            sequence: 0,
        });
        conferences.len() - 1
    });
    conferences[index].participants.push((call.to_owned(), ends));
    conferences[index].sid.clone()
}
