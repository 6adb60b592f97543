//! Moderators' exports of an event's questions, as CSV or JSON attachments.

use super::*;

pub(super) async fn export_questions(
    st: &QaState,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: &HeaderMap,
) -> Result<(String, Vec<crate::model::Question>), QaError> {
    let event = path(p)?;
    let q = query(q)?;
    st.moderator(&event, headers, q.get("token").map(String::as_str))?;
    let snap = st.store.snapshot(&event).await?;
    Ok((event, snap.questions))
}

pub(super) fn attachment(content_type: &'static str, filename: String, body: String) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    no_store(
        (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            body,
        )
            .into_response(),
    )
}

#[tracing::instrument(name = "qa.export_csv", skip_all)]
pub(super) async fn export_csv(
    State(st): State<QaState>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, QaError> {
    let (event, questions) = export_questions(&st, p, q, &headers).await?;
    Ok(attachment(
        "text/csv; charset=utf-8",
        format!("qa-{event}.csv"),
        export::to_csv(&questions),
    ))
}

#[tracing::instrument(name = "qa.export_json", skip_all)]
pub(super) async fn export_json(
    State(st): State<QaState>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, QaError> {
    let (event, questions) = export_questions(&st, p, q, &headers).await?;
    let json = serde_json::to_string(&questions).map_err(StoreError::from)?;
    Ok(attachment(
        "application/json",
        format!("qa-{event}.json"),
        json,
    ))
}
