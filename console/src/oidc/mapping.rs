//! From the provider's claims to console roles.
//!
//! The configured role claim (default `groups`; `eduPersonEntitlement` in most
//! academic federations) holds a string or a list of strings. Each value gives roles:
//! - a value listed as an admin, moderator or lecturer group gives that role;
//! - a value starting with the role prefix (default `amphi:`) names the role itself:
//!   `amphi:admin`, `amphi:moderator`, `amphi:lecturer:cs101,cs102` (so an entitlement
//!   `urn:mace:example.edu:amphi:admin` works with that prefix).
//!
//! A user no value maps gets no role, and so no session.

use super::config::OidcConfig;
use crate::roles::Role;
use serde_json::{Map, Value};

/// Most values of the role claim looked at.
pub const MAX_VALUES: usize = 1000;

/// The roles `claims` give under `config`, without duplicates, merged per kind
/// (one lecturer role listing every event).
pub fn roles(config: &OidcConfig, claims: &Map<String, Value>) -> Vec<Role> {
    let values: Vec<&str> = match claims.get(&config.role_claim) {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list
            .iter()
            .take(MAX_VALUES)
            .filter_map(Value::as_str)
            .collect(),
        _ => Vec::new(),
    };
    let (mut admin, mut moderator) = (false, false);
    let mut events: Vec<String> = Vec::new();
    for v in values {
        admin |= config.admin_groups.iter().any(|g| g == v);
        moderator |= config.moderator_groups.iter().any(|g| g == v);
        if let Some(list) = config.lecturer_groups.get(v) {
            events.extend(list.iter().cloned());
        }
        let direct = (!config.role_prefix.is_empty())
            .then(|| v.strip_prefix(config.role_prefix.as_str()))
            .flatten()
            .and_then(|r| r.parse::<Role>().ok());
        match direct {
            Some(Role::Admin) => admin = true,
            Some(Role::Moderator) => moderator = true,
            Some(Role::Lecturer { events: e }) => events.extend(e),
            None => {}
        }
    }
    let mut roles = Vec::new();
    if admin {
        roles.push(Role::Admin);
    }
    if moderator {
        roles.push(Role::Moderator);
    }
    events.sort();
    events.dedup();
    if !events.is_empty() {
        roles.push(Role::Lecturer { events });
    }
    roles
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> OidcConfig {
        let mut c = OidcConfig::new("https://idp.example.edu", "amphi", "/s".into());
        c.admin_groups = vec!["it-video".into()];
        c.moderator_groups = vec!["ta".into()];
        c.lecturer_groups
            .insert("physics".into(), vec!["phys-1".into(), "phys-2".into()]);
        c
    }

    fn claims(v: Value) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("groups".into(), v);
        m
    }

    #[test]
    fn groups_and_prefixed_values_give_roles() {
        let c = config();
        assert_eq!(
            roles(&c, &claims(json!(["it-video", "students"]))),
            vec![Role::Admin]
        );
        assert_eq!(roles(&c, &claims(json!("ta"))), vec![Role::Moderator]);
        assert_eq!(
            roles(
                &c,
                &claims(json!([
                    "physics",
                    "amphi:lecturer:cs101,phys-1",
                    "amphi:moderator"
                ]))
            ),
            vec![
                Role::Moderator,
                Role::Lecturer {
                    events: vec!["cs101".into(), "phys-1".into(), "phys-2".into()]
                }
            ]
        );
        assert!(roles(
            &c,
            &claims(json!(["students", "amphi:root", "amphi:lecturer:Bad Id"]))
        )
        .is_empty());
        assert!(roles(&c, &claims(json!(42))).is_empty());
        assert!(roles(&c, &Map::new()).is_empty());
        let mut urn = config();
        urn.role_claim = "eduPersonEntitlement".into();
        urn.role_prefix = "urn:mace:example.edu:amphi:".into();
        let mut m = Map::new();
        m.insert(
            "eduPersonEntitlement".into(),
            json!(["urn:mace:example.edu:amphi:admin"]),
        );
        assert_eq!(roles(&urn, &m), vec![Role::Admin]);
        assert!(
            roles(&urn, &claims(json!(["amphi:admin"]))).is_empty(),
            "other claim, other prefix"
        );
        urn.role_prefix.clear();
        assert!(roles(&urn, &m).is_empty(), "prefix turned off");
    }
}
