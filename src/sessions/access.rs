//! Who may do what to which session (the roles): admin and monitor see every session of
//! their tenant, a superadmin any tenant's (naming it with `?tenant=`), a reader the sessions
//! assigned to its subject, a client those of its own subject. A role that may never take an
//! action gets 403 before anything is looked up; a session the key may not see is a 404.

use super::model::SessionRow;
use crate::auth::{Operator, Role};
use crate::error::ApiError;

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Book (admin).
    Schedule,
    /// Read and list (every role, within what it may see).
    Read,
    /// Cancel before the start (admin).
    Cancel,
    /// Start (reader, admin).
    Start,
    /// End as a party (client, reader).
    End,
    /// Drop as a monitor (monitor, admin).
    Drop,
}

impl Action {
    /// The roles that may ever take this action.
    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Action::Schedule | Action::Cancel => &[Superadmin, Admin],
            Action::Read => &[Superadmin, Admin, Monitor, Reader, Client],
            Action::Start => &[Superadmin, Admin, Reader],
            Action::End => &[Reader, Client],
            Action::Drop => &[Superadmin, Admin, Monitor],
        }
    }

    /// 403 unless the operator's role may ever take this action.
    pub fn allow(self, operator: &Operator) -> Result<(), ApiError> {
        if self.roles().contains(&operator.role) { Ok(()) } else { Err(ApiError::Forbidden) }
    }
}

/// Whether the operator may see this session (its tenant is already the operator's).
pub fn sees(operator: &Operator, session: &SessionRow) -> bool {
    let subject = operator.subject.as_deref();
    match operator.role {
        Role::Superadmin | Role::Admin | Role::Monitor => true,
        Role::Reader => subject == Some(session.reader_subject.as_str()),
        Role::Client => subject == Some(session.client_subject.as_str()),
    }
}

/// The subject filters a list applies for this operator: (client, reader).
pub fn list_scope(operator: &Operator) -> (Option<&str>, Option<&str>) {
    // A subject-scoped key without a subject sees nothing (never everything).
    let subject = || operator.subject.as_deref().or(Some(""));
    match operator.role {
        Role::Client => (subject(), None),
        Role::Reader => (None, subject()),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ending_is_for_the_parties_and_dropping_for_the_monitors() {
        assert!(Action::End.roles().contains(&Role::Client) && !Action::End.roles().contains(&Role::Admin));
        assert!(
            Action::Drop.roles().contains(&Role::Monitor) && !Action::Drop.roles().contains(&Role::Reader)
        );
        assert!(
            !Action::Start.roles().contains(&Role::Client) && !Action::Start.roles().contains(&Role::Monitor)
        );
        assert!(!Action::Schedule.roles().contains(&Role::Monitor));
    }
}
