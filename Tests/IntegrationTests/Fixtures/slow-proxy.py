#!/usr/bin/env python3
"""A TCP forwarder to 127.0.0.1:PORT that sends the server's bytes at RATE bytes/s, so a
pull test can SIGKILL a download half-way on purpose. Prints its own port once listening.
usage: slow-proxy.py PORT RATE"""
import socket, sys, threading, time

target, rate = int(sys.argv[1]), int(sys.argv[2])

def pump(src, dst, limit):
    try:
        while True:
            b = src.recv(16384)
            if not b:
                break
            dst.sendall(b)
            if limit:
                time.sleep(len(b) / rate)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass

def serve(c):
    s = socket.create_connection(('127.0.0.1', target))
    threading.Thread(target=pump, args=(c, s, False), daemon=True).start()
    threading.Thread(target=pump, args=(s, c, True), daemon=True).start()

l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('127.0.0.1', 0))
l.listen(16)
print(l.getsockname()[1], flush=True)
while True:
    c, _ = l.accept()
    serve(c)
