#!/usr/bin/env python3
"""Records what an RTMP publisher sends, for the captured-session tests.

A TCP relay: the publisher connects here, every byte is forwarded to a real RTMP
server (which answers the handshake and the commands, so the publisher goes on to send
media), and the client-to-server byte stream is written to OUT until MAX_BYTES have
been recorded. Then both connections are closed.

    record.py LISTEN_PORT SERVER_PORT OUT MAX_BYTES
"""
import socket
import sys
import threading


def main():
    listen_port, server_port, out, max_bytes = sys.argv[1:5]
    max_bytes = int(max_bytes)
    lsock = socket.create_server(("127.0.0.1", int(listen_port)))
    client, _ = lsock.accept()
    server = socket.create_connection(("127.0.0.1", int(server_port)))
    done = threading.Event()

    def server_to_client():
        try:
            while not done.is_set():
                data = server.recv(65536)
                if not data:
                    break
                client.sendall(data)
        except OSError:
            pass
        done.set()

    threading.Thread(target=server_to_client, daemon=True).start()
    recorded = bytearray()
    try:
        while len(recorded) < max_bytes and not done.is_set():
            data = client.recv(65536)
            if not data:
                break
            recorded += data
            server.sendall(data)
    except OSError:
        pass
    done.set()
    with open(out, "wb") as f:
        f.write(recorded[:max_bytes])
    for s in (client, server, lsock):
        try:
            s.close()
        except OSError:
            pass
    print(f"recorded {min(len(recorded), max_bytes)} bytes to {out}")


if __name__ == "__main__":
    main()
