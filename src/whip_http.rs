//! WHIP over HTTP (RFC 9725): `POST /whip/{event}` answers an SDP offer (with the
//! event's token it takes a live event over from its current publisher),
//! `DELETE /whip/{event}/{session}` ends the session, `OPTIONS` answers CORS
//! preflights, `PATCH` (trickle ICE) is refused with 405. The logic is in
//! `amphi_ingest::whip`; this file maps it to axum and starts the media socket.

use amphi_ingest::whip::{WhipError, WhipServer, MAX_OFFER_BYTES, SDP_CONTENT_TYPE};
use amphi_ingest::Hub;
use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::net::UdpSocket;

pub const DEFAULT_WEBRTC_UDP: &str = "0.0.0.0:8189";

/// WebRTC (WHIP) options of `amphi serve`.
#[derive(clap::Args)]
pub struct WhipArgs {
    /// UDP address for all WebRTC (WHIP) media; one port serves every publisher.
    #[arg(long, default_value = DEFAULT_WEBRTC_UDP)]
    pub webrtc_udp: SocketAddr,
    /// IP announced to WebRTC publishers in the ICE candidate (default: --public-host
    /// if it is an IP, else 127.0.0.1 for a loopback bind, else the bound or primary IP).
    #[arg(long)]
    pub webrtc_host: Option<IpAddr>,
}

/// A running WHIP endpoint: its server handle and routes (the media driver runs as a
/// task for the life of the process).
pub struct Whip {
    pub server: WhipServer,
    pub router: Router,
}

/// Binds the WebRTC UDP socket and starts the media driver.
pub async fn start(args: &WhipArgs, hub: Hub, public_host: Option<&str>) -> Result<Whip> {
    let socket = UdpSocket::bind(args.webrtc_udp)
        .await
        .with_context(|| format!("binding WebRTC UDP on {}", args.webrtc_udp))?;
    let bound = socket.local_addr()?;
    let ip = announced_ip(args.webrtc_host, public_host, bound.ip());
    let (server, _driver) = WhipServer::start(hub, socket, SocketAddr::new(ip, bound.port()));
    let router = Router::new()
        .route(
            "/whip/{event}",
            post(publish).options(preflight).fallback(not_allowed),
        )
        .route(
            "/whip/{event}/{session}",
            axum::routing::delete(end)
                .options(preflight)
                .fallback(not_allowed),
        )
        .with_state(server.clone());
    Ok(Whip { server, router })
}

/// The IP put in the ICE candidate.
fn announced_ip(explicit: Option<IpAddr>, public_host: Option<&str>, bound: IpAddr) -> IpAddr {
    if let Some(ip) = explicit {
        return ip;
    }
    if let Some(ip) = public_host.and_then(|h| h.parse::<IpAddr>().ok()) {
        return ip;
    }
    if bound.is_loopback() {
        return IpAddr::V4(Ipv4Addr::LOCALHOST);
    }
    if !bound.is_unspecified() {
        return bound;
    }
    primary_ip().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The address of the interface holding the default route (no packet is sent).
fn primary_ip() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

fn cors(headers: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(headers, "access-control-allow-origin", "*");
    set(
        headers,
        "access-control-allow-methods",
        "POST, DELETE, PATCH, OPTIONS",
    );
    set(
        headers,
        "access-control-allow-headers",
        "Authorization, Content-Type, If-Match",
    );
    set(
        headers,
        "access-control-expose-headers",
        "Location, ETag, Link, Accept-Patch",
    );
}

fn refusal(e: &WhipError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let text = match e {
        // The reason names the token (redacted); the client only learns it was refused.
        WhipError::WrongToken(_) | WhipError::MissingToken => {
            "missing or wrong bearer token (use the event's stream key)".to_owned()
        }
        other => other.to_string(),
    };
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text + "\n",
    )
        .into_response();
    let h = r.headers_mut();
    cors(h);
    match e {
        WhipError::MissingToken | WhipError::WrongToken(_) => {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        WhipError::PatchNotSupported => {
            h.insert(
                header::ALLOW,
                HeaderValue::from_static("POST, DELETE, OPTIONS"),
            );
        }
        WhipError::ContentType(_) => {
            h.insert("accept-post", HeaderValue::from_static(SDP_CONTENT_TYPE));
        }
        _ => {}
    }
    r
}

async fn publish(
    State(server): State<WhipServer>,
    Path(event): Path<String>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    // The client's address, when the listener records it (for the takeover log line).
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let header = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let body = match axum::body::to_bytes(body, MAX_OFFER_BYTES + 1).await {
        Ok(b) => b,
        Err(_) => return refusal(&WhipError::TooLarge(MAX_OFFER_BYTES + 1)),
    };
    let answer = match server.publish_from(
        &event,
        header(header::AUTHORIZATION).as_deref(),
        header(header::CONTENT_TYPE).as_deref(),
        &body,
        peer,
    ) {
        Ok(a) => a,
        Err(e) => return refusal(&e),
    };
    let mut r = Response::new(Body::from(answer.sdp));
    *r.status_mut() = StatusCode::CREATED;
    let h = r.headers_mut();
    cors(h);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SDP_CONTENT_TYPE),
    );
    if let Ok(v) = HeaderValue::from_str(&answer.location) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&answer.etag) {
        h.insert(header::ETAG, v);
    }
    r
}

async fn end(
    State(server): State<WhipServer>,
    Path((event, session)): Path<(String, String)>,
) -> Response {
    match server.end(&event, &session).await {
        Ok(()) => {
            let mut r = StatusCode::OK.into_response();
            cors(r.headers_mut());
            r
        }
        Err(e) => refusal(&e),
    }
}

async fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    cors(h);
    h.insert("accept-post", HeaderValue::from_static(SDP_CONTENT_TYPE));
    r
}

/// PATCH (trickle ICE, ICE restart) and any other method.
async fn not_allowed(Path(params): Path<Vec<(String, String)>>) -> Response {
    let event = params
        .iter()
        .find(|(k, _)| k == "event")
        .map(|(_, v)| v.as_str())
        .unwrap_or("-");
    tracing::warn!(event, "whip request refused: method not allowed");
    refusal(&WhipError::PatchNotSupported)
}

/// Banner lines: the WHIP URL and bearer token of each event, and the UDP port.
pub fn print_banner(
    public_host: Option<&str>,
    http: SocketAddr,
    server: &WhipServer,
    events: &[crate::events::EventRecord],
    show_secrets: bool,
) {
    let host = match public_host {
        Some(h) => h.to_owned(),
        None if http.ip().is_unspecified() => "localhost".into(),
        None => http.ip().to_string(),
    };
    let web = format!("http://{host}:{}", http.port());
    let udp = server.candidate();
    println!("AMPHI_WHIP url={web}/whip udp={udp}");
    for e in events.iter().filter(|e| e.id != crate::events::DEMO_EVENT) {
        // The bearer token is the stream key: shown only where the RTMP key is.
        let token = if show_secrets {
            e.stream_key.as_str()
        } else {
            "(the stream key)"
        };
        println!(
            "  WHIP (OBS 30+, browsers) \"{}\": Server URL {web}/whip/{}  Bearer token {token}",
            e.title, e.id
        );
    }
    println!("  WebRTC media: UDP {udp} (open this port to publishers)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_ip_defaults() {
        let lo: IpAddr = "127.0.0.1".parse().expect("ip");
        let any: IpAddr = "0.0.0.0".parse().expect("ip");
        let lan: IpAddr = "192.168.1.5".parse().expect("ip");
        assert_eq!(announced_ip(Some(lan), Some("10.0.0.1"), lo), lan);
        assert_eq!(
            announced_ip(None, Some("10.0.0.1"), any),
            "10.0.0.1".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(announced_ip(None, Some("example.org"), lo), lo);
        assert_eq!(announced_ip(None, None, lan), lan);
        assert!(!announced_ip(None, None, any).is_unspecified());
    }
}
