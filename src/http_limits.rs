//! `amphi serve` flags of the HTTP connection budget (see `amphi_origin::budget`).

use amphi_origin::budget;
use amphi_origin::client_addr::{Cidr, TrustedProxies};
use amphi_origin::{HttpLimits, OriginConfig};
use clap::Args;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub struct HttpLimitArgs {
    /// Seconds a connection has to send a complete request head (from its first byte,
    /// or from opening): slow or silent clients are closed.
    #[arg(long, value_name = "SECONDS", default_value_t = budget::DEFAULT_HEADER_TIMEOUT.as_secs())]
    http_header_timeout: u64,
    /// Seconds a keep-alive connection may wait for its next request.
    #[arg(long, value_name = "SECONDS", default_value_t = budget::DEFAULT_IDLE_TIMEOUT.as_secs())]
    http_idle_timeout: u64,
    /// Concurrent HTTP connections (also kept below the open-file limit).
    #[arg(long, value_name = "N", default_value_t = budget::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Concurrent HTTP connections per client address (trusted proxies are exempt):
    /// raise it when many viewers share one NAT address without a CDN in between.
    #[arg(long, value_name = "N", default_value_t = budget::DEFAULT_MAX_CONNECTIONS_PER_CLIENT)]
    max_connections_per_client: usize,
    /// Blocking playlist / preload-hint requests held at once; beyond, 503 + Retry-After.
    #[arg(long, value_name = "N", default_value_t = budget::DEFAULT_MAX_HELD_REQUESTS)]
    max_held_requests: usize,
    /// Blocking requests held at once per client address (behind a trusted proxy, per
    /// X-Forwarded-For address).
    #[arg(long, value_name = "N", default_value_t = budget::DEFAULT_MAX_HELD_REQUESTS_PER_CLIENT)]
    max_held_requests_per_client: usize,
    /// A proxy or CDN (CIDR, or one address) whose X-Forwarded-For names the client;
    /// repeatable. Without it the header is ignored.
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    trusted_proxies: Vec<Cidr>,
}

impl HttpLimitArgs {
    /// The listener's limits, with at most `fd_room` connections (open-file limit).
    pub fn listener(&self, fd_room: Option<usize>) -> HttpLimits {
        let max_connections = match fd_room {
            Some(room) => self.max_connections.min(room),
            None => self.max_connections,
        };
        HttpLimits {
            timeouts: budget::Timeouts {
                header: Duration::from_secs(self.http_header_timeout.max(1)),
                idle: Duration::from_secs(self.http_idle_timeout.max(1)),
            },
            max_connections: max_connections.max(1),
            max_connections_per_client: self.max_connections_per_client.max(1),
            trusted_proxies: TrustedProxies::new(self.trusted_proxies.clone()),
        }
    }

    /// The origin's settings with these held-request caps.
    pub fn origin(&self) -> OriginConfig {
        OriginConfig {
            max_held_requests: self.max_held_requests,
            max_held_requests_per_client: self.max_held_requests_per_client,
            ..OriginConfig::default()
        }
    }
}
