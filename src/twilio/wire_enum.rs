//! Enums for Twilio's fixed string values, each with a catch-all variant: Twilio adds values
//! without notice, and a genuine webhook with a new status must not be refused.

/// Declares an enum with known wire values and an `Other(String)` catch-all.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
            /// A value this version does not know, kept (see `parse`).
            Other(String),
        }

        impl $name {
            /// Every wire value this version knows, in declaration order.
            pub const KNOWN: &'static [&'static str] = &[$($wire),+];

            /// Classifies a wire value; never fails. An unknown value is kept without control
            /// characters (never part of a genuine one; PostgreSQL cannot store a NUL) and cut at
            /// 64 characters.
            pub fn parse(value: &str) -> Self {
                match value {
                    $($wire => $name::$variant,)+
                    other => $name::Other(other.chars().filter(|c| !c.is_control()).take(64).collect()),
                }
            }

            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Other(other) => other,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Ok($name::parse(&value))
            }
        }
    };
}

wire_enum!(
    /// A call's status (`CallStatus`).
    CallStatus {
        /// Created, waiting to be dialled.
        Queued => "queued",
        /// Status callbacks only: the call was created.
        Initiated => "initiated",
        /// Ringing.
        Ringing => "ringing",
        /// Answered.
        InProgress => "in-progress",
        /// Ended normally.
        Completed => "completed",
        /// The callee was busy.
        Busy => "busy",
        /// The call could not be placed.
        Failed => "failed",
        /// Nobody answered.
        NoAnswer => "no-answer",
        /// Cancelled while queued or ringing.
        Canceled => "canceled",
    }
);

impl CallStatus {
    /// Whether the call has ended (no later status can follow).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Busy | Self::Failed | Self::NoAnswer | Self::Canceled)
    }
}

wire_enum!(
    /// A call's direction (`Direction`).
    Direction {
        /// Into a Twilio number.
        Inbound => "inbound",
        /// Created through the REST API.
        OutboundApi => "outbound-api",
        /// A `<Dial>` leg.
        OutboundDial => "outbound-dial",
        /// SIP trunking, terminating.
        TrunkingTerminating => "trunking-terminating",
        /// SIP trunking, originating.
        TrunkingOriginating => "trunking-originating",
    }
);

wire_enum!(
    /// The outcome of a `<Dial>` (`DialCallStatus`).
    DialCallStatus {
        /// The dialled party answered and the call ended normally.
        Completed => "completed",
        /// The dialled party answered.
        Answered => "answered",
        /// Busy.
        Busy => "busy",
        /// No answer within the timeout.
        NoAnswer => "no-answer",
        /// Could not be placed.
        Failed => "failed",
        /// The caller hung up first.
        Canceled => "canceled",
    }
);

wire_enum!(
    /// A message's status (`MessageStatus`, `SmsStatus`).
    MessageStatus {
        /// Accepted by a messaging service.
        Accepted => "accepted",
        /// Scheduled for later.
        Scheduled => "scheduled",
        /// Queued to be sent.
        Queued => "queued",
        /// Being sent.
        Sending => "sending",
        /// Handed to the carrier.
        Sent => "sent",
        /// Confirmed delivered.
        Delivered => "delivered",
        /// The carrier could not deliver it.
        Undelivered => "undelivered",
        /// Could not be sent.
        Failed => "failed",
        /// Read (some channels).
        Read => "read",
        /// Cancelled before sending.
        Canceled => "canceled",
        /// Inbound: received.
        Received => "received",
        /// Inbound: being received.
        Receiving => "receiving",
    }
);

impl MessageStatus {
    /// Precedence for out-of-order callbacks (TWILIO.md): a later stage never yields to an
    /// earlier one; terminal states rank highest.
    pub fn rank(&self) -> u8 {
        match self {
            Self::Accepted | Self::Scheduled => 1,
            Self::Queued => 2,
            Self::Sending => 3,
            Self::Sent | Self::Receiving => 4,
            Self::Received => 5,
            Self::Delivered | Self::Undelivered | Self::Failed | Self::Canceled => 6,
            Self::Read => 7,
            Self::Other(_) => 0,
        }
    }
}

wire_enum!(
    /// A recording's status (`RecordingStatus`).
    RecordingStatus {
        /// Recording.
        InProgress => "in-progress",
        /// Paused.
        Paused => "paused",
        /// Stopped.
        Stopped => "stopped",
        /// Finished and available.
        Completed => "completed",
        /// Nothing was recorded.
        Absent => "absent",
        /// Failed.
        Failed => "failed",
    }
);

wire_enum!(
    /// Answering machine detection's verdict (`AnsweredBy`).
    AnsweredBy {
        /// A person.
        Human => "human",
        /// A machine, greeting still playing.
        MachineStart => "machine_start",
        /// A machine, after the beep.
        MachineEndBeep => "machine_end_beep",
        /// A machine, after silence.
        MachineEndSilence => "machine_end_silence",
        /// A machine, other ending.
        MachineEndOther => "machine_end_other",
        /// A fax.
        Fax => "fax",
        /// Undetermined.
        Unknown => "unknown",
    }
);
