-- Staff sign-in (issue 14): single sign-on identities, how each session was started and
-- when its second factor was satisfied, and API keys that expire and carry a rate limit.

-- An account signed in through an OpenID Connect provider is found again by the pair the
-- provider guarantees stable (issuer, subject), never by the email it sends, which can change
-- or be reassigned. The email is kept for the admins' view.
CREATE TABLE staff_identities (
    issuer         TEXT NOT NULL,
    subject        TEXT NOT NULL,
    staff_id       TEXT NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    email          TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    last_login_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (issuer, subject)
);

CREATE INDEX staff_identities_staff ON staff_identities (staff_id);

-- 'password' or 'sso'; mfa_at: when the second factor was satisfied (a TOTP code, or the
-- provider's amr/acr claim), NULL while it was not: a role that requires MFA is then held
-- at the enrolment page.
ALTER TABLE staff_sessions ADD COLUMN method TEXT NOT NULL DEFAULT 'password';
ALTER TABLE staff_sessions ADD COLUMN mfa_at TIMESTAMPTZ;

-- NULL expires_at: never expires. NULL rate_limit_per_minute: the deployment's default
-- (SMARTSUPPORT_API_KEY_RATE_LIMIT_PER_MINUTE).
ALTER TABLE staff_api_keys ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE staff_api_keys ADD COLUMN rate_limit_per_minute INTEGER;
