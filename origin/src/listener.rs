//! The HTTP listener: accepts connections within the connection budget
//! ([`crate::budget`]) and serves each with hyper's HTTP/1.1 server.
//!
//! Each connection runs in its own task beside a watchdog that closes it at its
//! deadline (no complete request head in time, or idle too long) or when a newer
//! connection evicts it at a cap. Each request carries its [`ClientAddr`] and the
//! peer's [`ConnectInfo`] as extensions. Beyond the caps, when every connection is busy,
//! a connection gets a canned `503` with `Retry-After` (or is closed at once when even
//! that budget is spent). When the process runs out of file descriptors, the longest
//! waiting connection is closed to make room.

use crate::budget::{
    Activity, Admission, ConnId, ConnLimits, ConnTable, Phase, Timeouts, BUDGET_RETRY_AFTER_SECS,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
};
use crate::client_addr::{canonical, client_addr, ClientAddr, TrustedProxies};
use amphi_time::sync::lock;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, HeaderValue, Request, Response};
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tower::Service;
use tracing::{debug, info, warn, Instrument};

/// Connections refused with a `503` at once (each holds its socket about a second).
const MAX_REFUSING: usize = 64;
/// How long a refused connection may take to receive its `503`.
const REFUSE_WITHIN: Duration = Duration::from_secs(1);
/// On shutdown, how long connections may take to finish their requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Sockets beyond `max_connections` that may still be open while evicted connections
/// close (their tasks close them a moment later); past it, new ones wait in the
/// kernel's accept queue so descriptors stay bounded.
const EVICTION_SLACK: usize = 64;
/// While new connections wait for evicted ones to close, how often the count is read
/// again even without a close being signalled.
const CLOSING_RECHECK: Duration = Duration::from_millis(20);
/// At most one warning per this interval about a budget being exhausted.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Limits of the HTTP listener (`amphi serve --http-*`, `--max-connections*`).
#[derive(Debug, Clone)]
pub struct HttpLimits {
    pub timeouts: Timeouts,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    /// Whose `X-Forwarded-For` is believed; they are exempt from the per-client cap.
    pub trusted_proxies: TrustedProxies,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            timeouts: Timeouts::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_client: DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

struct Registry {
    table: ConnTable,
    closers: HashMap<ConnId, Arc<Notify>>,
}

struct Shared {
    registry: Mutex<Registry>,
    /// Connection tasks (and upgraded sockets) still holding a socket.
    live: AtomicUsize,
    all_closed: Notify,
    /// Signalled whenever a socket closes.
    one_closed: Notify,
    refusing: Arc<Semaphore>,
    limits: HttpLimits,
    warned: Mutex<Option<Instant>>,
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        lock(&self.registry)
    }

    /// Rate-limited warning about an exhausted budget.
    fn warn_budget(&self, what: &str) {
        let now = Instant::now();
        let mut last = lock(&self.warned);
        if last.is_none_or(|t| now.duration_since(t) >= WARN_EVERY) {
            *last = Some(now);
            let open = self.registry().table.len();
            warn!(
                open,
                max = self.limits.max_connections,
                per_client = self.limits.max_connections_per_client,
                "HTTP connection budget: {what} (further occurrences within {}s not logged)",
                WARN_EVERY.as_secs()
            );
        }
    }

    fn close(&self, id: ConnId) {
        let mut reg = self.registry();
        reg.table.remove(id);
        if let Some(c) = reg.closers.remove(&id) {
            c.notify_one();
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then lets
/// open requests finish for a few seconds.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let shared = Arc::new(Shared {
        registry: Mutex::new(Registry {
            table: ConnTable::new(ConnLimits {
                max_total: limits.max_connections,
                max_per_client: limits.max_connections_per_client,
            }),
            closers: HashMap::new(),
        }),
        live: AtomicUsize::new(0),
        all_closed: Notify::new(),
        one_closed: Notify::new(),
        refusing: Arc::new(Semaphore::new(MAX_REFUSING)),
        limits,
        warned: Mutex::new(None),
    });
    let trusted = Arc::new(shared.limits.trusted_proxies.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    'accept: loop {
        // Past the slack, evicted connections are still closing: leave new ones in the
        // kernel's accept queue until a socket closes, so descriptors stay bounded and
        // no viewer's connection is dropped meanwhile.
        while shared.live.load(Ordering::SeqCst) >= shared.limits.max_connections + EVICTION_SLACK {
            let one_closed = shared.one_closed.notified();
            if shared.live.load(Ordering::SeqCst) < shared.limits.max_connections + EVICTION_SLACK {
                break;
            }
            shared.warn_budget("evicted connections are still closing: new ones wait");
            tokio::select! {
                _ = &mut shutdown => break 'accept,
                _ = one_closed => {}
                _ = tokio::time::sleep(CLOSING_RECHECK) => {}
            }
        }
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(&shared, e).await;
                    continue;
                }
            },
        };
        let ip = canonical(peer.ip());
        let exempt = trusted.contains(ip);
        let activity = Arc::new(Activity::new(Instant::now()));
        let closer = Arc::new(Notify::new());
        let admission = {
            let mut reg = shared.registry();
            let a = reg.table.admit(ip, exempt, activity.clone());
            if let Admission::Admitted { id, evicted } = a {
                if let Some(c) = evicted.and_then(|v| reg.closers.remove(&v)) {
                    c.notify_one();
                }
                reg.closers.insert(id, closer.clone());
            }
            a
        };
        match admission {
            Admission::Refused => {
                shared.warn_budget("every connection is busy, refusing new ones with 503");
                refuse(tcp, &shared.refusing);
            }
            Admission::Admitted { id, evicted } => {
                if evicted.is_some() {
                    debug!("HTTP connection cap reached: closed the longest-waiting connection");
                }
                let _ = tcp.set_nodelay(true);
                shared.live.fetch_add(1, Ordering::SeqCst);
                let conn = Conn {
                    id,
                    peer,
                    activity,
                    closer,
                    shared: shared.clone(),
                    trusted: trusted.clone(),
                    app: app.clone(),
                    stop: stop_rx.clone(),
                };
                let span = tracing::debug_span!("http_conn", conn = id);
                tokio::spawn(conn.run(tcp).instrument(span));
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = async {
        loop {
            let notified = shared.all_closed.notified();
            if shared.live.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, drained).await.is_err() {
        info!(
            open = shared.live.load(Ordering::SeqCst),
            "HTTP connections still open after the shutdown grace period: closing them"
        );
    }
    Ok(())
}

async fn accept_failed(shared: &Shared, e: io::Error) {
    // EMFILE / ENFILE: out of file descriptors. Make room by closing the connection
    // that waited longest without a request, and say what to raise.
    if matches!(e.raw_os_error(), Some(23) | Some(24)) {
        let victim = {
            let mut reg = shared.registry();
            let v = reg.table.evict_one();
            if let Some(c) = v.and_then(|v| reg.closers.remove(&v)) {
                c.notify_one();
            }
            v
        };
        shared.warn_budget(&format!(
            "out of file descriptors accepting a connection ({e}); closed an idle one: {}; raise the open-file limit (LimitNOFILE) or lower --max-connections",
            victim.is_some()
        ));
        if victim.is_some() {
            // Its task closes it as soon as it runs: accept again right after.
            tokio::task::yield_now().await;
            return;
        }
    } else {
        debug!(error = %e, "HTTP accept failed");
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// Answers `503` + `Retry-After` without reading the request, if there is room to.
fn refuse(mut tcp: TcpStream, refusing: &Arc<Semaphore>) {
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return; // dropped: closed at once
    };
    tokio::spawn(async move {
        let _permit = permit;
        let body = "too many connections: retry later\n";
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\nretry-after: {BUDGET_RETRY_AFTER_SECS}\r\ncache-control: no-store\r\ncontent-type: text/plain; charset=utf-8\r\nx-content-type-options: nosniff\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = tokio::time::timeout(REFUSE_WITHIN, async {
            tcp.write_all(response.as_bytes()).await?;
            tcp.shutdown().await?;
            // Read what the client sent, so closing does not reset the answer away.
            let mut sink = [0u8; 2048];
            while tcp.read(&mut sink).await? > 0 {}
            Ok::<_, io::Error>(())
        })
        .await;
    });
}

struct Conn {
    id: ConnId,
    peer: SocketAddr,
    activity: Arc<Activity>,
    closer: Arc<Notify>,
    shared: Arc<Shared>,
    trusted: Arc<TrustedProxies>,
    app: Router,
    stop: watch::Receiver<bool>,
}

impl Conn {
    async fn run(mut self, tcp: TcpStream) {
        let io = TokioIo::new(TrackedIo {
            tcp,
            activity: self.activity.clone(),
            _guard: ConnGuard {
                id: self.id,
                shared: self.shared.clone(),
            },
        });
        let (peer, trusted, app, activity) = (
            self.peer,
            self.trusted.clone(),
            self.app.clone(),
            self.activity.clone(),
        );
        let service = hyper::service::service_fn(move |req| {
            handle(req, app.clone(), peer, trusted.clone(), activity.clone())
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        // Deadlines are the watchdog's (below), which tells idle from a slow head.
        builder.keep_alive(true).header_read_timeout(None);
        let conn = builder.serve_connection(io, service).with_upgrades();
        // Boxed, so it can be dropped (closing the socket) before the upgrade check.
        let mut conn = Box::pin(conn);
        let timeouts = self.shared.limits.timeouts;
        // While busy no deadline applies; look again regularly.
        let recheck = (timeouts.header.min(timeouts.idle) / 4).max(Duration::from_millis(50));
        let mut stopping = false;
        loop {
            let wake = self
                .activity
                .deadline(&timeouts)
                .unwrap_or_else(|| Instant::now() + recheck);
            tokio::select! {
                done = conn.as_mut() => {
                    if let Err(e) = done {
                        debug!(error = %e, "HTTP connection ended with an error");
                    }
                    break;
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    let phase = self.activity.phase();
                    if self.activity.deadline(&timeouts).is_some_and(|d| Instant::now() >= d) {
                        let reason = match phase {
                            Phase::Idle { .. } => "idle keep-alive timeout",
                            _ => "no complete request head within the header timeout",
                        };
                        debug!(reason, "closing HTTP connection");
                        break;
                    }
                }
                _ = self.closer.notified() => {
                    debug!("closing HTTP connection: evicted at the connection cap");
                    break;
                }
                changed = self.stop.changed(), if !stopping => {
                    stopping = true;
                    if changed.is_ok() {
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
        drop(conn);
        // Still registered only if the socket lives on, upgraded (WebSocket): it keeps
        // counting against the caps, without HTTP deadlines.
        self.activity.upgraded();
    }
}

/// Removes the connection from the table when its socket closes.
struct ConnGuard {
    id: ConnId,
    shared: Arc<Shared>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.shared.close(self.id);
        if self.shared.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shared.all_closed.notify_waiters();
        }
        self.shared.one_closed.notify_waiters();
    }
}

/// The socket, telling the connection's [`Activity`] when bytes arrive.
struct TrackedIo {
    tcp: TcpStream,
    activity: Arc<Activity>,
    _guard: ConnGuard,
}

impl AsyncRead for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read(Instant::now());
        }
        res
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

async fn handle(
    mut req: Request<Incoming>,
    mut app: Router,
    peer: SocketAddr,
    trusted: Arc<TrustedProxies>,
    activity: Arc<Activity>,
) -> Result<Response<TrackedBody>, Infallible> {
    activity.request_started();
    let guard = RequestGuard(activity);
    let client = client_addr(peer.ip(), req.headers(), &trusted);
    req.extensions_mut().insert::<ClientAddr>(client);
    req.extensions_mut().insert(ConnectInfo(peer));
    let mut res = app.call(req).await?;
    baseline_headers(res.headers_mut());
    Ok(res.map(|inner| TrackedBody {
        inner,
        _guard: guard,
    }))
}

/// What every response carries unless its handler chose otherwise (JSON API, media,
/// errors alike): no content sniffing, and no full URL leaked as a referrer.
fn baseline_headers(h: &mut HeaderMap) {
    h.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static(
            crate::page_policy::REFERRER_POLICY,
        ));
}

/// Marks the request ended when its response body is finished or dropped.
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.request_ended(Instant::now());
    }
}

struct TrackedBody {
    inner: Body,
    _guard: RequestGuard,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
