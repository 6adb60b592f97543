//! The chapters routes: an event's markers, public and cacheable, and a moderator's
//! new chapter.

use super::*;

/// `max-age` of the public chapters list: markers show within a few seconds while a
/// cache answers the audience.
pub const CHAPTERS_MAX_AGE: u32 = 2;

#[tracing::instrument(name = "qa.chapters", skip_all, fields(event = tracing::field::Empty))]
pub(super) async fn list_chapters(
    State(st): State<QaState>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, QaError> {
    let event = event_path(p)?;
    let settings = st.settings(&event)?;
    st.may_read(&event, &settings, bearer(&headers))?;
    let list = st.store.chapters(&event).await?;
    let json = serde_json::to_string(&serde_json::json!({ "chapters": list }))
        .map_err(StoreError::from)?;
    let mut resp = json_text(StatusCode::OK, json);
    let cache = if settings.private {
        HeaderValue::from_static("private, no-store")
    } else {
        HeaderValue::from_str(&format!("public, max-age={CHAPTERS_MAX_AGE}"))
            .unwrap_or_else(|_| HeaderValue::from_static("no-store"))
    };
    resp.headers_mut().insert(header::CACHE_CONTROL, cache);
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Ok(resp)
}

#[tracing::instrument(name = "qa.add_chapter", skip_all, fields(event = tracing::field::Empty))]
pub(super) async fn add_chapter(
    State(st): State<QaState>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, QaError> {
    let event = event_path(p)?;
    st.moderator(&event, &headers, None)?;
    let body: PostChapterBody = body_json(body)?;
    let chapter = chapters::add(st.store.as_ref(), &event, &body, st.now()).await?;
    tracing::debug!(id = %chapter.id, program_time = chapter.program_time.unix_millis(), "chapter added");
    st.chapters_changed(&event).await;
    Ok(no_store(
        (StatusCode::CREATED, Json(chapter)).into_response(),
    ))
}
