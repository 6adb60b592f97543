//! Moderators' exports of an event's questions, as CSV or JSON attachments.

use super::*;

/// An event's questions as a moderator reads them for an export (the bearer value or
/// `?token=`, since download links cannot set headers).
pub(super) struct ModeratorExport {
    event: String,
    questions: Vec<crate::model::Question>,
}

impl FromRequestParts<QaState> for ModeratorExport {
    type Rejection = QaError;

    async fn from_request_parts(parts: &mut Parts, st: &QaState) -> Result<Self, QaError> {
        let event = path(Path::<String>::from_request_parts(parts, st).await)?;
        let q = query(Query::<HashMap<String, String>>::from_request_parts(parts, st).await)?;
        st.moderator(&event, &parts.headers, q.get("token").map(String::as_str))?;
        let snap = st.store.snapshot(&event).await?;
        Ok(ModeratorExport {
            event,
            questions: snap.questions,
        })
    }
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
    ModeratorExport { event, questions }: ModeratorExport,
) -> Result<Response, QaError> {
    Ok(attachment(
        "text/csv; charset=utf-8",
        format!("qa-{event}.csv"),
        export::to_csv(&questions),
    ))
}

#[tracing::instrument(name = "qa.export_json", skip_all)]
pub(super) async fn export_json(
    ModeratorExport { event, questions }: ModeratorExport,
) -> Result<Response, QaError> {
    let json = serde_json::to_string(&questions).map_err(StoreError::from)?;
    Ok(attachment(
        "application/json",
        format!("qa-{event}.json"),
        json,
    ))
}
