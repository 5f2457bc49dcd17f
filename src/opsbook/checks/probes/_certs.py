"""Reading a peer certificate: expiry and hostname match, whether or not it was verified.

With verification off, ``SSLObject.getpeercert()`` is an empty dict and only the DER form is
available, so the DER is parsed with ``cryptography`` when it is installed (it comes with
``trustme``); without it these answers are ``None``.
"""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any


def expires_at(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> datetime | None:
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if der:
        parsed = _parse(der)
        if parsed is not None:
            return parsed[0]
    # Only a verified peer gives the decoded form; it is the fallback without cryptography.
    decoded: dict[str, Any] | None = ssl_object.getpeercert()
    if decoded and "notAfter" in decoded:
        return datetime.fromtimestamp(ssl.cert_time_to_seconds(decoded["notAfter"]), UTC)
    return None


def hostname_matches(der: bytes | None, hostname: str) -> bool | None:
    """Whether the certificate names ``hostname`` (RFC 6125: SANs, one left-most wildcard)."""
    parsed = _parse(der) if der else None
    if parsed is None:
        return None
    _, dns_names, ips = parsed
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        return any(_dns_match(pattern, hostname) for pattern in dns_names)
    return str(address) in ips


def _dns_match(pattern: str, hostname: str) -> bool:
    pattern, hostname = pattern.lower().rstrip("."), hostname.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = hostname.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == hostname


@lru_cache(maxsize=1024)
def _parse(der: bytes) -> tuple[datetime, tuple[str, ...], tuple[str, ...]] | None:
    # Cached: a pooled probe sees the same certificate on every request.
    try:
        from cryptography import x509
    except ImportError:
        return None
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        dns: list[str] = []
        ips: list[str] = []
    else:
        dns = san.get_values_for_type(x509.DNSName)
        ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return cert.not_valid_after_utc, tuple(dns), tuple(ips)
