//! Why the machine refused an input. Nothing changes when it does.

use crate::call::CallStatus;
use crate::wire::ErrorCode;

/// A refused request. `Display` is a sentence for people; [`CallError::code`]
/// is the stable code sent on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No call has this session id.
    #[error("there is no call with session id {0}")]
    UnknownCall(String),
    /// The call already reached a final status.
    #[error("the call has already finished ({})", status_word(*.0))]
    Finished(CallStatus),
    /// The device's user is not a party to the call.
    #[error("you are not a party to this call")]
    NotAParty,
    /// The user is not a member of the group.
    #[error("you are not a member of group {0}")]
    NotAMember(String),
    /// The device is already in another call.
    #[error("this device is already in another call; end it first")]
    AlreadyInCall,
    /// A user tried to call themselves.
    #[error("you cannot call yourself")]
    CallingYourself,
    /// The request does not fit the call's state; the text says why.
    #[error("{0}")]
    InvalidState(String),
    /// The driver broke a rule of the machine (e.g. a reused session id).
    #[error("internal error: {0}")]
    Internal(String),
}

impl CallError {
    /// The wire code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            CallError::UnknownCall(_) => ErrorCode::UnknownCall,
            CallError::Finished(_) => ErrorCode::CallFinished,
            CallError::NotAParty => ErrorCode::NotAParty,
            CallError::NotAMember(_) => ErrorCode::NotAMember,
            CallError::AlreadyInCall => ErrorCode::AlreadyInCall,
            CallError::CallingYourself => ErrorCode::InvalidState,
            CallError::InvalidState(_) => ErrorCode::InvalidState,
            CallError::Internal(_) => ErrorCode::Internal,
        }
    }

    pub(crate) fn state(msg: impl Into<String>) -> Self {
        CallError::InvalidState(msg.into())
    }
}

fn status_word(status: CallStatus) -> &'static str {
    match status {
        CallStatus::Initiated => "still ringing",
        CallStatus::Ongoing => "ongoing",
        CallStatus::Rejected => "it was declined",
        CallStatus::Busy => "the callee was busy",
        CallStatus::Cancelled => "it was cancelled",
        CallStatus::Unanswered => "nobody answered",
        CallStatus::Ended => "it ended",
    }
}
