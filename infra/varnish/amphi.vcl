# Varnish (7.1, Debian 12) in front of one or more Amphi origins: the CDN tier that
# absorbs the audience.
#
# - Parts, segments and init segments are immutable: cached for a long time.
# - Plain playlists are cached briefly; blocking reloads (_HLS_msn/_HLS_part) are cached
#   by their full URL (query included) for a few seconds, so thousands of viewers waiting
#   for the same part become ONE origin request: Varnish puts identical requests for an
#   object being fetched on a waiting list (request coalescing) as long as the object is
#   cacheable. Nothing here may turn a playlist into hit-for-pass/hit-for-miss, which is
#   why vcl_backend_response ends with return (deliver) instead of falling through to
#   the built-in VCL (it marks `Cache-Control: no-cache` answers uncacheable for 120 s).
# - The Q&A API passes through; live updates (SSE: `Accept: text/event-stream`, and
#   the live captions stream `/live/{event}/captions/events`) and WebSockets are
#   piped, so nothing is buffered.
# - Two origins behind a round-robin director, each probed on /healthz; a fetch that
#   fails because an origin went away is retried on the next one.
#
# scripts/varnish-test.sh generates the backends and director lines between the
# BEGIN/END markers from the ports it is given; keep the markers.
vcl 4.1;

import directors;

probe healthz {
    .url = "/healthz";
    .interval = 1s;
    .timeout = 500ms;
    .window = 3;
    .threshold = 2;
    .initial = 2;
}

# BEGIN BACKENDS
backend origin1 {
    .host = "127.0.0.1"; .port = "8080";
    .probe = healthz;
    .connect_timeout = 1s;
    # Longer than the origin's longest blocking wait (6 s).
    .first_byte_timeout = 10s;
    .between_bytes_timeout = 10s;
}
backend origin2 {
    .host = "127.0.0.1"; .port = "8081";
    .probe = healthz;
    .connect_timeout = 1s;
    .first_byte_timeout = 10s;
    .between_bytes_timeout = 10s;
}
# END BACKENDS

sub vcl_init {
    new origins = directors.round_robin();
    # BEGIN DIRECTOR
    origins.add_backend(origin1);
    origins.add_backend(origin2);
    # END DIRECTOR
}

sub vcl_recv {
    set req.backend_hint = origins.backend();
    if (req.http.Upgrade ~ "(?i)websocket") {
        return (pipe);
    }
    if (req.http.Accept ~ "text/event-stream") {
        return (pipe);
    }
    # The live captions stream (server-sent events, one per viewer): piped whatever the
    # client sent as Accept, never cached or buffered.
    if (req.url ~ "^/live/[^/]+/(t/[^/]+/|p/[^/]+/)?captions/events$") {
        return (pipe);
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    if (req.url ~ "^/api/" || req.url ~ "^/metrics") {
        return (pass);
    }
    # Media and player pages carry no per-viewer state: never vary on cookies or
    # credentials (viewer tokens are a path segment, part of the URL and the hash).
    unset req.http.Cookie;
    unset req.http.Authorization;
    if (req.url ~ "^/live/") {
        # The answer is `Access-Control-Allow-Origin: *` whatever the Origin: do not
        # let the embedding site split the cache.
        unset req.http.Origin;
    }
    return (hash);
}

sub vcl_pipe {
    if (req.http.Upgrade) {
        set bereq.http.Upgrade = req.http.Upgrade;
        set bereq.http.Connection = req.http.Connection;
    }
}

sub vcl_backend_response {
    if (bereq.url ~ "^/live/") {
        unset beresp.http.Vary;
        unset beresp.http.Set-Cookie;
        set beresp.http.Access-Control-Allow-Origin = "*";
    }
    if (beresp.status >= 400) {
        # Errors: cache a moment only, so a burst of misses does not stampede, and
        # never hit-for-miss (the next viewer must reach the origin again).
        set beresp.ttl = 0.2s;
        set beresp.grace = 0s;
        return (deliver);
    }
    if (bereq.url ~ "\.(m4s|mp4)(\?|$)") {
        set beresp.ttl = 1h;
        set beresp.grace = 10s;
        return (deliver);
    } elsif (bereq.url ~ "\.m3u8\?(.*&)?_HLS_msn=") {
        # A blocking reload: the answer for this exact URL never changes.
        set beresp.ttl = 6s;
        set beresp.grace = 0s;
        return (deliver);
    } elsif (bereq.url ~ "\.m3u8") {
        # About one part: plain reloads and the multivariant playlist.
        set beresp.ttl = 0.3s;
        set beresp.grace = 0s;
        return (deliver);
    }
    # Everything else (player pages and assets): the built-in rules.
}

sub vcl_backend_error {
    # An origin went away in the middle of a fetch (restart, crash, rolling update) or
    # refused the connection before its probe marked it sick: fetch again, and the
    # director picks the next healthy origin. Origins are stateless, so any can answer.
    if (bereq.retries < 2 && (bereq.method == "GET" || bereq.method == "HEAD")) {
        return (retry);
    }
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
