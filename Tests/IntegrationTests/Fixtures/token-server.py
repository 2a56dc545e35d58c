#!/usr/bin/env python3
"""A distribution-spec token server for the pull tests: GET /token?service=S&scope=S
with HTTP basic credentials USER:PASS (argv) answers {"token": JWT}, an RS256 JWT whose
x5c chain is the certificate the registry trusts (its auth.token.rootcertbundle).
Anonymous requests get 401. Prints its port on stdout once listening.
usage: token-server.py KEY.pem CERT.pem USER PASS ISSUER"""
import base64, json, sys, time, os
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlparse, parse_qs
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography import x509

key = serialization.load_pem_private_key(open(sys.argv[1], 'rb').read(), None)
cert = x509.load_pem_x509_certificate(open(sys.argv[2], 'rb').read())
user, password, issuer = sys.argv[3], sys.argv[4], sys.argv[5]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b'=').decode()

def token(service, scopes):
    access = []
    for s in scopes:
        kind, name, actions = s.split(':')[0], ':'.join(s.split(':')[1:-1]), s.split(':')[-1]
        access.append({"type": kind, "name": name, "actions": actions.split(',')})
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]}
    claims = {"iss": issuer, "sub": user, "aud": service, "exp": now + 300, "nbf": now - 10, "iat": now,
              "jti": os.urandom(8).hex(), "access": access}
    signing = b64(json.dumps(header).encode()) + '.' + b64(json.dumps(claims).encode())
    sig = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing + '.' + b64(sig)

class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        u = urlparse(self.path)
        want = 'Basic ' + base64.b64encode(f'{user}:{password}'.encode()).decode()
        if u.path != '/token' or self.headers.get('Authorization') != want:
            self.send_response(401); self.send_header('Content-Length', '0'); self.end_headers(); return
        q = parse_qs(u.query)
        body = json.dumps({"token": token(q.get('service', [''])[0], q.get('scope', []))}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

srv = HTTPServer(('127.0.0.1', 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
