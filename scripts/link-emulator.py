#!/usr/bin/env python3
"""A lossy, jittery point-to-point link between two TUN devices, in user space.

scripts/netns.sh uses it where the kernel has no `sch_netem` (tc's network emulator):
it creates two TUN devices, the script moves one into the publisher's namespace and
gives both an address, and every IP packet that one side sends is handed to the other
side after the emulated loss and delay, as `tc qdisc ... netem loss L delay D J` would
(each packet's delay uniform in [D-J, D+J], at least 0, so packets may be reordered).

Bandwidth caps and link cuts are left to the kernel (`tc ... tbf`, `ip link set down`);
writes to a device that is down are dropped like packets on a dead wire.

Control: one line per change on the FIFO given by --control:
    set loss=0.02 delay=0.05 jitter=0.1     (fraction, seconds, seconds)
    clear
    stats                                   (counters to stderr)
"""
import argparse
import fcntl
import heapq
import os
import random
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MAX_QUEUED = 4096  # packets held for delay, per direction together


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Link:
    def __init__(self):
        self.loss = 0.0
        self.delay = 0.0
        self.jitter = 0.0
        self.counts = {"forwarded": 0, "lost": 0, "dropped_down": 0, "overflow": 0}

    def configure(self, line):
        words = line.split()
        if not words:
            return
        if words[0] == "clear":
            self.loss = self.delay = self.jitter = 0.0
        elif words[0] == "set":
            for w in words[1:]:
                k, _, v = w.partition("=")
                if k not in ("loss", "delay", "jitter"):
                    raise ValueError(f"unknown setting {k!r} in {line!r}")
                setattr(self, k, float(v))
        elif words[0] == "stats":
            pass
        else:
            raise ValueError(f"unknown command {line!r}")
        log(f"{line.strip()}: loss={self.loss} delay={self.delay}s "
            f"jitter={self.jitter}s {self.counts}")

    def departure(self, now):
        d = self.delay
        if self.jitter:
            d += random.uniform(-self.jitter, self.jitter)
        return now + max(0.0, d)


def log(msg):
    print(f"link-emulator: {msg}", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="first TUN device name")
    ap.add_argument("--b", required=True, help="second TUN device name")
    ap.add_argument("--control", required=True, help="FIFO for control lines")
    ap.add_argument("--ready", required=True, help="file written once both devices exist")
    args = ap.parse_args()

    a = open_tun(args.a)
    b = open_tun(args.b)
    peer = {a: b, b: a}
    # Opened read-write so the FIFO never reports end-of-file between writers.
    ctl = os.open(args.control, os.O_RDWR | os.O_NONBLOCK)
    with open(args.ready, "w") as f:
        f.write(f"{os.getpid()}\n")
    log(f"{args.a} <-> {args.b} up")

    link = Link()
    queue = []  # (departure, seq, fd, packet)
    seq = 0
    pending = b""
    while True:
        now = time.monotonic()
        timeout = max(0.0, queue[0][0] - now) if queue else 1.0
        readable, _, _ = select.select([a, b, ctl], [], [], timeout)
        now = time.monotonic()
        for fd in readable:
            if fd == ctl:
                pending += os.read(ctl, 4096)
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    try:
                        link.configure(line.decode())
                    except ValueError as e:
                        log(str(e))
                continue
            for _ in range(64):  # drain a burst
                try:
                    pkt = os.read(fd, 65535)
                except BlockingIOError:
                    break
                except OSError:
                    break
                if link.loss and random.random() < link.loss:
                    link.counts["lost"] += 1
                    continue
                if len(queue) >= MAX_QUEUED:
                    link.counts["overflow"] += 1
                    continue
                seq += 1
                heapq.heappush(queue, (link.departure(now), seq, peer[fd], pkt))
        while queue and queue[0][0] <= now:
            _, _, fd, pkt = heapq.heappop(queue)
            try:
                os.write(fd, pkt)
                link.counts["forwarded"] += 1
            except OSError:
                link.counts["dropped_down"] += 1


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
