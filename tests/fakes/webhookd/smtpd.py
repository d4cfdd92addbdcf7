#!/usr/bin/python3
"""smtpd.py -- SMTP servers for the alerting tests (Debian's python3-aiosmtpd).

    smtpd.py PORT DIR MODE [USER PASS]

MODE:
    save         accept every message; write DIR/<n>.eml (the DATA as received)
                 and DIR/<n>.json ({"mail_from", "rcpt_tos", "auth"}); n goes
                 on after the highest number already in DIR (a restart)
    auth         like save, but AUTH PLAIN/LOGIN is required and only USER/PASS
                 is accepted (no TLS needed: loopback tests)
    reject-auth  AUTH is offered and every credential is rejected (535)
    starttls     like save, but STARTTLS is offered and required before MAIL
                 (certificate and key: DIR/cert.pem, DIR/key.pem)
    drop         not aiosmtpd: a raw socket that greets (220), reads one line
                 and closes the connection (a server that goes away mid-session)
Prints "ready" on stdout once listening; runs until killed.
"""
import json
import logging
import os
import socket
import sys
import threading
import time
import warnings

warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)

PORT = int(sys.argv[1])
DIR = sys.argv[2]
MODE = sys.argv[3]
os.makedirs(DIR, exist_ok=True)

if MODE == "drop":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", PORT))
    s.listen(16)
    print("ready", flush=True)
    n = 0
    while True:
        c, _ = s.accept()
        n += 1
        with open(os.path.join(DIR, "drops.log"), "a") as f:
            f.write("connection %d\n" % n)
        try:
            c.sendall(b"220 localhost ESMTP going away\r\n")
            c.recv(1024)
        except OSError:
            pass
        c.close()

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

# numbering goes on after the files already in DIR (a restarted server)
counter = {"n": max([int(f[:4]) for f in os.listdir(DIR)
                     if f.endswith(".eml") and f[:4].isdigit()] or [0])}
lock = threading.Lock()


class Saver:
    async def handle_DATA(self, server, session, envelope):
        with lock:
            counter["n"] += 1
            n = counter["n"]
        base = os.path.join(DIR, "%04d" % n)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                "auth": bool(session.authenticated), "tls": session.ssl is not None}
        with open(base + ".json", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 Message accepted for delivery"


def make_auth(user, password):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (user is not None and auth_data is not None and
              getattr(auth_data, "login", None) == user.encode() and
              getattr(auth_data, "password", None) == password.encode())
        with open(os.path.join(DIR, "auth.log"), "a") as f:
            f.write("%s %s\n" % (mechanism, "ok" if ok else "rejected"))
        return AuthResult(success=ok, handled=False)
    return authenticator


kw = {}
if MODE in ("auth", "reject-auth"):
    user = sys.argv[4] if MODE == "auth" else None
    password = sys.argv[5] if MODE == "auth" else None
    kw = dict(authenticator=make_auth(user, password), auth_required=True,
              auth_require_tls=False)
if MODE == "starttls":
    import ssl
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(os.path.join(DIR, "cert.pem"), os.path.join(DIR, "key.pem"))
    kw = dict(tls_context=tls, require_starttls=True)
ctl = Controller(Saver(), hostname="127.0.0.1", port=PORT, **kw)
ctl.start()
print("ready", flush=True)
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    pass
finally:
    ctl.stop()
