-- Calls: one row per proxied call. Bodies live in call_bodies so that scans stay small.
CREATE TABLE calls (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL,
    key_id TEXT,
    created_at INTEGER NOT NULL,
    response_created_at INTEGER,
    latency_ms INTEGER,
    time_to_first_token_ms INTEGER,
    provider TEXT NOT NULL,
    target_url TEXT NOT NULL,
    request_path TEXT NOT NULL,
    method TEXT NOT NULL,
    status INTEGER NOT NULL,
    is_stream INTEGER NOT NULL,
    request_model TEXT,
    response_model TEXT,
    pricing_model TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    audio_input_tokens INTEGER NOT NULL,
    audio_output_tokens INTEGER NOT NULL,
    usage_source TEXT NOT NULL,
    cost_nano INTEGER,
    session_id TEXT,
    session_path TEXT,
    session_name TEXT,
    user_id TEXT,
    prompt_id TEXT,
    properties TEXT NOT NULL,
    error TEXT,
    kind TEXT NOT NULL DEFAULT 'llm'
);
CREATE INDEX calls_org_created ON calls (org_id, created_at);
CREATE INDEX calls_org_session ON calls (org_id, session_id, created_at) WHERE session_id IS NOT NULL;
CREATE INDEX calls_org_user ON calls (org_id, user_id, created_at) WHERE user_id IS NOT NULL;

-- Scores and feedback on calls (feedback is the score `helicone-score-feedback`, 1 or 0).
CREATE TABLE call_scores (
    org_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (call_id, name)
) WITHOUT ROWID;

CREATE TABLE call_bodies (
    id TEXT PRIMARY KEY NOT NULL,
    request_body TEXT,
    request_truncated INTEGER NOT NULL,
    request_omitted INTEGER NOT NULL,
    response_body TEXT,
    response_truncated INTEGER NOT NULL,
    response_omitted INTEGER NOT NULL,
    request_headers TEXT NOT NULL
);

-- Sessions: totals kept at write time, in the same transaction as their calls.
CREATE TABLE sessions (
    org_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    name TEXT,
    name_at INTEGER,
    first_request_at INTEGER NOT NULL,
    last_request_at INTEGER NOT NULL,
    last_response_at INTEGER NOT NULL,
    request_count INTEGER NOT NULL,
    error_count INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_nano INTEGER NOT NULL,
    unpriced_count INTEGER NOT NULL,
    latency_sum_ms INTEGER NOT NULL,
    feedback INTEGER,
    PRIMARY KEY (org_id, session_id)
);
CREATE INDEX sessions_org_last ON sessions (org_id, last_request_at);
-- The session list walks this newest first and stops after a page.
CREATE INDEX sessions_org_first ON sessions (org_id, first_request_at);
-- By name; it also holds every column the metrics, counts and name roll-ups read, so those
-- scan the index alone instead of looking each session up in the table.
CREATE INDEX sessions_org_name ON sessions (org_id, name, first_request_at, last_request_at,
    last_response_at, request_count, cost_nano, latency_sum_ms);
-- Sessions active in a time window: a session overlaps [start, end] when its last activity is
-- at or after start. The expression is the one the queries write, so SQLite can match it.
CREATE INDEX sessions_org_active ON sessions (org_id, max(last_response_at, last_request_at),
    first_request_at);

CREATE TABLE session_tags (
    org_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, session_id, tag)
) WITHOUT ROWID;

CREATE TABLE session_users (
    org_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (org_id, session_id, user_id)
) WITHOUT ROWID;

-- Organisations and their keys. Keys are stored as SHA-256 hashes; the key itself is shown once.
CREATE TABLE orgs (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
