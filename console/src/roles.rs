//! Roles and what they allow. A [`Principal`] is who is acting: a local account today;
//! an OpenID Connect or LTI login produces the same value, so every rule is checked here
//! whatever the way in.
//!
//! - `admin`: everything (events, keys, recordings, accounts).
//! - `lecturer` of given events: sees and edits those events (title, schedule, privacy,
//!   key, recordings); cannot create or delete events.
//! - `moderator`: sees every event (no secrets) and moderates their Q&A.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One role of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "role", deny_unknown_fields)]
pub enum Role {
    Admin,
    Moderator,
    Lecturer { events: Vec<String> },
}

/// A role as written on the command line: `admin`, `moderator`, `lecturer:ev1,ev2`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role {given:?}: expected admin, moderator or lecturer:EVENT[,EVENT…]")]
pub struct InvalidRole {
    pub given: String,
}

impl std::str::FromStr for Role {
    type Err = InvalidRole;

    fn from_str(s: &str) -> Result<Role, InvalidRole> {
        let invalid = || InvalidRole {
            given: s.to_owned(),
        };
        match s.split_once(':') {
            None if s == "admin" => Ok(Role::Admin),
            None if s == "moderator" => Ok(Role::Moderator),
            Some(("lecturer", list)) => {
                let events: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(str::to_owned)
                    .collect();
                if events.is_empty() || events.iter().any(|e| !valid_event_id(e)) {
                    return Err(invalid());
                }
                Ok(Role::Lecturer { events })
            }
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Admin => f.write_str("admin"),
            Role::Moderator => f.write_str("moderator"),
            Role::Lecturer { events } => write!(f, "lecturer:{}", events.join(",")),
        }
    }
}

/// Event ids as the rest of Amphi accepts them: 1 to 64 of `a-z 0-9 - _`.
fn valid_event_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// What a request wants to do, checked against the roles of its [`Principal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Create or delete events, manage accounts.
    ManageEvents,
    /// See an event in the list (no secrets).
    ViewEvent(&'a str),
    /// Edit an event, reveal or rotate its key, end it, manage its recordings.
    EditEvent(&'a str),
    /// Moderate an event's Q&A.
    Moderate(&'a str),
}

/// Who is acting, and with which roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub user: String,
    pub roles: Vec<Role>,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
    }

    fn lectures(&self, event: &str) -> bool {
        self.roles
            .iter()
            .any(|r| matches!(r, Role::Lecturer { events } if events.iter().any(|e| e == event)))
    }

    /// Whether any of the principal's roles allows `action`.
    pub fn may(&self, action: Action<'_>) -> bool {
        if self.is_admin() {
            return true;
        }
        let moderator = self.roles.contains(&Role::Moderator);
        match action {
            Action::ManageEvents => false,
            Action::ViewEvent(e) => moderator || self.lectures(e),
            Action::EditEvent(e) => self.lectures(e),
            Action::Moderate(e) => moderator || self.lectures(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[&str]) -> Principal {
        Principal {
            user: "u".into(),
            roles: roles.iter().map(|r| r.parse().expect("role")).collect(),
        }
    }

    #[test]
    fn parses_and_prints_roles() {
        for s in [
            "admin",
            "moderator",
            "lecturer:cs101",
            "lecturer:cs101,phys-2",
        ] {
            assert_eq!(s.parse::<Role>().expect(s).to_string(), s);
        }
        for bad in [
            "",
            "root",
            "lecturer",
            "lecturer:",
            "lecturer:Bad Id",
            "admin:x",
        ] {
            assert!(bad.parse::<Role>().is_err(), "{bad}");
        }
    }

    #[test]
    fn each_role_allows_its_own() {
        let admin = principal(&["admin"]);
        let lecturer = principal(&["lecturer:cs101"]);
        let moderator = principal(&["moderator"]);
        let nobody = principal(&[]);
        assert!(admin.may(Action::ManageEvents));
        assert!(admin.may(Action::EditEvent("any")));
        assert!(!lecturer.may(Action::ManageEvents));
        assert!(lecturer.may(Action::EditEvent("cs101")));
        assert!(!lecturer.may(Action::EditEvent("cs102")));
        assert!(!lecturer.may(Action::ViewEvent("cs102")));
        assert!(lecturer.may(Action::Moderate("cs101")));
        assert!(moderator.may(Action::ViewEvent("cs102")));
        assert!(moderator.may(Action::Moderate("cs102")));
        assert!(!moderator.may(Action::EditEvent("cs102")));
        assert!(!moderator.may(Action::ManageEvents));
        for a in [
            Action::ManageEvents,
            Action::ViewEvent("x"),
            Action::EditEvent("x"),
            Action::Moderate("x"),
        ] {
            assert!(!nobody.may(a), "{a:?}");
        }
    }
}
