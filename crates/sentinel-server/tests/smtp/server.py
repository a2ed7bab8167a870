"""A real SMTP server (aiosmtpd) for crates/sentinel-server/tests/channels.rs.

Listens on 127.0.0.1 on a free port and prints "READY <port>" once it accepts connections. Every
message it accepts is parsed with Python's email package and written as JSON to --out (one file
per message, written atomically), so the test can check headers and MIME parts. Recipients
starting with "unknown@" are refused with 550. Exits when its standard input closes, so it never
outlives the test.

Modes: plain (no TLS), starttls (STARTTLS required before MAIL), tls (TLS from the first byte).
With --user and --password, AUTH is required (and, in starttls mode, only after STARTTLS).
"""

import argparse
import asyncio
import email
import email.policy
import json
import logging
import os
import ssl
import sys
import threading
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Recorder:
    def __init__(self, out):
        self.out = out
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("unknown@"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        parts = []
        if msg.is_multipart():
            for part in msg.iter_parts():
                parts.append({"content_type": part.get_content_type(), "content": part.get_content()})
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "date": str(msg["Date"]),
            "message_id": str(msg["Message-ID"]),
            "content_type": msg.get_content_type(),
            "parts": parts,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "authenticated": bool(session.authenticated),
            "login": session.auth_data if isinstance(session.auth_data, str) else None,
        }
        self.count += 1
        path = os.path.join(self.out, "%03d.json" % self.count)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(path + ".tmp", path)
        return "250 2.0.0 OK: queued"


async def main():
    # aiosmtpd warns about AUTH without STARTTLS (intended in tls mode) and its own deprecations.
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["plain", "starttls", "tls"], required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    context = None
    if args.mode != "plain":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    def authenticator(server, session, envelope, mechanism, data):
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == args.user
            and data.password.decode() == args.password
        )
        return AuthResult(success=ok, auth_data=data.login.decode() if ok else None)

    handler = Recorder(args.out)

    def factory():
        options = {"hostname": "smtp.sentinel.test"}
        if args.mode == "starttls":
            options.update(tls_context=context, require_starttls=True)
        if args.user is not None:
            # aiosmtpd only knows about STARTTLS; with TLS from the first byte the connection is
            # encrypted all the same.
            options.update(
                authenticator=authenticator,
                auth_required=True,
                auth_require_tls=args.mode == "starttls",
            )
        return SMTP(handler, **options)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory, "127.0.0.1", 0, ssl=context if args.mode == "tls" else None
    )
    port = server.sockets[0].getsockname()[1]
    print("READY %d" % port, flush=True)

    def exit_when_stdin_closes():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
