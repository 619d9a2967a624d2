"""Test certificates made with the ``openssl`` command line, in a temporary directory.

``Certs`` holds a CA, server certificates for a default name and two SNI names, a
client certificate signed by the CA and one signed by another CA, each written as the
PEM bundles netnode's topology references (certificate, chain, private key) and
separately where a test client needs them. EC P-256 keys: fast to make.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

DAYS = "2"


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    result = subprocess.run(
        ["openssl", *args], input=stdin, capture_output=True, check=False, timeout=30
    )
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {result.stderr.decode(errors='replace')}")
    return result.stdout


@dataclass(frozen=True)
class Pair:
    """A certificate and its key, and the bundle netnode reads (cert, chain, key)."""

    cert: Path
    key: Path
    bundle: Path
    # The signing CA's certificate.
    ca: Path


class Authority:
    """A CA in ``directory``: signs server and client certificates."""

    def __init__(self, directory: Path, name: str) -> None:
        self.dir = directory
        self.name = name
        self.key = directory / f"{name}.key"
        self.cert = directory / f"{name}.crt"
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(self.key), "-out", str(self.cert),
            "-subj", f"/O=netnode tests/CN={name}", "-days", DAYS,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        self._serial = 1

    def issue(self, name: str, cn: str, *, client: bool = False) -> Pair:
        """A certificate for ``cn`` (server: with ``cn`` as its DNS name)."""
        key = self.dir / f"{name}.key"
        csr = self.dir / f"{name}.csr"
        cert = self.dir / f"{name}.crt"
        ext = self.dir / f"{name}.ext"
        usage = "clientAuth" if client else "serverAuth"
        lines = ["basicConstraints=CA:FALSE", f"extendedKeyUsage={usage}"]
        if not client:
            lines.append(f"subjectAltName=DNS:{cn}")
        ext.write_text("\n".join(lines) + "\n")
        _openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/O=netnode tests/CN={cn}",
        )  # fmt: skip
        self._serial += 1
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
            "-set_serial", str(self._serial), "-days", DAYS, "-extfile", str(ext),
            "-out", str(cert),
        )  # fmt: skip
        bundle = self.dir / f"{name}.pem"
        bundle.write_bytes(cert.read_bytes() + self.cert.read_bytes() + key.read_bytes())
        bundle.chmod(0o600)
        return Pair(cert, key, bundle, self.cert)

    def crl(self, name: str, revoked: list[Pair] = ()) -> Path:  # type: ignore[assignment]
        """A CRL signed by this CA revoking ``revoked``."""
        work = self.dir / f"{name}.ca"
        work.mkdir()
        index = work / "index.txt"
        index.write_text("")
        (work / "crlnumber").write_text("01\n")
        config = work / "ca.cnf"
        config.write_text(
            "[ca]\ndefault_ca = test\n[test]\n"
            f"database = {index}\ncrlnumber = {work / 'crlnumber'}\n"
            f"certificate = {self.cert}\nprivate_key = {self.key}\n"
            "default_md = sha256\ndefault_crl_days = 2\n"
        )
        for pair in revoked:
            _openssl("ca", "-config", str(config), "-revoke", str(pair.cert))
        out = self.dir / f"{name}.crl.pem"
        _openssl("ca", "-config", str(config), "-gencrl", "-out", str(out))
        return out


@dataclass(frozen=True)
class Certs:
    dir: Path
    ca: Authority
    other_ca: Authority
    default: Pair  # CN default.example
    sni_a: Pair  # CN a.example
    sni_b: Pair  # CN b.example
    member: Pair  # CN member.example (the lab instances' HTTPS)
    client: Pair  # CN client-1, signed by ca
    stranger: Pair  # CN stranger, signed by other_ca


def make_certs(directory: Path) -> Certs:
    directory.mkdir(parents=True, exist_ok=True)
    ca = Authority(directory, "ca")
    other = Authority(directory, "other-ca")
    return Certs(
        dir=directory,
        ca=ca,
        other_ca=other,
        default=ca.issue("default", "default.example"),
        sni_a=ca.issue("sni-a", "a.example"),
        sni_b=ca.issue("sni-b", "b.example"),
        member=ca.issue("member", "member.example"),
        client=ca.issue("client", "client-1", client=True),
        stranger=other.issue("stranger", "stranger", client=True),
    )
