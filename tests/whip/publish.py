#!/usr/bin/env python3
"""A WHIP publisher for Amphi's end-to-end tests and bench (aiortc, no browser).

Publishes a synthetic lecture (test pattern + 440 Hz tone, encoded by aiortc as
H.264 + Opus) to a WHIP endpoint, runs for --seconds, then DELETEs the session.

Lines printed on stdout for the caller:
  WHIP_STATUS <http status>          answer to the POST (then the body on refusal)
  WHIP_LOCATION <url>                session URL (on 201)
  WHIP_CONNECTED <ms since POST>     ICE + DTLS up
  WHIP_FIRST_PART <ms since POST>    with --watch: first LL-HLS part listed
  WHIP_EDGE_DELAY <median ms> <n>    with --watch: wall clock when a new part is listed
                                     minus its end on EXT-X-PROGRAM-DATE-TIME
  WHIP_DELETE <http status>          after --seconds
Exit status: 0 after a clean run, 3 when the POST was refused.
"""

import argparse
import asyncio
import datetime
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer


def out(*words):
    print(*words, flush=True)


def http(method, url, token=None, body=None, content_type=None, timeout=10):
    req = urllib.request.Request(url, data=body, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


def first_part_ms(watch, t0, deadline):
    """Polls a master playlist, then its media playlists, until one lists a part."""
    base = watch.rsplit("/", 1)[0] + "/"
    media = []
    while time.monotonic() < deadline:
        try:
            if not media:
                status, _, text = http("GET", watch, timeout=2)
                if status == 200:
                    media = [urllib.parse.urljoin(base, l.strip()) for l in text.splitlines()
                             if l.strip() and not l.startswith("#")]
            for url in media:
                status, _, text = http("GET", url, timeout=2)
                if status == 200 and "#EXT-X-PART:" in text:
                    return (time.monotonic() - t0) * 1000, url
        except OSError:
            pass
        time.sleep(0.02)
    return None, None


def part_ends(playlist):
    """Part URI -> wall-clock end (s since the epoch), from the playlist's date-times."""
    ends, cursor, seg_start, parts = {}, None, None, 0.0
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            value = line.split(":", 1)[1].strip().replace("Z", "+00:00")
            cursor = seg_start = datetime.datetime.fromisoformat(value).timestamp()
            parts = 0.0
        elif line.startswith("#EXT-X-PART:") and cursor is not None:
            attrs = dict(kv.split("=", 1) for kv in line.split(":", 1)[1].split(",") if "=" in kv)
            d = float(attrs.get("DURATION", "0"))
            cursor += d
            parts += d
            ends[attrs.get("URI", "").strip('"')] = cursor
        elif line.startswith("#EXTINF:") and cursor is not None:
            d = float(line.split(":", 1)[1].split(",")[0])
            cursor = seg_start + d if parts else cursor + d
            seg_start, parts = cursor, 0.0
    return ends


def edge_delays(media_url, until):
    """Wall clock when each new part is first listed minus that part's end."""
    seen, delays = None, []
    while time.monotonic() < until:
        try:
            status, _, text = http("GET", media_url, timeout=2)
        except OSError:
            status = 0
        now = time.time()
        if status == 200:
            ends = part_ends(text)
            if seen is not None:
                delays += [(now - end) * 1000 for uri, end in ends.items() if uri not in seen]
            seen = set(ends) | (seen or set())
        time.sleep(0.01)
    return delays


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("url", help="WHIP endpoint, e.g. http://127.0.0.1:8080/whip/lecture")
    p.add_argument("token", help="bearer token (the event's stream key)")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--codec", choices=["h264", "vp8"], default="h264")
    p.add_argument("--size", default="640x360")
    p.add_argument("--no-audio", action="store_true")
    p.add_argument("--no-delete", action="store_true", help="end without DELETE")
    p.add_argument("--watch", help="master playlist URL to time the first part")
    a = p.parse_args()

    pc = RTCPeerConnection()
    video = MediaPlayer(f"testsrc2=size={a.size}:rate=30", format="lavfi")
    tr = pc.addTransceiver(video.video, direction="sendonly")
    mime = "video/H264" if a.codec == "h264" else "video/VP8"
    caps = RTCRtpSender.getCapabilities("video").codecs
    tr.setCodecPreferences([c for c in caps if c.mimeType == mime])
    if not a.no_audio:
        audio = MediaPlayer("sine=frequency=440:sample_rate=48000", format="lavfi")
        pc.addTransceiver(audio.audio, direction="sendonly")

    connected = asyncio.get_running_loop().create_future()

    @pc.on("connectionstatechange")
    def _state():
        if pc.connectionState == "connected" and not connected.done():
            connected.set_result(True)
        if pc.connectionState == "failed" and not connected.done():
            connected.set_result(False)

    # aiortc gathers every candidate before setLocalDescription returns (non-trickle).
    await pc.setLocalDescription(await pc.createOffer())
    t0 = time.monotonic()
    status, headers, body = await asyncio.to_thread(
        http, "POST", a.url, a.token, pc.localDescription.sdp.encode(), "application/sdp")
    out("WHIP_STATUS", status)
    if status != 201:
        out(body.strip())
        await pc.close()
        return 3
    location = urllib.parse.urljoin(a.url, headers.get("Location", ""))
    out("WHIP_LOCATION", location)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    watcher = None
    if a.watch:
        watcher = asyncio.create_task(asyncio.to_thread(
            first_part_ms, a.watch, t0, t0 + max(a.seconds, 5)))
    try:
        ok = await asyncio.wait_for(connected, timeout=10)
    except asyncio.TimeoutError:
        ok = False
    if not ok:
        out("WHIP_FAILED connection", pc.connectionState)
        await pc.close()
        return 4
    out("WHIP_CONNECTED", round((time.monotonic() - t0) * 1000))
    end = t0 + a.seconds
    if watcher:
        ms, media_url = await watcher
        out("WHIP_FIRST_PART", "none" if ms is None else round(ms))
        if media_url and end - time.monotonic() > 3:
            delays = await asyncio.to_thread(edge_delays, media_url, end - 0.5)
            if delays:
                delays.sort()
                out("WHIP_EDGE_DELAY", round(delays[len(delays) // 2]), len(delays))
    await asyncio.sleep(max(0, end - time.monotonic()))
    if not a.no_delete:
        status, _, _ = await asyncio.to_thread(http, "DELETE", location)
        out("WHIP_DELETE", status)
    await pc.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
