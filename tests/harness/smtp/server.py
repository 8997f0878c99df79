"""A real SMTP server for the tests (Debian's python3-aiosmtpd).

Usage: server.py PORT OUT_DIR [--auth USER PASSWORD] [--starttls CERT KEY | --tls CERT KEY]
Every message is written to OUT_DIR/<n>.json as {"from", "to", "login", "data"}; every
AUTH attempt appends one line to OUT_DIR/auth.log: "<tls|plain> <login>".
--auth: AUTH PLAIN/LOGIN is offered and required (over plain text too unless TLS is on).
--starttls: STARTTLS is offered and required before anything else (require_starttls),
  AUTH only after it. --tls: implicit TLS from the first byte (port 465 style).
Prints "ready" once listening; runs until killed.
"""
import argparse
import json
import os
import signal
import ssl

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, out):
        self.out = out
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        login = None
        if session.auth_data is not None:
            login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else str(session.auth_data)
        record = {
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "login": login,
            "data": envelope.content.decode("utf-8", "replace"),
        }
        tmp = os.path.join(self.out, ".%d.tmp" % self.count)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.out, "%d.json" % self.count))
        return "250 Message accepted"


def server_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("out")
    parser.add_argument("--auth", nargs=2, metavar=("USER", "PASSWORD"))
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    mode.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = parser.parse_args()

    kwargs = {}
    implicit = None
    if args.starttls:
        kwargs.update(tls_context=server_context(*args.starttls), require_starttls=True)
    if args.tls:
        implicit = server_context(*args.tls)
    if args.auth:
        user, password = args.auth[0].encode(), args.auth[1].encode()
        auth_log = os.path.join(args.out, "auth.log")

        def authenticator(server, session, envelope, mechanism, auth_data):
            login = auth_data.login.decode("utf-8", "replace") if isinstance(auth_data, LoginPassword) else "?"
            over_tls = implicit is not None or session.ssl is not None
            with open(auth_log, "a") as f:
                f.write("%s %s\n" % ("tls" if over_tls else "plain", login))
            ok = isinstance(auth_data, LoginPassword) and auth_data.login == user and auth_data.password == password
            return AuthResult(success=ok, auth_data=auth_data if ok else None)

        # With STARTTLS, aiosmtpd's default (AUTH only once TLS is on) applies; with implicit
        # TLS it cannot tell the connection is encrypted, and without TLS AUTH is in the clear.
        kwargs.update(authenticator=authenticator, auth_required=True,
                      auth_require_tls=bool(args.starttls))
    controller = Controller(Handler(args.out), hostname="127.0.0.1", port=args.port,
                            ssl_context=implicit, **kwargs)
    controller.start()
    print("ready", flush=True)
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    controller.stop()


if __name__ == "__main__":
    main()
