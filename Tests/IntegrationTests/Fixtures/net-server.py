#!/usr/bin/env python3
"""The far end for the network tests, on one address: an HTTP server (GET /hello,
GET /bytes?n=N: N bytes of a fixed pseudo-random stream, GET /bytes-sha?n=N: their
SHA-256, PUT /sha256: the SHA-256 of the body, GET /open: connections open on the hold
port, PUT /sink?tag=T&pace=slow|stall: a body read slowly (64 KiB per 2 ms) or only once
GET /sink?tag=T asks, which answers "BYTES SHA256 END" for it, END being whole (all of
Content-Length), FIN (fewer, then the end of the stream) or RST), a UDP echo, a DNS server (svc.test -> ADDR itself, A or AAAA as ADDR is; anything else NXDOMAIN) and a
hold port (accepts and keeps connections until the peer closes).
usage: net-server.py ADDR   prints "HTTP UDP DNS HOLD" ports once listening (ADDR may be IPv6)."""
import hashlib, os, socket, socketserver, struct, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

addr = sys.argv[1]
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
block = hashlib.sha256(b"rootless").digest() * 32768  # 1 MiB, fixed

def stream(n):
    while n > 0:
        k = min(n, len(block))
        yield block[:k]
        n -= k

held = 0
lock = threading.Lock()
sinks = {}  # tag -> {"asked": Event, "done": Event, "result": bytes}

def sink(tag):
    with lock: return sinks.setdefault(tag, {"asked": threading.Event(), "done": threading.Event(), "result": b""})

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        if u.path == "/hello": return self.reply(b"hello-from-server\n")
        if u.path == "/open":
            with lock: return self.reply(b"%d\n" % held)
        if u.path == "/sink":
            k = sink(q.get("tag", [""])[0])
            k["asked"].set()
            return self.reply(k["result"] if k["done"].wait(60) else b"none\n")
        n = int(q.get("n", ["0"])[0])
        if u.path == "/bytes-sha":
            h = hashlib.sha256()
            for c in stream(n): h.update(c)
            return self.reply(h.hexdigest().encode() + b"\n")
        if u.path == "/bytes":
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            for c in stream(n): self.wfile.write(c)
            return
        self.send_error(404)
    def do_PUT(self):
        u = urlparse(self.path)
        if u.path == "/sink": return self.sink(parse_qs(u.query))
        n = int(self.headers.get("Content-Length", "0"))
        h = hashlib.sha256()
        while n > 0:
            c = self.rfile.read(min(n, 1 << 20))
            if not c: break
            h.update(c)
            n -= len(c)
        self.reply(h.hexdigest().encode() + b"\n")

    def sink(self, q):
        k = sink(q.get("tag", [""])[0])
        if q.get("pace", [""])[0] == "stall": k["asked"].wait(60)
        want, got, end, h = int(self.headers.get("Content-Length", "0")), 0, "whole", hashlib.sha256()
        try:
            while got < want:
                c = self.rfile.read1(min(want - got, 65536))
                if not c:
                    end = "FIN"
                    break
                h.update(c)
                got += len(c)
                if q.get("pace", [""])[0] == "slow": threading.Event().wait(0.002)
        except ConnectionResetError:
            end = "RST"
        k["result"] = b"%d %s %s\n" % (got, h.hexdigest().encode(), end.encode())
        k["done"].set()
        self.close_connection = True

class Hold(socketserver.BaseRequestHandler):
    def handle(self):
        global held
        with lock: held += 1
        try:
            while self.request.recv(65536): pass
        finally:
            with lock: held -= 1

def dns_answer(q):
    if len(q) < 12: return None
    tid, flags, qd = struct.unpack(">HHH", q[:6])
    i, labels = 12, []
    while i < len(q) and q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode(errors="replace")); i += 1 + q[i]
    question = q[12:i + 5]
    qtype = struct.unpack(">H", q[i + 1:i + 3])[0] if i + 3 <= len(q) else 0
    name = ".".join(labels).lower()
    if name == "svc.test":
        # The server's own address, as an A record (IPv4) or AAAA (IPv6); the other
        # type: no records (the name exists).
        if qtype == (1 if family == socket.AF_INET else 28):
            data = socket.inet_pton(family, addr)
            ans = b"\xc0\x0c" + struct.pack(">HHIH", qtype, 1, 60, len(data)) + data
            return struct.pack(">HHHHHH", tid, 0x8180, 1, 1, 0, 0) + question + ans
        return struct.pack(">HHHHHH", tid, 0x8180, 1, 0, 0, 0) + question
    return struct.pack(">HHHHHH", tid, 0x8183, 1, 0, 0, 0) + question

def udp_loop(s, answer):
    while True:
        d, peer = s.recvfrom(65535)
        r = answer(d)
        if r is not None: s.sendto(r, peer)

class TS(ThreadingHTTPServer):
    address_family = family
    daemon_threads = True
    request_queue_size = 512
http = TS((addr, 0), H)
class HS(socketserver.ThreadingTCPServer):
    address_family = family
    daemon_threads = True
    request_queue_size = 1024
hold = HS((addr, 0), Hold)
u = socket.socket(family, socket.SOCK_DGRAM); u.bind((addr, 0))
d = socket.socket(family, socket.SOCK_DGRAM); d.bind((addr, 0))
for t in [lambda: http.serve_forever(), lambda: hold.serve_forever(), lambda: udp_loop(u, lambda x: x), lambda: udp_loop(d, dns_answer)]:
    threading.Thread(target=t, daemon=True).start()
print(http.server_address[1], u.getsockname()[1], d.getsockname()[1], hold.server_address[1], flush=True)
threading.Event().wait()
