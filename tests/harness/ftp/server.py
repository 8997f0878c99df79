"""A throwaway pyftpdlib server for sauvegarde's FTP tests.

usage: server.py PORT ROOT USER PASSWORD PASV_PORTS [CERTFILE]

PASV_PORTS is a comma-separated list of passive data ports. With CERTFILE (cert + key PEM),
explicit TLS is REQUIRED on both control and data connections; without it, the server has
no TLS at all (AUTH TLS is answered 500). Binds 127.0.0.1 only.
"""
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main():
    port, root, user, password, pasv = sys.argv[1:6]
    certfile = sys.argv[6] if len(sys.argv) > 6 else None
    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, root, perm="elradfmwMT")
    if certfile:
        from pyftpdlib.handlers import TLS_FTPHandler

        handler = TLS_FTPHandler
        handler.certfile = certfile
        handler.tls_control_required = True
        handler.tls_data_required = True
    else:
        handler = FTPHandler
    handler.authorizer = authorizer
    handler.passive_ports = [int(p) for p in pasv.split(",")]
    handler.masquerade_address = "127.0.0.1"
    handler.banner = "sauvegarde test pyftpdlib"
    server = FTPServer(("127.0.0.1", int(port)), handler)
    server.max_cons = 64
    server.serve_forever()


if __name__ == "__main__":
    main()
