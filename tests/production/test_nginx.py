"""deploy/nginx.conf in front of two gunicorn servers, as the README's Production section says:
the file itself (only ports, certificate and paths swapped for this machine's) must load in
Debian's nginx, redirect http to https, serve the static files, and pass on what the app needs
to know it is behind https (secure cookies, HSTS, the request id)."""

import datetime as dt
import http.client
import ipaddress
import os
import re
import secrets
import shutil
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from eventreg.extensions import db
from tests.conftest import ROOT
from tests.factories import make_event
from tests.production.stack import (
    Process,
    only_on_postgres,
    run_migrations,
    start_app_servers,
    wait_for,
)
from tests.smtp_server import free_port

pytestmark = [only_on_postgres, pytest.mark.slow]
HOST = "events.example.org"
NGINX = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")


def self_signed(tmp_path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        # The tests connect to 127.0.0.1 (and send Host: events.example.org).
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_path), str(key_path)


def site_config(app_ports: list[int], http_port: int, https_port: int, cert: str, key: str) -> str:
    """deploy/nginx.conf with this machine's ports and paths; each swap must find its line, so a
    change to the file that the test no longer covers fails here."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    swaps = [
        (r"    server 127\.0\.0\.1:8000;\n", "".join(f"    server 127.0.0.1:{p};\n" for p in app_ports)),
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        (r"ssl_certificate     \S+;", f"ssl_certificate {cert};"),
        (r"ssl_certificate_key \S+;", f"ssl_certificate_key {key};"),
        (r"alias /srv/eventreg/static/;", f"alias {ROOT / 'static'}/;"),
    ]
    for pattern, replacement in swaps:
        text, count = re.subn(pattern, lambda _m, r=replacement: r, text)
        assert count == 1, f"deploy/nginx.conf: {pattern!r} found {count} times"
    return text


def start_nginx(site: str, tmp_path) -> Process:
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include /etc/nginx/mime.types;\n  include {tmp_path}/site.conf;\n"
        f"  client_body_temp_path {tmp_path};\n  proxy_temp_path {tmp_path};\n}}\n"
    )
    return Process(
        "nginx", [NGINX, "-p", str(tmp_path), "-c", "nginx.conf", "-g", "daemon off;"], {}, tmp_path
    )


def https(port: int, cert: str, *, source: str | None = None):
    context = ssl.create_default_context(cafile=cert)
    address = (source, 0) if source else None
    return http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30, source_address=address)


def get(conn, path: str, **headers):
    conn.request("GET", path, headers={"Host": HOST, **headers})
    response = conn.getresponse()
    return response, response.read()


def test_nginx_with_the_example_config_serves_the_app_over_https(
    production_env, local_app, processes, tmp_path
):
    if NGINX is None:
        pytest.fail("nginx is not installed (apt-get install nginx; .ci/run does)")
    env = production_env
    run_migrations(env, tmp_path)
    with local_app.app_context():
        make_event("forum", prices=(0,))
        db.session.commit()
        db.session.remove()
    app_ports = [port for _, port in start_app_servers(env, tmp_path, processes)]
    cert, key = self_signed(tmp_path)
    http_port, https_port = free_port(), free_port()
    nginx = start_nginx(site_config(app_ports, http_port, https_port, cert, key), tmp_path)
    processes.append(nginx)

    def answers() -> bool:
        conn = https(https_port, cert)
        try:
            return get(conn, "/healthz")[0].status == 200
        except OSError:
            return False
        finally:
            conn.close()

    wait_for(answers, timeout=30, what="nginx on https", processes=[nginx])

    plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
    r, _ = get(plain, "/events/forum?x=1")
    assert (r.status, r.getheader("Location")) == (301, f"https://{HOST}/events/forum?x=1")

    conn = https(https_port, cert)  # verified against our certificate
    r, body = get(conn, "/events/forum")
    assert r.status == 200 and b"<html" in body
    assert "max-age" in (r.getheader("Strict-Transport-Security") or "")  # the app knows it is https
    assert re.fullmatch(r"[0-9a-f]{32}", r.getheader("X-Request-ID") or ""), "nginx's $request_id"
    r, _ = get(conn, "/login")
    cookie = r.getheader("Set-Cookie") or ""
    assert r.status == 200 and "Secure" in cookie and "HttpOnly" in cookie

    r, css = get(conn, "/static/css/app.css")  # from disk, by nginx
    assert r.status == 200 and css == (ROOT / "static" / "css" / "app.css").read_bytes()
    assert "public" in r.getheader("Cache-Control") and r.getheader("Expires")

    # The app counts the address nginx saw: a client that makes up X-Forwarded-For headers to
    # look like many people still collects its 404s under its own address (60 a minute).
    # It connects from an address of its own on the loopback network: the counters are in Redis,
    # shared with the other production tests, whose requests come from 127.0.0.1.
    guesser = https(https_port, cert, source=f"127.{secrets.randbelow(250) + 1}.{secrets.randbelow(256)}.2")
    for i in range(60):
        r, _ = get(guesser, f"/tickets/guess-{i}", **{"X-Forwarded-For": f"203.0.113.{i}"})
        assert r.status == 404
    r, _ = get(guesser, "/tickets/guess-60", **{"X-Forwarded-For": "198.51.100.1"})
    assert r.status == 429
    for c in (guesser, conn, plain):
        c.close()
