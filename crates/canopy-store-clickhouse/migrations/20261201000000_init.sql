-- Canopy's ClickHouse schema. Times are Unix milliseconds in Int64 columns, the unit every
-- engine stores and the filter language compares; each data table derives a DateTime64 from
-- them for its monthly partitions and its retention TTL.
--
-- Markers, filled in when the migration runs (lib.rs, `render`):
--   {on_cluster}    ` ON CLUSTER "<name>"` with `?cluster=<name>`, else nothing
--   {replicated}    `Replicated` on a cluster (replicated table engines), else nothing
--   {local}         `_local` on a cluster: the table each node holds, behind a Distributed
--                   table of the plain name; else nothing
--   {cluster_only}  a statement that starts with it runs only on a cluster
--   {cluster}       the cluster's name, quoted
-- Every statement is idempotent (IF NOT EXISTS), so gateways starting at once may both run it.

-- Calls: one row per call and version. A property edit writes the row again with a higher
-- version; ReplacingMergeTree keeps the latest, and reads go through the `calls` view (FINAL).
-- Ordered to serve the organisation's time-ordered listing; a session's calls, a user's calls
-- and a property's calls are found through skip indexes. On a cluster, a session's calls
-- share a shard with its totals.
CREATE TABLE IF NOT EXISTS call_log{local}{on_cluster} (
    org_id LowCardinality(String),
    id String,
    key_id Nullable(String),
    created_at Int64,
    response_created_at Nullable(Int64),
    latency_ms Nullable(Int64),
    time_to_first_token_ms Nullable(Int64),
    provider LowCardinality(String),
    target_url String,
    request_path String,
    method LowCardinality(String),
    status Int32,
    is_stream Bool,
    request_model LowCardinality(Nullable(String)),
    response_model LowCardinality(Nullable(String)),
    pricing_model LowCardinality(Nullable(String)),
    prompt_tokens Int64,
    completion_tokens Int64,
    cache_read_tokens Int64,
    cache_write_tokens Int64,
    cache_write_1h_tokens Int64,
    reasoning_tokens Int64,
    audio_input_tokens Int64,
    audio_output_tokens Int64,
    usage_source LowCardinality(String),
    cost_nano Nullable(Int64),
    session_id Nullable(String),
    session_path Nullable(String),
    session_name Nullable(String),
    user_id Nullable(String),
    prompt_id Nullable(String),
    properties Map(LowCardinality(String), String),
    error Nullable(String),
    kind LowCardinality(String),
    -- How the call counts in its session's totals, decided when it is recorded.
    is_error Bool,
    is_unpriced Bool,
    -- 0 as recorded; an edit writes the row again with a higher version and edited = true.
    version UInt64,
    edited Bool,
    created DateTime64(3, 'UTC') MATERIALIZED fromUnixTimestamp64Milli(created_at, 'UTC'),
    INDEX call_id id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX call_session session_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX call_user user_id TYPE bloom_filter(0.01) GRANULARITY 2,
    INDEX call_property_keys mapKeys(properties) TYPE bloom_filter(0.01) GRANULARITY 2,
    INDEX call_property_values mapValues(properties) TYPE bloom_filter(0.01) GRANULARITY 2
) ENGINE = {replicated}ReplacingMergeTree(version)
PARTITION BY toYYYYMM(created)
ORDER BY (org_id, created_at, id)
SETTINGS non_replicated_deduplication_window = 1000;

{cluster_only} CREATE TABLE IF NOT EXISTS call_log{on_cluster} AS call_log_local
ENGINE = Distributed({cluster}, currentDatabase(), call_log_local, cityHash64(org_id, ifNull(session_id, id)));

-- Bodies in their own table, so listings never read them; compressed harder than the rest.
CREATE TABLE IF NOT EXISTS call_bodies{local}{on_cluster} (
    org_id LowCardinality(String),
    id String,
    created_at Int64,
    request_body Nullable(String) CODEC(ZSTD(3)),
    request_truncated Bool,
    request_omitted Bool,
    response_body Nullable(String) CODEC(ZSTD(3)),
    response_truncated Bool,
    response_omitted Bool,
    request_headers Map(String, String) CODEC(ZSTD(3)),
    created DateTime64(3, 'UTC') MATERIALIZED fromUnixTimestamp64Milli(created_at, 'UTC')
) ENGINE = {replicated}ReplacingMergeTree
PARTITION BY toYYYYMM(created)
ORDER BY (org_id, created_at, id)
SETTINGS non_replicated_deduplication_window = 1000;

{cluster_only} CREATE TABLE IF NOT EXISTS call_bodies{on_cluster} AS call_bodies_local
ENGINE = Distributed({cluster}, currentDatabase(), call_bodies_local, cityHash64(org_id, id));

-- Scores and feedback on calls, one row per setting; the highest version per (call, name)
-- wins.
CREATE TABLE IF NOT EXISTS call_score_log{local}{on_cluster} (
    org_id LowCardinality(String),
    call_id String,
    name String,
    value Float64,
    created_at Int64,
    version UInt64
) ENGINE = {replicated}ReplacingMergeTree(version)
ORDER BY (org_id, call_id, name);

{cluster_only} CREATE TABLE IF NOT EXISTS call_score_log{on_cluster} AS call_score_log_local
ENGINE = Distributed({cluster}, currentDatabase(), call_score_log_local, cityHash64(org_id, call_id));

-- Session totals, kept at write time by the materialized view below: each insert of calls
-- adds one row of deltas per session, in the same insert, and rows of one session merge into
-- one. Sums are Int128 so that they never wrap; the view
-- below saturates them at the Int64 every engine reports. The name is the latest non-empty
-- one as (when, name); feedback the latest rating as (version, 1 | 0), -1 meaning none.
CREATE TABLE IF NOT EXISTS session_totals{local}{on_cluster} (
    org_id LowCardinality(String),
    session_id String,
    latest_name SimpleAggregateFunction(max, Tuple(Int64, String)),
    first_request_at SimpleAggregateFunction(min, Int64),
    last_request_at SimpleAggregateFunction(max, Int64),
    last_response_at SimpleAggregateFunction(max, Int64),
    request_count SimpleAggregateFunction(sum, Int128),
    error_count SimpleAggregateFunction(sum, Int128),
    prompt_tokens SimpleAggregateFunction(sum, Int128),
    completion_tokens SimpleAggregateFunction(sum, Int128),
    cost_nano SimpleAggregateFunction(sum, Int128),
    unpriced_count SimpleAggregateFunction(sum, Int128),
    latency_sum_ms SimpleAggregateFunction(sum, Int128),
    user_ids SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    latest_feedback SimpleAggregateFunction(max, Tuple(Int64, Int8))
) ENGINE = {replicated}AggregatingMergeTree
ORDER BY (org_id, session_id)
SETTINGS non_replicated_deduplication_window = 1000;

{cluster_only} CREATE TABLE IF NOT EXISTS session_totals{on_cluster} AS session_totals_local
ENGINE = Distributed({cluster}, currentDatabase(), session_totals_local, cityHash64(org_id, session_id));

-- What each insert of new calls adds to its sessions. Edited rows (a property set later) are
-- the same calls again and add nothing. The rules for what counts as an error or unpriced
-- are decided in Rust when the call is written (is_error, is_unpriced), as for every engine.
CREATE MATERIALIZED VIEW IF NOT EXISTS session_totals_mv{on_cluster} TO session_totals{local} AS
SELECT
    c.org_id AS org_id,
    assumeNotNull(c.session_id) AS session_id,
    max(if(ifNull(c.session_name, '') = '', (toInt64(0), ''),
        (c.created_at, assumeNotNull(c.session_name)))) AS latest_name,
    min(c.created_at) AS first_request_at,
    max(c.created_at) AS last_request_at,
    max(ifNull(c.response_created_at, c.created_at)) AS last_response_at,
    toInt128(count()) AS request_count,
    toInt128(countIf(c.is_error)) AS error_count,
    sum(toInt128(c.prompt_tokens)) AS prompt_tokens,
    sum(toInt128(c.completion_tokens)) AS completion_tokens,
    sum(toInt128(greatest(ifNull(c.cost_nano, 0), 0))) AS cost_nano,
    toInt128(countIf(c.is_unpriced)) AS unpriced_count,
    sum(toInt128(greatest(ifNull(c.latency_ms, 0), 0))) AS latency_sum_ms,
    groupUniqArrayIf(assumeNotNull(c.user_id), ifNull(c.user_id, '') != '') AS user_ids,
    (toInt64(0), toInt8(-1)) AS latest_feedback
FROM call_log{local} AS c
WHERE c.session_id IS NOT NULL AND NOT c.edited
GROUP BY c.org_id, c.session_id;

-- Session tags, one row per tagging; a tag added twice is one tag, dated by its first adding.
CREATE TABLE IF NOT EXISTS session_tag_log{local}{on_cluster} (
    org_id LowCardinality(String),
    session_id String,
    tag String,
    created_at Int64
) ENGINE = {replicated}MergeTree
ORDER BY (org_id, session_id, tag);

{cluster_only} CREATE TABLE IF NOT EXISTS session_tag_log{on_cluster} AS session_tag_log_local
ENGINE = Distributed({cluster}, currentDatabase(), session_tag_log_local, cityHash64(org_id, session_id));

-- Organisations and their keys, small and replicated whole. Keys are SHA-256 hashes; a
-- revocation writes the key's row again with a higher version.
CREATE TABLE IF NOT EXISTS orgs{local}{on_cluster} (
    id String,
    name String,
    created_at Int64
) ENGINE = {replicated}ReplacingMergeTree
ORDER BY id;

{cluster_only} CREATE TABLE IF NOT EXISTS orgs{on_cluster} AS orgs_local
ENGINE = Distributed({cluster}, currentDatabase(), orgs_local, cityHash64(id));

CREATE TABLE IF NOT EXISTS api_key_log{local}{on_cluster} (
    id String,
    org_id String,
    key_hash String,
    key_prefix String,
    created_at Int64,
    revoked_at Nullable(Int64),
    version UInt64
) ENGINE = {replicated}ReplacingMergeTree(version)
ORDER BY id;

{cluster_only} CREATE TABLE IF NOT EXISTS api_key_log{on_cluster} AS api_key_log_local
ENGINE = Distributed({cluster}, currentDatabase(), api_key_log_local, cityHash64(id));

-- What the queries read: the latest version of each row, under the names and columns every
-- relational engine's shared SQL (canopy_store::sql) uses.
CREATE VIEW IF NOT EXISTS calls{on_cluster} AS SELECT * FROM call_log FINAL;

CREATE VIEW IF NOT EXISTS call_scores{on_cluster} AS
SELECT org_id, call_id, name, toNullable(value) AS value, created_at FROM call_score_log FINAL;

CREATE VIEW IF NOT EXISTS sessions{on_cluster} AS
SELECT
    org_id,
    session_id,
    nullIf(tupleElement(latest_name, 2), '') AS name,
    first_request_at,
    last_request_at,
    last_response_at,
    toInt64(least(request_count, 9223372036854775807)) AS request_count,
    toInt64(least(error_count, 9223372036854775807)) AS error_count,
    toInt64(least(prompt_tokens, 9223372036854775807)) AS prompt_tokens,
    toInt64(least(completion_tokens, 9223372036854775807)) AS completion_tokens,
    toInt64(least(cost_nano, 9223372036854775807)) AS cost_nano,
    toInt64(least(unpriced_count, 9223372036854775807)) AS unpriced_count,
    toInt64(least(latency_sum_ms, 9223372036854775807)) AS latency_sum_ms,
    arraySort(user_ids) AS user_ids,
    if(tupleElement(latest_feedback, 2) < 0, NULL, toBool(tupleElement(latest_feedback, 2) = 1)) AS feedback
FROM session_totals FINAL;

CREATE VIEW IF NOT EXISTS session_tags{on_cluster} AS
SELECT t.org_id AS org_id, t.session_id AS session_id, t.tag AS tag,
    min(t.created_at) AS created_at
FROM session_tag_log AS t GROUP BY t.org_id, t.session_id, t.tag;

CREATE VIEW IF NOT EXISTS api_keys{on_cluster} AS SELECT * FROM api_key_log FINAL;

-- One organisation per name: two gateways creating the first key of a new organisation at
-- once may both write it; the earliest row is the organisation, and both gateways use it.
CREATE VIEW IF NOT EXISTS org_names{on_cluster} AS
SELECT argMin(o.id, (o.created_at, o.id)) AS id, o.name AS name, min(o.created_at) AS created_at
FROM orgs AS o FINAL GROUP BY o.name
