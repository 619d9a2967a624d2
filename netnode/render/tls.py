"""TLS in haproxy.cfg: the words and lines ``haproxy.py`` adds for it. Pure.

- TERMINATED_HTTPS listeners: ``bind ... ssl crt <default> crt <sni>...`` (HAProxy
  serves the first ``crt`` to a client whose SNI matches no certificate's names, and
  picks the others by the name asked), client authentication (``verify optional|required
  ca-file ... crl-file ...``), ciphers, versions and ALPN; the X-SSL-* headers as
  Octavia's amphora renders them, X-Forwarded-Proto https, and HSTS;
- pools with ``tls_enabled`` (re-encryption): ``ssl`` on every server, verified against
  ``ca_tls_container_ref`` (else ``verify none``), with a client certificate, CRL,
  ciphers, versions and ALPN towards the members;
- HTTPS monitors check over TLS without verifying (``check-ssl verify none``, as
  Octavia); TLS-HELLO monitors send a hello (``option ssl-hello-chk``), or on a
  re-encrypting pool make the whole handshake the check (its servers check over TLS).

The topology names files (``*_container_ref``); HAProxy reads copies of them that the
reconcile layer installed. ``files`` maps each reference to the path of its copy (a
reference missing from it is written as it is). Every value comes from the model, whose
patterns keep out spaces, quotes, '#' and newlines; paths are checked again here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from netnode.model.topology import SSL_CLIENT_HEADERS, HealthMonitor, Listener, Pool

Files = Mapping[str, str]

# The model's version names (Octavia's) as HAProxy's ssl-min-ver/ssl-max-ver take them,
# oldest first.
HAPROXY_VERSIONS = {
    "SSLv3": "SSLv3",
    "TLSv1": "TLSv1.0",
    "TLSv1.1": "TLSv1.1",
    "TLSv1.2": "TLSv1.2",
    "TLSv1.3": "TLSv1.3",
}
VERIFY = {"OPTIONAL": "optional", "MANDATORY": "required"}

# Octavia's X-SSL-* headers: the HAProxy sample each one carries (%{+Q}: quoted, since a
# DN holds commas and spaces).
SSL_HEADER_VALUES = {
    "X-SSL-Client-Verify": "%[ssl_c_verify]",
    "X-SSL-Client-Has-Cert": "%[ssl_c_used]",
    "X-SSL-Client-DN": "%{+Q}[ssl_c_s_dn]",
    "X-SSL-Client-CN": "%{+Q}[ssl_c_s_dn(cn)]",
    "X-SSL-Issuer": "%{+Q}[ssl_c_i_dn]",
    "X-SSL-Client-SHA1": "%{+Q}[ssl_c_sha1,hex]",
    "X-SSL-Client-Not-Before": "%{+Q}[ssl_c_notbefore]",
    "X-SSL-Client-Not-After": "%{+Q}[ssl_c_notafter]",
}
assert tuple(SSL_HEADER_VALUES) == SSL_CLIENT_HEADERS


def terminates(listener: Listener) -> bool:
    return listener.protocol == "TERMINATED_HTTPS"


def path_of(ref: str, files: Files) -> str:
    """Where HAProxy reads the file the topology calls ``ref``."""
    path = files.get(ref, ref)
    if not path.startswith("/") or any(c.isspace() or c in "\"'#\\$," for c in path):
        raise ValueError(f"unusable file path for haproxy.cfg: {path!r}")
    return path


def version_range(versions: Sequence[str]) -> list[str]:
    """``ssl-min-ver <oldest> ssl-max-ver <newest>`` for a list of TLS versions (the
    model refuses a list with a hole: HAProxy takes a range)."""
    order = list(HAPROXY_VERSIONS)
    chosen = sorted(versions, key=order.index)
    return [
        "ssl-min-ver",
        HAPROXY_VERSIONS[chosen[0]],
        "ssl-max-ver",
        HAPROXY_VERSIONS[chosen[-1]],
    ]


def _tuning(
    ciphers: str | None, versions: Sequence[str] | None, alpn: Sequence[str] | None
) -> list[str]:
    words = []
    if ciphers is not None:
        words += ["ciphers", ciphers]
    if versions:
        words += version_range(versions)
    if alpn:
        words += ["alpn", ",".join(alpn)]
    return words


# --- listeners ---------------------------------------------------------------------------


def bind_options(listener: Listener, files: Files) -> list[str]:
    """What follows ``bind <vip>:<port>`` on a TERMINATED_HTTPS listener; [] otherwise."""
    if not terminates(listener):
        return []
    refs = [r for r in (listener.default_tls_container_ref,) if r is not None]
    refs += listener.sni_container_refs
    words = ["ssl"]
    for ref in refs:
        words += ["crt", path_of(ref, files)]
    verify = VERIFY.get(listener.client_authentication)
    if verify is not None and listener.client_ca_tls_container_ref is not None:
        words += ["verify", verify, "ca-file", path_of(listener.client_ca_tls_container_ref, files)]
        if listener.client_crl_container_ref is not None:
            words += ["crl-file", path_of(listener.client_crl_container_ref, files)]
    words += _tuning(listener.tls_ciphers, listener.tls_versions, listener.alpn_protocols)
    return words


def frontend_lines(listener: Listener) -> list[str]:
    """A TERMINATED_HTTPS frontend's header lines: X-Forwarded-Proto, the X-SSL-*
    headers asked for (in Octavia's order), and HSTS; [] for other listeners."""
    if not terminates(listener):
        return []
    asked = {h for h, on in listener.insert_headers.items() if on}
    lines = []
    if "X-Forwarded-Proto" in asked:
        lines.append("http-request set-header X-Forwarded-Proto https")
    lines += [
        f"http-request set-header {name} {value}"
        for name, value in SSL_HEADER_VALUES.items()
        if name in asked
    ]
    if listener.hsts_max_age is not None:
        value = f"max-age={listener.hsts_max_age}"
        if listener.hsts_include_subdomains:
            value += "; includeSubDomains"
        if listener.hsts_preload:
            value += "; preload"
        lines.append(f'http-response set-header Strict-Transport-Security "{value}"')
    return lines


# --- pools -------------------------------------------------------------------------------


def server_options(pool: Pool, monitor: HealthMonitor | None, files: Files) -> list[str]:
    """The TLS words of a pool's ``server`` lines: re-encryption, and an HTTPS monitor's
    TLS on a pool that does not re-encrypt. ``monitor`` is the enabled monitor or None."""
    words: list[str] = []
    if pool.tls_enabled:
        words.append("ssl")
        if pool.ca_tls_container_ref is not None:
            words += ["verify", "required", "ca-file", path_of(pool.ca_tls_container_ref, files)]
            if pool.crl_container_ref is not None:
                words += ["crl-file", path_of(pool.crl_container_ref, files)]
        else:
            words += ["verify", "none"]
        if pool.tls_container_ref is not None:
            words += ["crt", path_of(pool.tls_container_ref, files)]
        words += _tuning(pool.tls_ciphers, pool.tls_versions, pool.alpn_protocols)
    elif monitor is not None and monitor.type == "HTTPS":
        # Only the checks speak TLS; "verify none" is the check's (the traffic has none).
        words += ["check-ssl", "verify", "none"]
    return words


def check_lines(pool: Pool, monitor: HealthMonitor | None) -> list[str]:
    """A backend's TLS-HELLO check. A re-encrypting pool's servers check over TLS
    already (a handshake, verified as the traffic is), so it needs no hello of its own."""
    if monitor is not None and monitor.type == "TLS-HELLO" and not pool.tls_enabled:
        return ["option ssl-hello-chk"]
    return []


# --- lab ---------------------------------------------------------------------------------

# Request headers a lab instance echoes back as "Echo-<name>" response headers, so tests
# see what reached the member.
ECHOED = ("X-Forwarded-Proto", *SSL_CLIENT_HEADERS)


def lab_echo_words() -> list[str]:
    """``hdr`` arguments of a lab instance's ``http-request return``."""
    words = []
    for name in ECHOED:
        words += ["hdr", f"Echo-{name}", f"%[req.fhdr({name})]"]
    return words
