"""Inbound media bytes from the messaging providers, as they publish the download:

    WhatsApp Cloud API  GET {api}/{media-id}?phone_number_id=<ours>  Authorization: Bearer
                        -> {"messaging_product", "url", "mime_type", "sha256", "file_size",
                        "id"}; then GET <url> with the same bearer token (the URL is valid
                        for five minutes, so it is fetched right away, never kept)
    Twilio              GET <MediaUrlN> with HTTP Basic (AccountSid, AuthToken); Twilio
                        answers with a redirect to its media CDN, which is followed without
                        the credentials (httpx drops Authorization on another origin)

The size limit is enforced while the bytes arrive (a Content-Length or ``file_size`` over it
is refused before reading), so a huge file never sits in memory. Credentials only go to the
provider's own API origin, or to an https URL Meta's authenticated answer named.

A failure says whether asking again later may help (``MediaUnavailable.retryable``, by the
one table of ``remote.RETRYABLE_STATUSES``; timeouts and broken connections too), so a failed
download can be fetched again by the outbox (``channels/media_retry.py``). A WhatsApp retry
starts again from the media id (Meta keeps a webhook's media id for 7 days), never from an
earlier, expired URL.

No Meta or Twilio server can be reached from the tests: tests/messaging_fakes.py serves
these formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from smartsupport.errors import DeliveryError, TooLarge
from smartsupport.remote import is_retryable_status, parse_retry_after

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class MediaUnavailable(DeliveryError):
    """The provider did not give us the file (an error status, a timeout, a broken answer).
    The message says what happened, never a token or a signed URL's query; ``retryable``
    whether the same download may succeed later."""


def _refused(what: str, response: httpx.Response) -> MediaUnavailable:
    return MediaUnavailable(
        what,
        retryable=is_retryable_status(response.status_code),
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


@dataclass(slots=True)
class Downloaded:
    data: bytes
    content_type: str


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"  # the query of a signed URL is a credential


async def _stream(
    client: httpx.AsyncClient, url: str, limit: int, what: str, **kwargs: object
) -> Downloaded:
    try:
        async with client.stream("GET", url, **kwargs) as response:  # type: ignore[arg-type]
            if response.status_code >= 400:
                raise _refused(f"{what}: HTTP {response.status_code} from {_where(url)}", response)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise TooLarge(f"the file is {declared} bytes; the limit is {limit} bytes")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the file is over the limit of {limit} bytes")
                chunks.append(chunk)
            kind = response.headers.get("content-type", "").split(";")[0].strip()
            return Downloaded(b"".join(chunks), kind)
    except httpx.TimeoutException as exc:
        raise MediaUnavailable(f"{what}: timed out", retryable=True) from exc
    except httpx.HTTPError as exc:  # a refused or broken connection: the network, not the file
        raise MediaUnavailable(f"{what}: {type(exc).__name__}", retryable=True) from exc


async def whatsapp_media(
    api_url: str, phone_number_id: str, token: str, media_id: str, limit: int
) -> Downloaded:
    """One WhatsApp media by its id. TooLarge over ``limit``; MediaUnavailable otherwise."""
    auth = {"Authorization": f"Bearer {token}"}
    base = api_url.rstrip("/") + "/"
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
        try:
            answer = await client.get(
                base + media_id, params={"phone_number_id": phone_number_id}, headers=auth
            )
        except httpx.HTTPError as exc:
            raise MediaUnavailable(
                f"whatsapp media {media_id}: {type(exc).__name__}", retryable=True
            ) from exc
        if answer.status_code >= 400:
            raise _refused(f"whatsapp media {media_id}: HTTP {answer.status_code}", answer)
        try:
            found = answer.json()
        except ValueError as exc:  # a proxy's error page: worth another try, as in llm/http.py
            raise MediaUnavailable(
                f"whatsapp media {media_id}: the answer is not JSON", retryable=True
            ) from exc
        try:
            url, size = str(found["url"]), found.get("file_size")
        except (KeyError, TypeError, AttributeError) as exc:
            raise MediaUnavailable(f"whatsapp media {media_id}: the answer names no url") from exc
        if str(size).isdigit() and int(str(size)) > limit:
            raise TooLarge(f"the file is {size} bytes; the limit is {limit} bytes")
        # The bearer token goes to Meta's https media host, or to the configured API itself.
        trusted = url.startswith("https://") or _origin(url) == _origin(base)
        if not trusted:
            raise MediaUnavailable(f"whatsapp media {media_id}: not an https URL")
        downloaded = await _stream(client, url, limit, f"whatsapp media {media_id}", headers=auth)
        downloaded.content_type = downloaded.content_type or str(found.get("mime_type") or "")
        return downloaded


async def twilio_media(
    api_url: str, account_sid: str, auth_token: str, media_url: str, limit: int
) -> Downloaded:
    """One Twilio MediaUrl. Basic auth only towards Twilio's API origin."""
    own = _origin(media_url) == _origin(api_url.rstrip("/") + "/")
    auth = (account_sid, auth_token) if own else None
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=True, auth=auth) as client:
        return await _stream(client, media_url, limit, "twilio media")
