#!/usr/bin/python3
"""A stand-in for a lecture-hall IP camera: an RTSP server (gst-rtsp-server) serving
/cam as H.264 (x264, 2 s GOP) plus AAC audio, with optional basic authentication.

Usage: rtsp-test-server.py [--port 8554] [--user U --password P]
       [--size 1280x720] [--fps 30] [--no-audio]

Prints "READY rtsp://127.0.0.1:PORT/cam" once listening (PORT is the bound port, so
--port 0 picks a free one). Exits on SIGTERM or SIGINT.

Runs with the system Python (/usr/bin/python3), where Debian installs python3-gi.
Needs: python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-ugly (x264enc),
gstreamer1.0-plugins-good (rtph264pay, rtpmp4gpay), gstreamer1.0-libav (avenc_aac).
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def launch_line(width, height, fps, audio):
    video = (
        f"videotestsrc is-live=true pattern=smpte "
        f"! video/x-raw,width={width},height={height},framerate={fps}/1 "
        f"! timeoverlay ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=2000 "
        f"key-int-max={2 * fps} ! video/x-h264,profile=high "
        f"! rtph264pay name=pay0 pt=96 config-interval=-1"
    )
    if not audio:
        return f"( {video} )"
    sound = (
        "audiotestsrc is-live=true wave=sine freq=440 "
        "! audio/x-raw,rate=48000,channels=2 ! audioconvert ! audioresample "
        "! avenc_aac bitrate=128000 ! rtpmp4gpay name=pay1 pt=97"
    )
    return f"( {video} {sound} )"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--no-audio", action="store_true")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(width, height, args.fps, not args.no_audio))
    # One encoder shared by all clients, like a camera.
    factory.set_shared(True)

    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        basic = GstRtspServer.RTSPAuth.make_basic(args.user, args.password or "")
        auth.add_basic(basic, token)
        server.set_auth(auth)
        role, _ = Gst.Structure.from_string(
            "viewer, media.factory.access=(boolean)true, "
            "media.factory.construct=(boolean)true"
        )
        factory.add_role_from_structure(role)

    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on port {args.port}", file=sys.stderr)
        sys.exit(1)

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    # Drops sessions of clients that went away without a TEARDOWN.
    GLib.timeout_add_seconds(2, lambda: server.get_session_pool().cleanup() >= 0)
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}/cam", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
