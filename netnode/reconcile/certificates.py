"""Read and check the certificate files a topology names, before the host is touched.

Each file is read once; what is checked is what gets installed (its SHA-256 goes into
the desired host, and the driver installs only that content):

- a certificate (``keypair``): PEM with a certificate, optionally its chain, and one
  unencrypted private key that belongs to the first certificate;
- a CA (``ca``): PEM certificates that OpenSSL can load;
- a CRL (``crl``): a PEM certificate revocation list that OpenSSL can read.

Anything wrong is a ``TopologyError`` naming the field that points at the file (for
example ``load_balancers[0].listeners[1].default_tls_container_ref``): nothing on the
host has changed then.

Checked with a ``Verdicts`` (the host keeps one), a file that is as it was when it was
last checked (same device, inode, size, mtime and ctime) is neither read nor checked
again: every pass of the agent checks every file a topology names, and a certificate
check forks ``openssl`` twice. A file whose timestamps were younger than
``RACY_SECONDS`` when it was read could still change without changing them (file
system clocks tick coarsely): it is read and hashed again at its next check, and
checked again only if its content changed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import ssl
import subprocess
import time
from dataclasses import dataclass

from netnode.errors import MissingTool, Problem, TopologyError
from netnode.model.topology import Topology
from netnode.plan.tls_files import Kind, references

# A PEM bundle is a few KiB; anything much larger is not one.
MAX_SIZE = 1024 * 1024
PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.S)
KEY_LABELS = (b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY")
RACY_SECONDS = 2.0
# Files remembered at most (a node names a few dozen): beyond, the oldest half goes.
MAX_VERDICTS = 4096

# (device, inode, size, mtime_ns, ctime_ns)
Stamp = tuple[int, int, int, int, int]


@dataclass(frozen=True)
class Verdict:
    """What a file was when it was checked, and what the check found."""

    stamp: Stamp
    sha256: str
    problem: str | None  # None: good
    settled: bool  # its timestamps were older than RACY_SECONDS when it was read


class Verdicts:
    """The last check of each (file, kind), for ``check`` to reuse."""

    def __init__(self, racy_seconds: float = RACY_SECONDS) -> None:
        self.racy_seconds = racy_seconds
        self._known: dict[tuple[str, Kind], Verdict] = {}

    def get(self, path: str, kind: Kind) -> Verdict | None:
        return self._known.get((path, kind))

    def put(self, path: str, kind: Kind, verdict: Verdict) -> None:
        if len(self._known) >= MAX_VERDICTS:
            for key in list(self._known)[: MAX_VERDICTS // 2]:
                self._known.pop(key, None)
        self._known[(path, kind)] = verdict


def check(topo: Topology, verdicts: Verdicts | None = None) -> dict[str, str]:
    """file -> sha256 of every certificate file ``topo`` uses; raises TopologyError with
    one problem per field whose file is missing, unreadable or not what it must be.
    ``verdicts``: the earlier checks to reuse for files that did not change."""
    digests: dict[str, str] = {}
    found: dict[tuple[str, Kind], str | None] = {}
    problems: list[Problem] = []
    for ref in references(topo):
        key = (ref.file, ref.kind)
        if key not in found:
            found[key] = _check_file(ref.file, ref.kind, digests, verdicts)
        if found[key] is not None:
            problems.append(Problem(ref.field, f"{ref.file}: {found[key]}"))
    if problems:
        raise TopologyError(problems)
    return digests


def readable(topo: Topology) -> dict[str, str]:
    """file -> sha256 of the certificate files that can be read now, unchecked (for a
    destroy, which must work when they are gone)."""
    digests: dict[str, str] = {}
    for ref in references(topo):
        try:
            digests.setdefault(ref.file, hashlib.sha256(_read(ref.file)).hexdigest())
        except (OSError, ValueError):
            continue
    return digests


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        data = f.read(MAX_SIZE + 1)
    if len(data) > MAX_SIZE:
        raise ValueError(f"larger than {MAX_SIZE // 1024} KiB: not a PEM certificate file")
    return data


def _check_file(
    path: str, kind: Kind, digests: dict[str, str], verdicts: Verdicts | None = None
) -> str | None:
    """What is wrong with the file, or None (and its digest recorded)."""
    verdict = None if verdicts is None else _reuse(path, kind, verdicts)
    if verdict is None:
        known = None if verdicts is None else verdicts.get(path, kind)
        racy = RACY_SECONDS if verdicts is None else verdicts.racy_seconds
        try:
            verdict = _judge(path, kind, known, racy)
        except ValueError as exc:
            return str(exc)
        except OSError as exc:
            return f"cannot read it: {exc.strerror or exc}"
        if verdicts is not None:
            verdicts.put(path, kind, verdict)
    if verdict.problem is None:
        digests[path] = verdict.sha256
    return verdict.problem


def _stamp(path: str) -> Stamp:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _reuse(path: str, kind: Kind, verdicts: Verdicts) -> Verdict | None:
    """The last verdict on the file, if it is settled and the file did not change."""
    known = verdicts.get(path, kind)
    if known is None or not known.settled:
        return None
    try:
        return known if _stamp(path) == known.stamp else None
    except OSError:
        return None  # gone: _judge says why


def _judge(path: str, kind: Kind, known: Verdict | None, racy_seconds: float) -> Verdict:
    """Read and check the file (``known``: its last verdict, kept for the same content).
    Raises OSError or ValueError when it cannot be read."""
    now = time.time_ns()
    stamp = _stamp(path)
    data = _read(path)
    sha256 = hashlib.sha256(data).hexdigest()
    if known is not None and known.sha256 == sha256:
        problem = known.problem
    else:
        problem = {"keypair": _keypair, "ca": _ca, "crl": _crl}[kind](data)
    settled = now - max(stamp[3], stamp[4]) > racy_seconds * 1e9
    return Verdict(stamp, sha256, problem, settled)


def _blocks(data: bytes) -> list[tuple[bytes, bytes]]:
    return [(m[1], m[0]) for m in PEM_BLOCK.finditer(data)]


def _keypair(data: bytes) -> str | None:
    blocks = _blocks(data)
    certs = [b for label, b in blocks if label == b"CERTIFICATE"]
    keys = [b for label, b in blocks if label in KEY_LABELS]
    if (
        any(label == b"ENCRYPTED PRIVATE KEY" for label, _ in blocks)
        or b"Proc-Type: 4,ENCRYPTED" in data
    ):
        return (
            "its private key is encrypted and HAProxy cannot ask for the passphrase: "
            "store it unencrypted ('openssl pkey -in <file>' prints it decrypted)"
        )
    if not certs:
        return "no PEM certificate in it (expected the certificate, its chain and its private key)"
    if not keys:
        return (
            "no private key in it: a listener's or member's certificate file holds the "
            "certificate, its chain and the private key, in PEM"
        )
    if len(keys) > 1:
        return "more than one private key in it: keep only the certificate's"
    problem = _ca(data)
    if problem is not None:
        return problem
    cert_key = _openssl(["x509", "-noout", "-pubkey"], certs[0])
    if isinstance(cert_key, str):
        return f"its first certificate cannot be read: {cert_key}"
    private_key = _openssl(["pkey", "-pubout"], keys[0])
    if isinstance(private_key, str):
        return f"its private key cannot be read: {private_key}"
    if cert_key.strip() != private_key.strip():
        return (
            "its private key does not belong to its first certificate (put the "
            "certificate first, then its chain, then its key)"
        )
    return None


def _ca(data: bytes) -> str | None:
    certs = [b for label, b in _blocks(data) if label == b"CERTIFICATE"]
    if not certs:
        return "no PEM certificate in it"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=b"\n".join(certs).decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
        return f"its certificates cannot be read: {exc}"
    return None


def _crl(data: bytes) -> str | None:
    crls = [b for label, b in _blocks(data) if label == b"X509 CRL"]
    if not crls:
        return "no PEM certificate revocation list (X509 CRL) in it"
    for crl in crls:
        result = _openssl(["crl", "-noout"], crl)
        if isinstance(result, str):
            return f"its revocation list cannot be read: {result}"
    return None


def _openssl(args: list[str], pem: bytes) -> bytes | str:
    """``openssl <args>`` reading ``pem`` on stdin: its output, or its error as text."""
    binary = shutil.which("openssl")
    if binary is None:
        raise MissingTool("openssl", "openssl")
    result = subprocess.run(
        [binary, *args], input=pem, capture_output=True, timeout=30, check=False
    )
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        return lines[0] if lines else f"openssl {args[0]} failed"
    return result.stdout
