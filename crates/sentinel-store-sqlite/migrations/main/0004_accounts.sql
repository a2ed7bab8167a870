-- Accounts: users, organization members, invitations and sign-in sessions. Secrets are stored as
-- the SHA-256 of the token, passwords as argon2id PHC strings.

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    -- Lower-cased by the store, so uniqueness ignores case.
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);

CREATE TABLE organization_members (
    org_id INTEGER NOT NULL REFERENCES organizations(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
) WITHOUT ROWID;
-- A user's organizations (every request resolves them).
CREATE INDEX organization_members_by_user ON organization_members (user_id);

CREATE TABLE invitations (
    id INTEGER PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    org_id INTEGER NOT NULL REFERENCES organizations(id),
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    invited_by INTEGER REFERENCES users(id),
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    -- Inviting the same address again replaces the pending invitation.
    UNIQUE (org_id, email)
);
CREATE INDEX invitations_by_expiry ON invitations (expires_ms);

CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
-- Ending every session of a user on a password change.
CREATE INDEX sessions_by_user ON sessions (user_id);
-- Pruning expired sessions.
CREATE INDEX sessions_by_expiry ON sessions (expires_ms);

ALTER TABLE projects ADD COLUMN platform TEXT NOT NULL DEFAULT 'other';

-- NULL: an instance token made before any account existed; the first admin takes it over.
ALTER TABLE api_tokens ADD COLUMN user_id INTEGER REFERENCES users(id);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);
