"""The ``dns`` kind: resolve a name as one record type, at ``server`` or the system's resolver.

The rcode is an observation, not an error: by default a check wants ``[DNS_RCODE] == NOERROR``
and a non-empty answer (see ``judge.default_conditions``), and a pasted Gatus condition such as
``[DNS_RCODE] == NXDOMAIN`` can hold. Only ``expect`` (answers that must be present) makes an
answered query an error.
"""

from __future__ import annotations

import asyncio
from time import monotonic
from typing import ClassVar

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver

from opsbook.checks.models import Check, Observation
from opsbook.checks.probes._errors import seconds
from opsbook.checks.probes.base import ProbeContext
from opsbook.config.checks import DnsSpec, dns_server_address


async def _ask(spec: DnsSpec, timeout_s: float) -> dns.message.Message:
    if spec.server is None:
        resolver = dns.asyncresolver.Resolver()
        resolver.lifetime = timeout_s
        try:
            answer = await resolver.resolve(spec.name, spec.type, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN as exc:
            response = exc.response(exc.qnames()[0])  # type: ignore[no-untyped-call]
            assert isinstance(response, dns.message.Message), "NXDOMAIN carries its response"
            return response
        assert answer.response is not None, "a resolved answer carries its response"
        return answer.response
    address = dns_server_address(spec.server)
    assert address is not None, "DnsSpec validates the server address"
    host, port = address
    query = dns.message.make_query(spec.name, spec.type)
    response, _ = await dns.asyncquery.udp_with_fallback(query, host, port=port, timeout=timeout_s)
    return response


class DnsProbe:
    kind: ClassVar[str] = "dns"

    async def run(self, check: Check, *, context: ProbeContext) -> Observation:
        spec = check.spec.dns
        assert spec is not None, "probe_for dispatches on the kind"
        started = monotonic()
        asked = f"{spec.name} {spec.type}"
        at = f" at {spec.server}" if spec.server else ""
        try:
            async with asyncio.timeout(check.spec.timeout.total_seconds()):
                response = await _ask(spec, check.spec.timeout.total_seconds())
        except (TimeoutError, dns.exception.Timeout):
            error = f"DNS: no reply for {asked}{at} within {seconds(check.spec.timeout)}"
            return self._failed(monotonic() - started, error)
        except dns.resolver.NoNameservers as exc:
            return self._failed(monotonic() - started, f"DNS: no server answered {asked} ({exc})")
        except (OSError, dns.exception.DNSException, ValueError) as exc:
            return self._failed(monotonic() - started, f"DNS: query for {asked}{at} failed: {exc}")
        latency_ms = (monotonic() - started) * 1000
        rcode = dns.rcode.to_text(response.rcode())
        wanted = dns.rdatatype.from_text(spec.type)
        answers = sorted(
            rdata.to_text()
            for rrset in response.answer
            if rrset.rdtype == wanted
            for rdata in rrset
        )
        ip = next(
            (
                rdata.to_text()
                for rrset in response.answer
                if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
                for rdata in rrset
            ),
            None,
        )
        failure: str | None = None
        missing = [e for e in spec.expect if e not in answers]
        if missing:
            got = ", ".join(answers) or f"no answer, {rcode}"
            failure = f"DNS: {spec.name} {spec.type} lacks {', '.join(missing)} (got {got})"
        return Observation(
            latency_ms=latency_ms,
            connected=True,
            error=failure,
            body=",".join(answers),
            ip=ip,
            dns_rcode=rcode,
        )

    def _failed(self, elapsed_s: float, error: str) -> Observation:
        return Observation(latency_ms=elapsed_s * 1000, connected=False, error=error)
