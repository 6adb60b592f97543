//! The LISTEN side of the PostgreSQL backend: one dedicated connection per process
//! hears each committed transaction's `NOTIFY`, reads the announced changes back from
//! `qa_changes` and publishes them to the local [`Hub`], in sequence order. After a
//! lost connection it reconnects and catches up from the last sequence it forwarded
//! per event.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

use deadpool_postgres::Pool;
use futures_util::StreamExt;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{fetch_changes, get, CHANNEL};
use crate::error::StoreError;
use crate::store::Hub;

/// Changes read back per query while catching up.
const PAGE: u32 = 1000;

/// Parses a NOTIFY payload `"<first> <last> <event>"`.
fn parse_payload(p: &str) -> Option<(i64, i64, &str)> {
    let mut it = p.splitn(3, ' ');
    let first = it.next()?.parse().ok()?;
    let last = it.next()?.parse().ok()?;
    let event = it.next()?;
    (first <= last && !event.is_empty()).then_some((first, last, event))
}

pub(super) type Ready = tokio::sync::oneshot::Sender<Result<(), StoreError>>;

pub(super) async fn listen_loop(
    config: tokio_postgres::Config,
    pool: Pool,
    hub: Weak<Hub>,
    ready: Ready,
) {
    let mut forwarded: HashMap<String, i64> = HashMap::new();
    let mut ready = Some(ready);
    let mut backoff = Duration::from_millis(100);
    loop {
        let result = listen_once(&config, &pool, &hub, &mut forwarded, &mut ready).await;
        if let Err(e) = result {
            if let Some(r) = ready.take() {
                let _ = r.send(Err(e));
                return;
            }
            tracing::warn!(error = %e, "q&a LISTEN connection lost; reconnecting");
        }
        if hub.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn listen_once(
    config: &tokio_postgres::Config,
    pool: &Pool,
    hub: &Weak<Hub>,
    forwarded: &mut HashMap<String, i64>,
    ready: &mut Option<Ready>,
) -> Result<(), StoreError> {
    let (client, mut conn) = config.connect(NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "q&a LISTEN connection error");
                    break;
                }
            }
        }
    });
    let result = async {
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        if let Some(r) = ready.take() {
            let _ = r.send(Ok(()));
        }
        // Catch up on whatever was committed while we were not listening.
        let known: Vec<(String, i64)> = forwarded.iter().map(|(k, v)| (k.clone(), *v)).collect();
        for (event, seq) in known {
            forward(pool, hub, forwarded, &event, seq, i64::MAX).await?;
        }
        while let Some(payload) = rx.recv().await {
            let Some((first, last, event)) = parse_payload(&payload) else {
                tracing::debug!(payload, "ignoring malformed q&a notification");
                continue;
            };
            let from = forwarded.get(event).copied().unwrap_or(first - 1);
            if last > from {
                forward(pool, hub, forwarded, event, from, last).await?;
            }
        }
        Ok::<(), StoreError>(())
    }
    .await;
    driver.abort();
    result
}

/// Reads changes `(after, upto]` of `event` and publishes them locally.
async fn forward(
    pool: &Pool,
    hub: &Weak<Hub>,
    forwarded: &mut HashMap<String, i64>,
    event: &str,
    mut after: i64,
    upto: i64,
) -> Result<(), StoreError> {
    let client = get(pool).await?;
    loop {
        let page = fetch_changes(&client, event, after, i64::from(PAGE)).await?;
        let full = page.len() >= PAGE as usize;
        let Some(hub) = hub.upgrade() else {
            return Ok(());
        };
        for c in page {
            if c.seq > upto {
                break;
            }
            after = c.seq;
            hub.publish(c.into());
        }
        forwarded.insert(event.to_owned(), after);
        if !full || after >= upto {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_payload;

    #[test]
    fn payloads() {
        assert_eq!(parse_payload("3 5 cs101"), Some((3, 5, "cs101")));
        assert_eq!(parse_payload("5 3 cs101"), None);
        assert_eq!(parse_payload("x 3 cs101"), None);
        assert_eq!(parse_payload("3 3"), None);
        assert_eq!(parse_payload("3 3 "), None);
    }
}
