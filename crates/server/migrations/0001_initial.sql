-- Users, groups, login tokens and the call log.
-- Times are milliseconds since the Unix epoch; enums are their snake_case wire names.

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE groups (
    id           TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_by_user ON group_members (user_id);

-- Only the SHA-256 of a token is stored, never the token.
CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX tokens_by_expiry ON tokens (expires_at);

-- No foreign keys to users here: the log outlives whatever happens to accounts.
CREATE TABLE calls (
    session_id      TEXT PRIMARY KEY NOT NULL,
    call_type       TEXT NOT NULL,
    receiver_type   TEXT NOT NULL,
    initiator       TEXT NOT NULL,
    receiver        TEXT NOT NULL,
    status          TEXT NOT NULL,
    ring_timeout_ms INTEGER NOT NULL,
    initiated_at    INTEGER NOT NULL,
    answered_at     INTEGER,
    ended_at        INTEGER,
    duration_ms     INTEGER,
    end_reason      TEXT
);
CREATE INDEX calls_by_initiator ON calls (initiator, initiated_at);
CREATE INDEX calls_by_receiver ON calls (receiver_type, receiver, initiated_at);
CREATE INDEX calls_by_status ON calls (status);

CREATE TABLE call_invitees (
    session_id TEXT NOT NULL REFERENCES calls (session_id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    response   TEXT NOT NULL,
    PRIMARY KEY (session_id, user_id)
);
CREATE INDEX call_invitees_by_user ON call_invitees (user_id);

-- seq keeps the joining order; a device may join, leave and join again.
CREATE TABLE call_participants (
    session_id  TEXT NOT NULL REFERENCES calls (session_id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    user_id     TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    joined_at   INTEGER NOT NULL,
    left_at     INTEGER,
    left_reason TEXT,
    PRIMARY KEY (session_id, seq)
);
CREATE INDEX call_participants_by_user ON call_participants (user_id);
