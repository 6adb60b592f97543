//! Checks of a verified LTI 1.3 `id_token`'s claims (sans-IO: time is an argument).

use super::platform::Platform;
use crate::token_times::{self, TimeError};
use amphi_time::WallTime;
use serde_json::{Map, Value};

pub const CLAIM: &str = "https://purl.imsglobal.org/spec/lti/claim/";
const DL_CLAIM: &str = "https://purl.imsglobal.org/spec/lti-dl/claim/";

/// Why a launch's claims were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimError {
    #[error("claim {0} is missing or not a string")]
    Missing(&'static str),
    #[error("token audience does not name this tool's client id")]
    Audience,
    /// `exp` or `iat` refused by the console's one rule for token times.
    #[error("token {0}")]
    Times(TimeError),
    #[error("deployment {0:?} is not registered for this platform")]
    Deployment(String),
    #[error("LTI version {0:?} is not 1.3.0")]
    Version(String),
    #[error("message type {0:?} is not a resource link or deep linking request")]
    MessageType(String),
}

/// What the launch lets the user do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LtiRole {
    Learner,
    Instructor,
}

/// The kind of launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Open the event: from the `event` custom parameter (set by deep linking or by hand).
    ResourceLink { event: Option<String> },
    /// Pick an event and return it to the platform.
    DeepLinking {
        return_url: String,
        data: Option<String>,
    },
}

/// A checked launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub issuer: String,
    pub subject: String,
    pub name: Option<String>,
    pub role: LtiRole,
    pub deployment_id: String,
    pub nonce: String,
    /// When the launch token expires (its `exp`).
    pub exp: WallTime,
    pub message: Message,
}

fn string<'a>(claims: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, ClaimError> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .ok_or(ClaimError::Missing(name))
}

fn lti<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    claims.get(&format!("{CLAIM}{name}"))
}

/// Whether the token is for `client_id` (the console's one audience rule,
/// [`crate::audience`]).
pub fn audience_ok(claims: &Map<String, Value>, client_id: &str) -> bool {
    crate::audience::check(claims, client_id).is_ok()
}

impl From<TimeError> for ClaimError {
    fn from(e: TimeError) -> Self {
        match e {
            TimeError::Missing(name) => ClaimError::Missing(name),
            other => ClaimError::Times(other),
        }
    }
}

/// Maps the LTI roles claim: instructors, administrators and content developers of the
/// context (or of the institution) moderate; everyone else is a learner.
pub fn role(claims: &Map<String, Value>) -> LtiRole {
    let roles = lti(claims, "roles").and_then(Value::as_array);
    let teaches = roles
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|r| {
            let name = r.rsplit(['#', '/']).next().unwrap_or(r);
            matches!(
                name,
                "Instructor" | "Administrator" | "ContentDeveloper" | "TeachingAssistant"
            )
        });
    if teaches {
        LtiRole::Instructor
    } else {
        LtiRole::Learner
    }
}

/// Checks a signature-verified `id_token` from `platform` at `now`.
/// The nonce is returned for the caller's single-use check.
pub fn check(
    claims: &Map<String, Value>,
    platform: &Platform,
    now: WallTime,
) -> Result<Launch, ClaimError> {
    if !audience_ok(claims, &platform.client_id) {
        return Err(ClaimError::Audience);
    }
    let exp = token_times::check(claims, now)?.expires;
    let nonce = string(claims, "nonce")?;
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let deployment = lti(claims, "deployment_id")
        .and_then(Value::as_str)
        .ok_or(ClaimError::Missing("deployment_id"))?;
    if !platform.deployment_ids.iter().any(|d| d == deployment) {
        return Err(ClaimError::Deployment(deployment.to_owned()));
    }
    let version = lti(claims, "version").and_then(Value::as_str).unwrap_or("");
    if version != "1.3.0" {
        return Err(ClaimError::Version(version.to_owned()));
    }
    let kind = lti(claims, "message_type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let message = match kind {
        "LtiResourceLinkRequest" => Message::ResourceLink {
            event: lti(claims, "custom")
                .and_then(|c| c.get("event"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        "LtiDeepLinkingRequest" => {
            let settings = claims.get(&format!("{DL_CLAIM}deep_linking_settings"));
            let return_url = settings
                .and_then(|s| s.get("deep_link_return_url"))
                .and_then(Value::as_str)
                .ok_or(ClaimError::Missing("deep_link_return_url"))?;
            Message::DeepLinking {
                return_url: return_url.to_owned(),
                data: settings
                    .and_then(|s| s.get("data"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }
        }
        other => return Err(ClaimError::MessageType(other.to_owned())),
    };
    let name = ["name", "given_name"]
        .iter()
        .find_map(|k| claims.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    Ok(Launch {
        issuer: platform.issuer.clone(),
        subject: subject.to_owned(),
        name,
        role: role(claims),
        deployment_id: deployment.to_owned(),
        nonce: nonce.to_owned(),
        exp,
        message,
    })
}

/// The link a deep-linking response returns: `event`, titled `title`, launched at `url`.
#[derive(Debug, Clone)]
pub struct ContentItem<'a> {
    pub event: &'a str,
    pub title: &'a str,
    pub url: &'a str,
}

/// The claims of a deep-linking response choosing `item`.
pub fn deep_linking_response(
    platform: &Platform,
    deployment_id: &str,
    data: Option<&str>,
    item: &ContentItem<'_>,
    now: WallTime,
    nonce: &str,
) -> Value {
    let ContentItem { event, title, url } = item;
    let now = now.unix_secs_unsigned();
    let mut claims = serde_json::json!({
        "iss": platform.client_id,
        "aud": platform.issuer,
        "iat": now,
        "exp": now + 600,
        "nonce": nonce,
        format!("{CLAIM}message_type"): "LtiDeepLinkingResponse",
        format!("{CLAIM}version"): "1.3.0",
        format!("{CLAIM}deployment_id"): deployment_id,
        format!("{DL_CLAIM}content_items"): [{
            "type": "ltiResourceLink",
            "title": title,
            "url": url,
            "custom": { "event": event },
        }],
    });
    if let (Some(data), Some(obj)) = (data, claims.as_object_mut()) {
        obj.insert(format!("{DL_CLAIM}data"), Value::String(data.to_owned()));
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn at(secs: u64) -> WallTime {
        WallTime::from_unix_secs(secs)
    }

    fn platform() -> Platform {
        Platform {
            issuer: "https://lms.example".into(),
            client_id: "tool-1".into(),
            auth_url: "https://lms.example/auth".into(),
            jwks_url: "https://lms.example/jwks".into(),
            deployment_ids: vec!["dep-1".into()],
        }
    }

    fn claims(edit: impl FnOnce(&mut Map<String, Value>)) -> Map<String, Value> {
        let v = json!({
            "iss": "https://lms.example", "aud": "tool-1", "sub": "u42",
            "iat": NOW, "exp": NOW + 300, "nonce": "n1", "name": "Ada Lovelace",
            format!("{CLAIM}deployment_id"): "dep-1",
            format!("{CLAIM}version"): "1.3.0",
            format!("{CLAIM}message_type"): "LtiResourceLinkRequest",
            format!("{CLAIM}roles"): ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
            format!("{CLAIM}custom"): {"event": "cs101"},
        });
        let mut m = v.as_object().cloned().expect("object");
        edit(&mut m);
        m
    }

    #[test]
    fn learner_launch_is_accepted() {
        let launch = check(&claims(|_| {}), &platform(), at(NOW)).expect("valid");
        assert_eq!(launch.role, LtiRole::Learner);
        assert_eq!(launch.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(launch.nonce, "n1");
        assert_eq!(
            launch.message,
            Message::ResourceLink {
                event: Some("cs101".into())
            }
        );
    }

    #[test]
    fn instructor_roles_moderate() {
        let c = claims(|m| {
            m.insert(
                format!("{CLAIM}roles"),
                json!(["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]),
            );
        });
        assert_eq!(
            check(&c, &platform(), at(NOW)).expect("valid").role,
            LtiRole::Instructor
        );
    }

    #[test]
    fn audience_checks() {
        let p = platform();
        let wrong = claims(|m| {
            m.insert("aud".into(), json!("other"));
        });
        assert_eq!(check(&wrong, &p, at(NOW)), Err(ClaimError::Audience));
        let many_no_azp = claims(|m| {
            m.insert("aud".into(), json!(["tool-1", "other"]));
        });
        assert_eq!(check(&many_no_azp, &p, at(NOW)), Err(ClaimError::Audience));
        let many_azp = claims(|m| {
            m.insert("aud".into(), json!(["tool-1", "other"]));
            m.insert("azp".into(), json!("tool-1"));
        });
        assert!(check(&many_azp, &p, at(NOW)).is_ok());
    }

    #[test]
    fn time_checks_with_leeway() {
        let p = platform();
        let c = claims(|_| {});
        let leeway = token_times::LEEWAY.as_secs();
        assert!(
            check(&c, &p, at(NOW + 299 + leeway)).is_ok(),
            "within leeway"
        );
        assert_eq!(
            check(&c, &p, at(NOW + 300 + leeway)),
            Err(ClaimError::Times(TimeError::Expired {
                exp: at(NOW + 300),
                now: at(NOW + 300 + leeway)
            }))
        );
        assert!(matches!(
            check(&c, &p, at(NOW - leeway - 1)),
            Err(ClaimError::Times(TimeError::IssuedInFuture { .. }))
        ));
        let no_iat = claims(|m| {
            m.remove("iat");
        });
        assert_eq!(check(&no_iat, &p, at(NOW)), Err(ClaimError::Missing("iat")));
    }

    #[test]
    fn deployment_version_and_type_are_checked() {
        let p = platform();
        let dep = claims(|m| {
            m.insert(format!("{CLAIM}deployment_id"), json!("dep-9"));
        });
        assert_eq!(
            check(&dep, &p, at(NOW)),
            Err(ClaimError::Deployment("dep-9".into()))
        );
        let v = claims(|m| {
            m.insert(format!("{CLAIM}version"), json!("1.1"));
        });
        assert_eq!(
            check(&v, &p, at(NOW)),
            Err(ClaimError::Version("1.1".into()))
        );
        let t = claims(|m| {
            m.insert(format!("{CLAIM}message_type"), json!("Other"));
        });
        assert_eq!(
            check(&t, &p, at(NOW)),
            Err(ClaimError::MessageType("Other".into()))
        );
        let no_nonce = claims(|m| {
            m.remove("nonce");
        });
        assert_eq!(
            check(&no_nonce, &p, at(NOW)),
            Err(ClaimError::Missing("nonce"))
        );
    }

    #[test]
    fn deep_linking_request_and_response() {
        let c = claims(|m| {
            m.insert(
                format!("{CLAIM}message_type"),
                json!("LtiDeepLinkingRequest"),
            );
            m.insert(
                format!("{DL_CLAIM}deep_linking_settings"),
                json!({"deep_link_return_url": "https://lms.example/dl", "data": "opaque"}),
            );
        });
        let launch = check(&c, &platform(), at(NOW)).expect("valid");
        assert_eq!(
            launch.message,
            Message::DeepLinking {
                return_url: "https://lms.example/dl".into(),
                data: Some("opaque".into())
            }
        );
        let r = deep_linking_response(
            &platform(),
            "dep-1",
            Some("opaque"),
            &ContentItem {
                event: "cs101",
                title: "CS 101",
                url: "https://amphi.example/lti/launch",
            },
            at(NOW),
            "x",
        );
        assert_eq!(r["aud"], "https://lms.example");
        assert_eq!(r[format!("{DL_CLAIM}data")], "opaque");
        assert_eq!(
            r[format!("{DL_CLAIM}content_items")][0]["custom"]["event"],
            "cs101"
        );
    }
}
