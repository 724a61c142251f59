-- +goose Up
-- Cheaper name keys for customers' generated columns (issue 4, bulk import).
--
-- The two functions return exactly what 00008's did, for every input
-- (checked over the benchmark seed and edge cases: empty, NULL, Latin,
-- mixed, astral ideographs, 〇), so stored values stay valid; only the
-- cost changes:
--
-- * sb_han: a name that is all ASCII has no Chinese characters, and
--   octet_length = length says so without the regular expression, which
--   cost about 6 µs per Latin name.
-- * sb_name_grams: 00008's body was a query (WITH, generate_series, ARRAY
--   of a UNION), which PostgreSQL cannot inline, so every customer row
--   written ran a small executor: about 9 µs per row, Latin or Chinese.
--   This body is one expression (inlined into the generated column): the
--   characters after the first, each prefixed by the tenant; then the pairs
--   that do not start at the first character, got by doubling every
--   character ("伟国明" → "伟伟国国明明"), dropping the first and last
--   ("伟国国明") and cutting into pairs ("伟国", "国明"), in the same order
--   as before. ',' separates the elements: it is neither a Chinese
--   character nor in a uuid's text.
-- Both are CALLED ON NULL INPUT, because a STRICT SQL function is inlined
-- only when its body is strict, and CASE is not; NULL in gives NULL out as
-- before.

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sb_han(name text) RETURNS text
    LANGUAGE sql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
    RETURN CASE WHEN octet_length(name) = length(name) THEN ''
                ELSE regexp_replace(name, '[^\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]', '', 'g') END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sb_name_grams(tenant uuid, name text) RETURNS text[]
    LANGUAGE sql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
    RETURN CASE WHEN tenant IS NULL OR name IS NULL THEN NULL
                WHEN octet_length(name) = length(name) THEN '{}'::text[]
                ELSE string_to_array(rtrim(regexp_replace(substr(sb_han(name), 2), '(.)', tenant::text || '\1,', 'g'), ','), ',')
                  || string_to_array(rtrim(regexp_replace(
                         regexp_replace(regexp_replace(substr(sb_han(name), 2), '(.)', '\1\1', 'g'), '^.|.$', '', 'g'),
                         '(..)', tenant::text || '\1,', 'g'), ','), ',') END;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sb_han(name text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN regexp_replace(name, '[^\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]', '', 'g');
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sb_name_grams(tenant uuid, name text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (WITH h AS (SELECT sb_han(name) AS h)
            SELECT ARRAY(SELECT tenant::text || substr(h.h, i, 1) FROM generate_series(2, length(h.h)) i
                         UNION ALL
                         SELECT tenant::text || substr(h.h, i, 2) FROM generate_series(2, length(h.h) - 1) i)
            FROM h);
-- +goose StatementEnd
