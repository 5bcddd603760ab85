-- Calls get an integer key of their own, and bodies are keyed by it instead of by
-- (org_id, id). Writing a call then updates one text index fewer (the bodies' own), and a body
-- row no longer repeats its call's organisation and id. The key is declared, not SQLite's
-- implicit rowid, because VACUUM may renumber an implicit rowid. Call ids stay unique per
-- organisation through the UNIQUE constraint.
CREATE TABLE calls_next (
    seq INTEGER PRIMARY KEY,
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
    UNIQUE (org_id, id)
);
INSERT INTO calls_next (seq, id, org_id, key_id, created_at, response_created_at, latency_ms,
    time_to_first_token_ms, provider, target_url, request_path, method, status, is_stream,
    request_model, response_model, pricing_model, prompt_tokens, completion_tokens,
    cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens,
    audio_input_tokens, audio_output_tokens, usage_source, cost_nano, session_id, session_path,
    session_name, user_id, prompt_id, properties, error, kind)
    SELECT rowid, id, org_id, key_id, created_at, response_created_at, latency_ms,
    time_to_first_token_ms, provider, target_url, request_path, method, status, is_stream,
    request_model, response_model, pricing_model, prompt_tokens, completion_tokens,
    cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens,
    audio_input_tokens, audio_output_tokens, usage_source, cost_nano, session_id, session_path,
    session_name, user_id, prompt_id, properties, error, kind FROM calls;
CREATE TABLE call_bodies_next (
    call_seq INTEGER PRIMARY KEY,
    request_body TEXT,
    request_truncated INTEGER NOT NULL,
    request_omitted INTEGER NOT NULL,
    response_body TEXT,
    response_truncated INTEGER NOT NULL,
    response_omitted INTEGER NOT NULL,
    request_headers TEXT NOT NULL
);
INSERT INTO call_bodies_next SELECT c.seq, b.request_body, b.request_truncated,
    b.request_omitted, b.response_body, b.response_truncated, b.response_omitted,
    b.request_headers FROM call_bodies b JOIN calls_next c ON c.org_id = b.org_id AND c.id = b.id;
DROP TABLE calls;
DROP TABLE call_bodies;
ALTER TABLE calls_next RENAME TO calls;
ALTER TABLE call_bodies_next RENAME TO call_bodies;
CREATE INDEX calls_org_created ON calls (org_id, created_at);
CREATE INDEX calls_org_session ON calls (org_id, session_id, created_at) WHERE session_id IS NOT NULL;
CREATE INDEX calls_org_user ON calls (org_id, user_id, created_at) WHERE user_id IS NOT NULL;
CREATE INDEX calls_created ON calls (created_at, org_id, id);
