"""Pick an attachment store from its URL. Nothing is created until ``open_attachment_store``.

file:///var/lib/smartsupport/files    DirectoryStore, a directory on disk (the default:
                                      attachments/ in the data directory)
/var/lib/smartsupport/files           the same, as a plain path
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from smartsupport.attachments.base import AttachmentStore
from smartsupport.errors import ConfigurationError
from smartsupport.settings import Settings

__all__ = ["AttachmentStore", "SCHEMES", "attachments_url", "open_attachment_store"]

SCHEMES = ("file",)


def open_attachment_store(url: str) -> AttachmentStore:
    """The store for ``url`` (a ``file://`` URL or a directory path)."""
    if "://" not in url:
        if not url:
            raise ConfigurationError("the attachment store needs a URL, e.g. file:///var/files")
        from smartsupport.attachments.directory import DirectoryStore

        return DirectoryStore(Path(url))
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigurationError(
                f"attachment store {url!r}: a file:// URL names a local directory "
                "(file:///path, three slashes)"
            )
        from smartsupport.attachments.directory import DirectoryStore

        return DirectoryStore(Path(unquote(parts.path)))
    raise ConfigurationError(
        f"unknown attachment store URL {url!r}: known schemes are "
        + ", ".join(f"{s}://" for s in SCHEMES)
        + " (or a directory path)"
    )


def attachments_url(settings: Settings) -> str:
    """``SMARTSUPPORT_ATTACHMENTS_URL``, else the email channel's older setting (kept so an
    existing deployment keeps its files), else attachments/ in the data directory."""
    if settings.attachments_url:
        return settings.attachments_url
    return str(settings.email_attachments_dir or settings.data_dir / "attachments")
