//! What every route reads from a request (bearer values, JSON bodies, paths, queries,
//! the client's address tag) and the response headers they share.

use super::*;

/// The tag of the request's client address (see [`identity::address_tag`]).
pub(super) struct ClientTag(pub(super) Option<String>);

impl FromRequestParts<QaState> for ClientTag {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, st: &QaState) -> Result<Self, Self::Rejection> {
        Ok(ClientTag(
            (st.client_addr)(parts).map(|ip| identity::address_tag(&st.key, ip)),
        ))
    }
}

/// The token of a request's `Authorization: Bearer <token>` header, read by the
/// workspace's one rule ([`amphi_time::header::bearer_token`]; an empty token is none).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    amphi_time::header::bearer_token(v)
}

pub(super) fn body_json<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, QaError> {
    let bytes = body.map_err(|_| QaError::BodyTooLarge)?;
    serde_json::from_slice(&bytes).map_err(|e| QaError::InvalidInput {
        field: "body",
        reason: format!("not the expected JSON: {e}"),
    })
}

pub(super) fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, QaError> {
    p.map(|Path(t)| t).map_err(|_| QaError::NoRoute)
}

/// The event a route's path names, recorded in the route's span.
pub(super) fn event_path(p: Result<Path<String>, PathRejection>) -> Result<String, QaError> {
    let event = path(p)?;
    tracing::Span::current().record("event", event.as_str());
    Ok(event)
}

pub(super) fn query(
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, QaError> {
    q.map(|Query(m)| m).map_err(|_| QaError::InvalidInput {
        field: "query",
        reason: "malformed query string".to_owned(),
    })
}

pub(super) fn question_id(raw: &str) -> Result<i64, QaError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(QaError::NoRoute)
}

pub(super) fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub(super) fn json_text(status: StatusCode, json: String) -> Response {
    no_store(
        (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json,
        )
            .into_response(),
    )
}
