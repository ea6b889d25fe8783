"""An SMTP server for the e-mail tests: aiosmtpd (Debian's python3-aiosmtpd), a real
SMTP implementation, on 127.0.0.1:PORT in one of three modes:

- starttls: offers STARTTLS, takes no command but EHLO/NOOP/QUIT before it, then needs
  AUTH (PLAIN or LOGIN) before MAIL;
- smtps: TLS from the first byte, then needs AUTH;
- plain: no TLS at all; offers AUTH in the clear but does not need it.

Each message received is written to DIR as N.eml (the bytes as received) with N.json
beside it (envelope sender and recipients, whether the session was encrypted, who signed
in); each AUTH attempt is appended to DIR/auth.log as `ok USER` or `refused USER`.
"""

import argparse
import asyncio
import itertools
import json
import os
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--mode", choices=["starttls", "smtps", "plain"], required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    args = parser.parse_args()

    context = None
    if args.mode != "plain":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    numbers = itertools.count(1)

    def write(name, data):
        path = os.path.join(args.dir, name)
        with open(path + ".tmp", "wb") as out:
            out.write(data)
        os.replace(path + ".tmp", path)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            number = next(numbers)
            write(f"{number}.eml", envelope.original_content)
            login = session.auth_data.login.decode() if session.authenticated else None
            record = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "encrypted": server.transport.get_extra_info("ssl_object") is not None,
                "login": login,
            }
            write(f"{number}.json", json.dumps(record).encode())
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == args.user
            and auth_data.password.decode() == args.password
        )
        user = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?"
        with open(os.path.join(args.dir, "auth.log"), "a") as log:
            log.write(f"{'ok' if ok else 'refused'} {user}\n")
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def protocol():
        return SMTP(
            Handler(),
            hostname="smtp.test",
            tls_context=context if args.mode == "starttls" else None,
            require_starttls=args.mode == "starttls",
            authenticator=authenticator,
            auth_required=args.mode != "plain",
            # Implicit TLS is encrypted from the start; plain mode offers AUTH in the clear
            # so that a client that would send credentials unencrypted can be caught.
            auth_require_tls=args.mode == "starttls",
        )

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            protocol,
            "127.0.0.1",
            args.port,
            ssl=context if args.mode == "smtps" else None,
        )
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
