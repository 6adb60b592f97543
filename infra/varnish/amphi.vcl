# Varnish in front of one or more Amphi origins: the CDN tier that absorbs the audience.
#
# - Parts, segments and init segments are immutable: cached for a long time.
# - Playlists are cached briefly; blocking reloads (_HLS_msn/_HLS_part) are cached by
#   their full URL, so thousands of viewers waiting for the same part become one
#   origin request (request coalescing is Varnish's default for cacheable objects).
# - Q&A API, live updates (SSE) and WebSockets pass straight through.
vcl 4.1;

import directors;

backend origin1 { .host = "127.0.0.1"; .port = "8080"; .first_byte_timeout = 10s; }
# backend origin2 { .host = "127.0.0.1"; .port = "8081"; .first_byte_timeout = 10s; }

sub vcl_init {
    new origins = directors.round_robin();
    origins.add_backend(origin1);
    # origins.add_backend(origin2);
}

sub vcl_recv {
    set req.backend_hint = origins.backend();
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    if (req.url ~ "^/api/" || req.http.Upgrade ~ "(?i)websocket") {
        return (pass);
    }
    # Media and player assets carry no per-viewer state: never vary on cookies.
    unset req.http.Cookie;
    unset req.http.Authorization;
    return (hash);
}

sub vcl_pipe {
    if (req.http.Upgrade) {
        set bereq.http.Upgrade = req.http.Upgrade;
        set bereq.http.Connection = req.http.Connection;
    }
}

sub vcl_backend_response {
    if (bereq.url ~ "\.(m4s|mp4)(\?|$)" && beresp.status == 200) {
        set beresp.ttl = 1h;
        set beresp.grace = 10s;
    } elsif (bereq.url ~ "\.m3u8\?.*_HLS_msn=") {
        # A blocking reload: the answer for this exact URL never changes.
        set beresp.ttl = 6s;
        set beresp.grace = 0s;
    } elsif (bereq.url ~ "\.m3u8") {
        set beresp.ttl = 0.3s;
        set beresp.grace = 0s;
    }
    if (beresp.status >= 400) {
        # Errors: cache a moment only, so a burst of misses does not stampede.
        set beresp.ttl = 0.2s;
        set beresp.grace = 0s;
    }
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
