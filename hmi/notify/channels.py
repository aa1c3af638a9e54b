"""The two ways a notification leaves the HMI: e-mail over SMTP and a JSON POST signed with HMAC-SHA256.

Both are async all the way (aiosmtplib, httpx), so a slow mail server or webhook never holds the event loop; both
raise DeliveryError with a sentence an engineer can act on when the other side refuses or cannot be reached.
"""

from __future__ import annotations

import hashlib
import hmac
from email.message import EmailMessage
from urllib.parse import urlsplit, urlunsplit

import aiosmtplib
import httpx

from hmi.notify.settings import Smtp, Webhook

SIGNATURE_HEADER = "X-HMI-Signature"
"""`sha256=<hex>`: HMAC-SHA256 of the raw request body under the webhook's secret (docs/notifications.md)."""
DELIVERY_HEADER = "X-HMI-Delivery"
"""The notification's id; the same on every retry, so a receiver can drop a repeat it already handled."""


class DeliveryError(Exception):
    """The notification did not get through; the message says why (never a secret)."""


def signature(secret: str, body: bytes) -> str:
    """The value of the signature header for `body`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """True when `header` is the signature of `body` under `secret` (constant-time): what a receiver does."""
    return hmac.compare_digest(signature(secret, body), header)


def shown_url(url: str) -> str:
    """The webhook URL as journaled and shown: without its query and fragment, where tokens tend to hide."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


async def send_email(smtp: Smtp, to: str, subject: str, text: str) -> None:
    """Send one plain-text e-mail through the plant's SMTP server."""
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    try:
        await aiosmtplib.send(
            message,
            hostname=smtp.host,
            port=smtp.port,
            use_tls=smtp.security == "tls",
            start_tls=smtp.security == "starttls",
            username=smtp.username,
            password=smtp.password.reveal() if smtp.password is not None else None,
            timeout=smtp.timeout_s,
            # Certificates are always checked; a plant CA is given as ca_file rather than switching the check off.
            cert_bundle=str(smtp.ca_file) if smtp.ca_file is not None else None,
        )
    except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError, aiosmtplib.SMTPServerDisconnected) as exc:
        raise DeliveryError(f"mail server {smtp.host}:{smtp.port} cannot be reached: {exc}") from None
    except aiosmtplib.SMTPException as exc:
        raise DeliveryError(f"mail server {smtp.host}:{smtp.port} refused or failed: {exc}") from None
    except OSError as exc:
        raise DeliveryError(f"mail server {smtp.host}:{smtp.port} cannot be reached: {exc.strerror or exc}") from None


async def post_webhook(client: httpx.AsyncClient, hook: Webhook, body: bytes, delivery_id: str) -> None:
    """POST the JSON `body` to the webhook with its signature; a non-2xx answer is a failure."""
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(hook.secret.reveal(), body),
        DELIVERY_HEADER: delivery_id,
    }
    where = shown_url(hook.url)
    try:
        response = await client.post(hook.url, content=body, headers=headers, timeout=hook.timeout_s)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook {hook.name} ({where}) cannot be reached: {type(exc).__name__} {exc}") from None
    if not response.is_success:
        raise DeliveryError(f"webhook {hook.name} ({where}) answered HTTP {response.status_code}")
