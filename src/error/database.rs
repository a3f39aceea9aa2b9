//! Which database errors are the caller's fault. PostgreSQL's class 22 ("data exception":
//! invalid byte sequence, invalid text representation, numeric value out of range, string too
//! long, …) means a value the request carried could not be stored or compared; the edge should
//! have refused it, and where it did not, the client still gets a 422, never a 500. A database
//! that cannot be reached (down, restarting, partitioned) is a 503 the client may retry.

use super::{ApiError, FieldError};

/// The field named when the database, not the edge, refused a value.
pub const DATABASE_FIELD: &str = "request";

/// Converts a database error: a data exception becomes a 422 (logged as a warning with its
/// SQLSTATE only; the message may quote the value), anything else stays an internal error.
pub fn from_sqlx(error: sqlx::Error) -> ApiError {
    let code = match &error {
        sqlx::Error::Database(db) => db.code().map(|code| code.into_owned()),
        _ => None,
    };
    match code.as_deref().and_then(caller_fault) {
        Some(message) => {
            tracing::warn!(db.sqlstate = code.as_deref(), "the database refused a value of the request");
            ApiError::Validation(vec![FieldError::new(DATABASE_FIELD, message)])
        }
        None if is_unavailable(&error) => {
            tracing::warn!(error = %super::error_chain(&error), "the database cannot be reached");
            ApiError::Unavailable("the database cannot be reached; retry shortly".into())
        }
        None => ApiError::Database(error),
    }
}

/// Whether `error` means the database could not be reached (retrying later can succeed), rather
/// than that it refused the statement.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // Class 08 (connection exception), 57P01–57P03 (shutdown, cannot connect now), 53300,
        // 25006 (read-only transaction: a connection still on a primary that a failover
        // demoted; the pool replaces it, docs/scaling.md), and class 40 (a deadlock or a
        // serialization failure rolled the transaction back: the same work retried succeeds —
        // a status callback answered 503 for it would be lost, Twilio does not retry those).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("57P")
                || code.starts_with("40")
                || code == "53300"
                || code == "25006"
        }),
        _ => false,
    }
}

/// For a SQLSTATE that is the caller's fault, what to tell them.
pub fn caller_fault(sqlstate: &str) -> Option<&'static str> {
    let message = match sqlstate {
        "22021" | "22P05" => "contains a character that cannot be stored",
        "22P02" => "contains a value of the wrong form",
        "22003" => "contains a number out of range",
        "22001" => "contains a value that is too long",
        "22007" | "22008" => "contains a date or time out of range",
        class_22 if class_22.len() == 5 && class_22.starts_with("22") => {
            "contains a value that cannot be used"
        }
        _ => return None,
    };
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_exceptions_are_the_callers_fault() {
        for code in ["22021", "22P02", "22003", "22001", "22P05", "22008", "22012"] {
            assert!(caller_fault(code).is_some(), "{code}");
        }
    }

    #[test]
    fn other_database_errors_are_not_the_callers_fault() {
        for code in ["23505", "40001", "42P01", "53300", "57014", "08006", "2200", ""] {
            assert!(caller_fault(code).is_none(), "{code}");
        }
    }

    /// A database error carrying only a SQLSTATE.
    #[derive(Debug, thiserror::Error)]
    #[error("SQLSTATE {0}")]
    struct State(&'static str);

    impl sqlx::error::DatabaseError for State {
        fn message(&self) -> &str {
            self.0
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    #[test]
    fn a_deadlock_or_a_serialization_failure_is_worth_retrying_and_a_refusal_is_not() {
        for code in ["40P01", "40001", "08006", "57P01", "53300", "25006"] {
            assert!(is_unavailable(&sqlx::Error::Database(Box::new(State(code)))), "{code}");
        }
        for code in ["23505", "22P02", "42P01", "42501"] {
            assert!(!is_unavailable(&sqlx::Error::Database(Box::new(State(code)))), "{code}");
        }
    }

    #[test]
    fn an_error_without_a_sqlstate_stays_internal() {
        assert!(matches!(from_sqlx(sqlx::Error::PoolTimedOut), ApiError::Unavailable(_)));
        assert!(matches!(from_sqlx(sqlx::Error::RowNotFound), ApiError::Database(_)));
    }
}
