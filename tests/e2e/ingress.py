"""A stand-in for an Ingress controller on the real tier: the host's nginx, configured from the
chart's Ingress object as the API server holds it.

The local cluster of `make e2e` has no Ingress controller, and building one (ingress-nginx is a Go
controller around an nginx image that cannot be pulled here) costs more than the test it serves.
What a controller does for the webhook route is small, and this module does exactly that: read an
Ingress of its class, resolve each path's backend Service to its ClusterIP and port, take the
certificate from the Secret the Ingress's `tls` names, and serve those routes with the real nginx
(Debian's package), terminating TLS. nginx reaches the ClusterIPs through kube-proxy's rules on the
host, as a controller pod would through its own. It runs as an unprivileged process on a free high
port, with its configuration, certificate and logs in a directory of its own; its access log says,
per request, which upstream (ClusterIP:port) answered with which status.

The certificate comes from `TestCA`, a CA the test makes with openssl: the fake Telegram trusts
that CA only (`FakeTelegram.deliver_over`), as Telegram trusts the public CAs.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.processes import end

NGINX = "/usr/sbin/nginx"
UNPRIVILEGED = "nobody"  # the user nginx runs as when the tests run as root


@dataclass(frozen=True)
class Route:
    """One path of an Ingress rule, its backend resolved to the address kube-proxy serves."""

    host: str
    path: str
    path_type: str  # Prefix | Exact
    upstream: str  # <ClusterIP>:<port>


@dataclass(frozen=True)
class Certificate:
    """PEM certificate chain and key of one Ingress `tls` entry."""

    hosts: tuple[str, ...]
    cert: bytes
    key: bytes


def routes(ingress: dict[str, Any], service: Callable[[str], dict[str, Any] | None]) -> list[Route]:
    """The Ingress's rules as nginx needs them; `service(name)` reads a Service of its namespace.

    A backend that names a missing Service, a headless one or a port it does not have is an
    error (a controller would answer 503 for that path; the test wants to know why).
    """
    found: list[Route] = []
    for rule in ingress["spec"].get("rules") or []:
        host = rule.get("host") or ""
        for entry in (rule.get("http") or {}).get("paths") or []:
            path_type = entry.get("pathType", "Prefix")
            if path_type not in ("Prefix", "Exact"):
                raise ValueError(f"pathType {path_type!r} of {entry.get('path')!r} is not served here")
            backend = entry["backend"]["service"]
            svc = service(backend["name"])
            if svc is None:
                raise ValueError(f"the backend Service {backend['name']!r} does not exist")
            cluster_ip = svc["spec"].get("clusterIP")
            if not cluster_ip or cluster_ip == "None":
                raise ValueError(f"the backend Service {backend['name']!r} has no ClusterIP")
            wanted = backend["port"]
            ports = [
                p["port"]
                for p in svc["spec"].get("ports") or []
                if p.get("name") == wanted.get("name") or p.get("port") == wanted.get("number")
            ]
            if not ports:
                raise ValueError(f"the Service {backend['name']!r} has no port {wanted}")
            found.append(Route(host, entry["path"], path_type, f"{cluster_ip}:{ports[0]}"))
    return found


def certificates(
    ingress: dict[str, Any], secret: Callable[[str], dict[str, Any] | None]
) -> list[Certificate]:
    """The `tls` entries of the Ingress, each with its kubernetes.io/tls Secret's chain and key."""
    found: list[Certificate] = []
    for entry in ingress["spec"].get("tls") or []:
        obj = secret(entry["secretName"])
        if obj is None:
            raise ValueError(f"the TLS Secret {entry['secretName']!r} does not exist")
        data = obj.get("data") or {}
        if "tls.crt" not in data or "tls.key" not in data:
            raise ValueError(f"the Secret {entry['secretName']!r} has no tls.crt and tls.key")
        found.append(
            Certificate(
                tuple(entry.get("hosts") or ()),
                base64.b64decode(data["tls.crt"]),
                base64.b64decode(data["tls.key"]),
            )
        )
    return found


def _locations(route: Route) -> list[str]:
    """nginx locations for one path. Kubernetes' Prefix matches whole path elements: `/a/b/` and
    `/a/b` both match `/a/b` and `/a/b/c`, never `/a/bc`."""
    if route.path_type == "Exact":
        return [f"= {route.path}"]
    stem = route.path.rstrip("/")
    return [f"= {stem or '/'}", f"^~ {stem}/"] if stem else ["/"]


def render(
    listen: str, port: int, served: list[Route], certs: dict[str, tuple[Path, Path]], directory: Path
) -> str:
    """nginx.conf: one TLS server per host (its certificate from `certs[host]`), each route proxied
    to its upstream with the headers a controller sets; anything else is a 404 from nginx itself."""
    hosts = sorted({r.host for r in served})
    missing = [h for h in hosts if h not in certs]
    if missing:
        raise ValueError(f"no TLS certificate for host(s) {missing}: Telegram delivers over HTTPS only")
    default_cert, default_key = certs[hosts[0]] if hosts else next(iter(certs.values()))
    temp = directory / "temp"
    lines = [
        "daemon off;",
        "worker_processes 1;",
        f"pid {directory / 'nginx.pid'};",
        f"error_log {directory / 'error.log'} info;",  # info: failed TLS handshakes too
        "events { worker_connections 128; }",
        "http {",
        '  log_format routed escape=json \'{"at":$msec,"host":"$host","method":"$request_method",'
        '"uri":"$request_uri","status":$status,"seconds":$request_time,"upstream":"$upstream_addr",'
        '"upstream_status":"$upstream_status","upstream_connect":"$upstream_connect_time"}\';',
        f"  access_log {directory / 'access.log'} routed;",
        *(
            f"  {kind}_temp_path {temp / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
        "  server {",  # an unknown host: nginx's own 404, like a controller's default backend
        f"    listen {listen}:{port} ssl default_server;",
        f"    ssl_certificate {default_cert};",
        f"    ssl_certificate_key {default_key};",
        "    return 404;",
        "  }",
    ]
    for host in hosts:
        cert, key = certs[host]
        lines += [
            "  server {",
            f"    listen {listen}:{port} ssl;",
            f"    server_name {host};",
            f"    ssl_certificate {cert};",
            f"    ssl_certificate_key {key};",
        ]
        for route in (r for r in served if r.host == host):
            for location in _locations(route):
                lines += [
                    f"    location {location} {{",
                    f"      proxy_pass http://{route.upstream};",
                    "      proxy_set_header Host $host;",
                    "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
                    "      proxy_set_header X-Forwarded-Proto https;",
                    "      proxy_connect_timeout 5s;",
                    "    }",
                ]
        lines += ["    location / { return 404; }", "  }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {proc.stderr.strip()}")


class TestCA:
    """A throwaway certificate authority (openssl, P-256), valid for a day, in `directory`."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cert = directory / "ca.crt"
        self._key = directory / "ca.key"
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(self._key), "-out", str(self.cert), "-days", "1",
            "-subj", "/CN=booking-saas e2e test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=directory,
        )  # fmt: skip

    def issue(self, host: str) -> tuple[bytes, bytes]:
        """(certificate, key) in PEM for a TLS server named `host`."""
        name = f"server-{secrets.token_hex(4)}"
        key, csr, cert, ext = (self.directory / f"{name}.{s}" for s in ("key", "csr", "crt", "ext"))
        ext.write_text(
            f"subjectAltName=DNS:{host}\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        )
        _openssl(
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={host}",
            cwd=self.directory,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self._key),
            "-set_serial", str(secrets.randbits(63)), "-days", "1", "-out", str(cert), "-extfile", str(ext),
            cwd=self.directory,
        )  # fmt: skip
        return cert.read_bytes(), key.read_bytes()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class Nginx:
    """The real nginx serving `served` routes on `listen:port` over TLS, until `stop()`."""

    def __init__(self, listen: str, port: int) -> None:
        self.listen = listen
        self.port = port
        # Not under pytest's tmp_path: its parents are private to root, and nginx runs as nobody.
        self.directory = Path(tempfile.mkdtemp(prefix="booking-e2e-nginx-"))
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, served: list[Route], certs: list[Certificate], timeout: float = 20) -> Nginx:
        if not Path(NGINX).exists():
            raise RuntimeError(f"{NGINX} is missing: install Debian's nginx (.ci/run does)")
        files: dict[str, tuple[Path, Path]] = {}
        for index, cert in enumerate(certs):
            chain, key = self.directory / f"tls-{index}.crt", self.directory / f"tls-{index}.key"
            chain.write_bytes(cert.cert)
            key.write_bytes(cert.key)
            key.chmod(0o600)
            files.update({host: (chain, key) for host in cert.hosts})
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.directory / "temp" / kind).mkdir(parents=True, exist_ok=True)
        conf = self.directory / "nginx.conf"
        conf.write_text(render(self.listen, self.port, served, files, self.directory))
        command = [NGINX, "-p", str(self.directory), "-c", str(conf), "-e", str(self.directory / "error.log")]
        if os.geteuid() == 0:
            user = pwd.getpwnam(UNPRIVILEGED)
            for path in [self.directory, *self.directory.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
            command = ["runuser", "-u", UNPRIVILEGED, "--", *command]
        self._proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise RuntimeError(f"nginx exited with {self._proc.returncode}: {err}{self.error_log()}")
            with socket.socket() as probe:
                if probe.connect_ex((self.listen, self.port)) == 0:
                    return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not listen within {timeout}s: {self.error_log()}")
            time.sleep(0.05)

    @property
    def config(self) -> str:
        return (self.directory / "nginx.conf").read_text()

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""

    def requests(self) -> list[dict[str, Any]]:
        """The access log: host, method, uri, status, upstream (ClusterIP:port or empty), upstream_status."""
        path = self.directory / "access.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        end(self._proc)
        if self._proc is not None and self._proc.stderr is not None:
            self._proc.stderr.close()
        shutil.rmtree(self.directory, ignore_errors=True)
