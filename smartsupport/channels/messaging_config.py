"""Each workspace's messaging channels, from workspace.yaml (docs/channels.md).

A section names environment variables, never a secret itself:

    whatsapp:                                   # WhatsApp Cloud API (Meta)
      phone_number_id: "106540352242922"
      access_token_env: ACME_WA_TOKEN           # a system-user token (whatsapp_business_messaging)
      app_secret_env: ACME_WA_APP_SECRET        # checks X-Hub-Signature-256
      verify_token_env: ACME_WA_VERIFY_TOKEN    # the webhook verification handshake
      template: {name: support_follow_up, language: en_US}   # outside the 24-hour window
    twilio:                                     # Twilio Programmable Messaging
      account_sid: ACxxxxxxxx
      auth_token_env: ACME_TWILIO_TOKEN         # signs X-Twilio-Signature; Basic auth out
      sms_from: "+15017122661"                  # or messaging_service_sid: MGxxxxxxxx
      whatsapp_from: "whatsapp:+14155238886"
      whatsapp_template_sid: HXxxxxxxxx         # a Content template, outside the window
      whatsapp_button_sids: {1: HX.., 2: HX.., 3: HX..}   # twilio/quick-reply templates by
                                                # button count (docs/channels.md), optional
      handles_opt_out: true                     # Twilio answers STOP/HELP itself
    api_channel:                                # the business's own apps
      webhook_url: https://app.example/support-hook
      secret_env: ACME_API_CHANNEL_SECRET       # signs our webhooks (HMAC-SHA256)

``api_url`` in each section points a channel at another base URL (the tests' local server).
A missing variable or a wrong value stops start-up with the fix named (``check_workspaces``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from smartsupport.channels import thumbs
from smartsupport.errors import ConfigurationError
from smartsupport.workspaces import WorkspaceConfig

GRAPH_URL = "https://graph.facebook.com/v21.0"
TWILIO_URL = "https://api.twilio.com"
CONTENT_SID = r"^HX[0-9a-zA-Z]{8,40}$"  # a Twilio Content template


class Template(BaseModel):
    """An approved WhatsApp message template (its body may take one text parameter)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$")
    language: str = Field(default="en_US", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")


class WhatsAppSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone_number_id: str = Field(pattern=r"^[0-9]{1,32}$")
    access_token_env: str
    app_secret_env: str
    verify_token_env: str
    template: Template | None = None
    api_url: str = GRAPH_URL


class TwilioSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_sid: str = Field(pattern=r"^AC[0-9a-zA-Z]{8,40}$")
    auth_token_env: str
    sms_from: str | None = None
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-zA-Z]{8,40}$")
    whatsapp_from: str | None = Field(default=None, pattern=r"^whatsapp:\+[0-9]{6,16}$")
    whatsapp_template_sid: str | None = Field(default=None, pattern=r"^HX[0-9a-zA-Z]{8,40}$")
    # twilio/quick-reply Content templates by their number of buttons (1 to 3: Twilio's
    # limit in the 24-hour session), body {{1}}, each button's title and id {{2}}...
    whatsapp_button_sids: dict[
        Annotated[int, Field(ge=1, le=3)], Annotated[str, Field(pattern=CONTENT_SID)]
    ] = Field(default_factory=dict)
    handles_opt_out: bool = True
    api_url: str = TWILIO_URL


class ApiChannelSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    webhook_url: str = Field(pattern=r"^https?://")
    secret_env: str
    tolerance_seconds: int = Field(default=300, ge=30, le=3600)


class WhatsAppConfig(WhatsAppSection):
    access_token: SecretStr
    app_secret: SecretStr
    verify_token: SecretStr


class TwilioConfig(TwilioSection):
    auth_token: SecretStr


class ApiChannelConfig(ApiChannelSection):
    secret: SecretStr


S = TypeVar("S", bound=BaseModel)


def _section(workspace: WorkspaceConfig, name: str, model: type[S]) -> S | None:
    if not workspace.section(name):
        return None
    return workspace.checked(name, model)


def _secret(workspace: WorkspaceConfig, section: str, env: str) -> SecretStr:
    value = os.environ.get(env)
    if not value:
        raise ConfigurationError(
            f"workspace {workspace.id} {section}: set the environment variable {env}"
        )
    return SecretStr(value)


def whatsapp_config(workspace: WorkspaceConfig) -> WhatsAppConfig | None:
    section = _section(workspace, "whatsapp", WhatsAppSection)
    if section is None:
        return None
    return WhatsAppConfig(
        **section.model_dump(),
        access_token=_secret(workspace, "whatsapp", section.access_token_env),
        app_secret=_secret(workspace, "whatsapp", section.app_secret_env),
        verify_token=_secret(workspace, "whatsapp", section.verify_token_env),
    )


def twilio_config(workspace: WorkspaceConfig) -> TwilioConfig | None:
    section = _section(workspace, "twilio", TwilioSection)
    if section is None:
        return None
    if not (section.sms_from or section.messaging_service_sid or section.whatsapp_from):
        raise ConfigurationError(
            f"workspace {workspace.id} twilio: set sms_from, messaging_service_sid or "
            "whatsapp_from (the sender of replies)"
        )
    token = _secret(workspace, "twilio", section.auth_token_env)
    return TwilioConfig(**section.model_dump(), auth_token=token)


def api_channel_config(workspace: WorkspaceConfig) -> ApiChannelConfig | None:
    section = _section(workspace, "api_channel", ApiChannelSection)
    if section is None:
        return None
    secret = _secret(workspace, "api_channel", section.secret_env)
    if len(secret.get_secret_value()) < 32:
        raise ConfigurationError(
            f"workspace {workspace.id} api_channel: {section.secret_env} must hold at least "
            "32 characters (e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return ApiChannelConfig(**section.model_dump(), secret=secret)


def check_workspaces(workspaces: Iterable[WorkspaceConfig]) -> None:
    """Every workspace's channel sections are valid and their secrets set (start-up)."""
    for workspace in workspaces:
        thumbs.settings(workspace)  # answer_feedback: the thumbs under answers
        whatsapp_config(workspace)
        twilio_config(workspace)
        api_channel_config(workspace)
