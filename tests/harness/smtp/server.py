"""A real SMTP server for the tests (Debian's python3-aiosmtpd).

Usage: server.py PORT OUT_DIR [USER PASSWORD]
Every message is written to OUT_DIR/<n>.json as {"from", "to", "login", "data"};
with USER and PASSWORD, AUTH PLAIN/LOGIN is offered (without TLS) and required.
Prints "ready" once listening; runs until killed.
"""
import json
import os
import signal
import sys

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


def main():
    port = int(sys.argv[1])
    out = sys.argv[2]
    kwargs = {}
    if len(sys.argv) >= 5:
        user, password = sys.argv[3].encode(), sys.argv[4].encode()

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login == user and auth_data.password == password
            return AuthResult(success=ok, auth_data=auth_data if ok else None)

        kwargs = dict(authenticator=authenticator, auth_require_tls=False, auth_required=True)
    controller = Controller(Handler(out), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print("ready", flush=True)
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    controller.stop()


if __name__ == "__main__":
    main()
