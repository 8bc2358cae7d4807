"""Channel settings: the email channel, attachments and voice notes. One part of
``settings.Settings`` (docs/channels.md, docs/attachments.md).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from smartsupport.transcription import SpeechConfig


class ChannelSettings(BaseModel):
    """Where customers' mails come from and go to, and where their files are kept."""

    # -- email channel (channels/email*.py; README "Email channel") --------------------------
    email_imap_url: SecretStr | None = Field(
        default=None,
        description="The support mailbox the email channel reads: imaps://user:pass@host:993/"
        "INBOX (or imap:// without TLS). Unset: no global mailbox (a workspace may name its "
        "own in workspace.yaml email.imap_url_env).",
    )
    email_smtp_url: SecretStr | None = Field(
        default=None,
        description="How email replies are sent: smtps://user:pass@host:465, "
        "smtp+starttls://user:pass@host:587 or smtp://host:25. Required with "
        "SMARTSUPPORT_EMAIL_IMAP_URL.",
    )
    email_from: str = Field(
        default="",
        description='The From of email replies, e.g. "Acme Support <support@acme.example>". '
        "Required with SMARTSUPPORT_EMAIL_IMAP_URL.",
    )
    email_workspace: str = Field(
        default="",
        description="The workspace the global mailbox feeds (may be left empty when only one "
        "workspace is loaded).",
    )
    email_poll_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How often the mailbox is checked when the IMAP server has no IDLE (with "
        "IDLE, new mail is seen at once and this is how often the connection is renewed).",
    )
    email_attachments_dir: Path | None = Field(
        default=None,
        description="Where email attachments are stored (default: attachments/ in the data "
        "directory).",
    )
    email_max_attachment_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=0,
        description="Largest attachment kept from an email; larger ones are listed on the "
        "message as refused, not stored.",
    )

    # -- attachments and voice notes (docs/attachments.md) --------------------------------
    attachments_url: str = Field(
        default="",
        description="Where attachments are stored (widget uploads, voice notes, agents' "
        "files, email and channel media): file:///path or a directory path. Default: "
        "SMARTSUPPORT_EMAIL_ATTACHMENTS_DIR when set, else attachments/ in the data directory.",
    )
    attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest file a customer or an agent may upload (images, PDFs, voice "
        "notes); larger ones get 413 with the limit in the message.",
    )
    speech_provider: SpeechConfig | None = Field(
        default=None,
        description="Speech to text for voice notes, as a JSON object: base_url (an "
        "OpenAI-compatible /v1/audio/transcriptions server: OpenAI, whisper.cpp server, "
        "faster-whisper), model (default whisper-1), api_key, timeout_seconds, max_retries, "
        "breaker_failures, breaker_reset_seconds. Unset: the assistant tells the customer it "
        "cannot listen to audio, in their language, and offers a person.",
    )
