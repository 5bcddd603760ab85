-- Calls: one row per recorded call, partitioned by month of `created_at` (Unix ms) so that
-- retention drops whole partitions. Partitions are created as calls arrive (see partition.rs).
-- Ids are text, as every engine keeps them; (org_id, id, created_at) identifies a call, and
-- the write path keeps (org_id, id) unique (canopy_store::ids).
CREATE TABLE calls (
    id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    key_id TEXT,
    created_at BIGINT NOT NULL,
    response_created_at BIGINT,
    latency_ms BIGINT,
    time_to_first_token_ms BIGINT,
    provider TEXT NOT NULL,
    target_url TEXT NOT NULL,
    request_path TEXT NOT NULL,
    method TEXT NOT NULL,
    status INTEGER NOT NULL,
    is_stream BOOLEAN NOT NULL,
    request_model TEXT,
    response_model TEXT,
    pricing_model TEXT,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    cache_write_1h_tokens BIGINT NOT NULL,
    reasoning_tokens BIGINT NOT NULL,
    audio_input_tokens BIGINT NOT NULL,
    audio_output_tokens BIGINT NOT NULL,
    usage_source TEXT NOT NULL,
    cost_nano BIGINT,
    session_id TEXT,
    session_path TEXT,
    session_name TEXT,
    user_id TEXT,
    prompt_id TEXT,
    properties JSONB NOT NULL,
    error TEXT,
    kind TEXT NOT NULL,
    PRIMARY KEY (org_id, id, created_at)
) PARTITION BY RANGE (created_at);
-- The organisation's time-ordered listing, a session's calls, a user's calls.
CREATE INDEX calls_org_created ON calls (org_id, created_at);
CREATE INDEX calls_org_session ON calls (org_id, session_id, created_at) WHERE session_id IS NOT NULL;
CREATE INDEX calls_org_user ON calls (org_id, user_id, created_at) WHERE user_id IS NOT NULL;
-- Property filters: `properties @> {"key": "value"}` (equals) is served by this index.
CREATE INDEX calls_properties ON calls USING GIN (properties jsonb_path_ops);
-- Retention and `canopy store copy` walk calls oldest first across organisations.
CREATE INDEX calls_created ON calls (created_at, org_id, id);

-- Bodies in their own table, partitioned like the calls, so listings never read them.
CREATE TABLE call_bodies (
    org_id TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    request_body TEXT,
    request_truncated BOOLEAN NOT NULL,
    request_omitted BOOLEAN NOT NULL,
    response_body TEXT,
    response_truncated BOOLEAN NOT NULL,
    response_omitted BOOLEAN NOT NULL,
    request_headers JSONB NOT NULL,
    PRIMARY KEY (org_id, id, created_at)
) PARTITION BY RANGE (created_at);

-- Scores and feedback on calls (feedback is the score `helicone-score-feedback`, 1 or 0).
CREATE TABLE call_scores (
    org_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, call_id, name)
);

-- Sessions: totals kept at write time, in the same transaction as their calls.
CREATE TABLE sessions (
    org_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    name TEXT,
    name_at BIGINT,
    first_request_at BIGINT NOT NULL,
    last_request_at BIGINT NOT NULL,
    last_response_at BIGINT NOT NULL,
    request_count BIGINT NOT NULL,
    error_count BIGINT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cost_nano BIGINT NOT NULL,
    unpriced_count BIGINT NOT NULL,
    latency_sum_ms BIGINT NOT NULL,
    feedback BOOLEAN,
    PRIMARY KEY (org_id, session_id)
);
-- The session list walks this newest first and stops after a page.
CREATE INDEX sessions_org_first ON sessions (org_id, first_request_at DESC, session_id);
CREATE INDEX sessions_org_name ON sessions (org_id, name, first_request_at);
-- Sessions active in a time window: the expression is the one the queries write.
CREATE INDEX sessions_org_active ON sessions (org_id, GREATEST(last_response_at, last_request_at));
-- Retention removes sessions whose latest call is past it, across organisations.
CREATE INDEX sessions_last ON sessions (last_request_at);

CREATE TABLE session_tags (
    org_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, session_id, tag)
);

CREATE TABLE session_users (
    org_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (org_id, session_id, user_id)
);

-- Organisations and their keys. Keys are stored as SHA-256 hashes; the key itself is shown once.
CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
