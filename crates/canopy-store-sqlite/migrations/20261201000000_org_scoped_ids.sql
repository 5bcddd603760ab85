-- Call ids are unique per organisation, not globally: the same id in two organisations is two
-- calls. Calls, their bodies and their scores are keyed by (org_id, id). SQLite cannot change a
-- primary key in place, so each table is rebuilt.
CREATE TABLE calls_next (
    id TEXT NOT NULL,
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
    kind TEXT NOT NULL DEFAULT 'llm',
    PRIMARY KEY (org_id, id)
);
INSERT INTO calls_next SELECT id, org_id, key_id, created_at, response_created_at, latency_ms,
    time_to_first_token_ms, provider, target_url, request_path, method, status, is_stream,
    request_model, response_model, pricing_model, prompt_tokens, completion_tokens,
    cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens,
    audio_input_tokens, audio_output_tokens, usage_source, cost_nano, session_id, session_path,
    session_name, user_id, prompt_id, properties, error, kind FROM calls;
CREATE TABLE call_bodies_next (
    org_id TEXT NOT NULL,
    id TEXT NOT NULL,
    request_body TEXT,
    request_truncated INTEGER NOT NULL,
    request_omitted INTEGER NOT NULL,
    response_body TEXT,
    response_truncated INTEGER NOT NULL,
    response_omitted INTEGER NOT NULL,
    request_headers TEXT NOT NULL,
    PRIMARY KEY (org_id, id)
);
INSERT INTO call_bodies_next SELECT c.org_id, b.id, b.request_body, b.request_truncated,
    b.request_omitted, b.response_body, b.response_truncated, b.response_omitted,
    b.request_headers FROM call_bodies b JOIN calls c ON c.id = b.id;
CREATE TABLE call_scores_next (
    org_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, call_id, name)
) WITHOUT ROWID;
INSERT INTO call_scores_next SELECT org_id, call_id, name, value, created_at FROM call_scores;
DROP TABLE calls;
DROP TABLE call_bodies;
DROP TABLE call_scores;
ALTER TABLE calls_next RENAME TO calls;
ALTER TABLE call_bodies_next RENAME TO call_bodies;
ALTER TABLE call_scores_next RENAME TO call_scores;
CREATE INDEX calls_org_created ON calls (org_id, created_at);
CREATE INDEX calls_org_session ON calls (org_id, session_id, created_at) WHERE session_id IS NOT NULL;
CREATE INDEX calls_org_user ON calls (org_id, user_id, created_at) WHERE user_id IS NOT NULL;
-- Retention walks calls oldest first across organisations; so does `canopy store copy`.
CREATE INDEX calls_created ON calls (created_at, org_id, id);
-- Retention removes sessions whose latest call is past it, across organisations.
CREATE INDEX sessions_last ON sessions (last_request_at);
