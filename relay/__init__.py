"""The SMTP side: delivery to the upstream mail server (and, later, the enforcing relay)."""

from relay.upstream import (
    MaildirUpstream,
    SmtpUpstream,
    Upstream,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
    upstream_from_url,
)

__all__ = [
    "MaildirUpstream",
    "SmtpUpstream",
    "Upstream",
    "UpstreamError",
    "UpstreamRejected",
    "UpstreamUnavailable",
    "upstream_from_url",
]
