-- Ids and organisation ids are opaque: compare them byte by byte (COLLATE "C") instead of by
-- the database's locale. Every write probes and extends indexes keyed by them; locale-aware
-- comparison made that a large part of each insert's cost (ingest was 15-30 % slower in one
-- A/B run on the same server). Text that users search (session ids, names, paths, models,
-- user ids) keeps the database's collation, so `ilike` and `contains` still fold all of
-- Unicode. The tables and their indexes are rewritten once.
ALTER TABLE calls
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN org_id TYPE TEXT COLLATE "C",
    ALTER COLUMN key_id TYPE TEXT COLLATE "C";
ALTER TABLE call_bodies
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN org_id TYPE TEXT COLLATE "C";
ALTER TABLE call_scores
    ALTER COLUMN call_id TYPE TEXT COLLATE "C",
    ALTER COLUMN org_id TYPE TEXT COLLATE "C";
ALTER TABLE sessions ALTER COLUMN org_id TYPE TEXT COLLATE "C";
ALTER TABLE session_tags ALTER COLUMN org_id TYPE TEXT COLLATE "C";
ALTER TABLE session_users ALTER COLUMN org_id TYPE TEXT COLLATE "C";
ALTER TABLE api_keys
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN org_id TYPE TEXT COLLATE "C";
ALTER TABLE orgs ALTER COLUMN id TYPE TEXT COLLATE "C";
