-- +goose Up
-- Customer search (crm/search.go): Chinese names by their characters, by
-- pinyin and by initials; Latin names; plates and VINs as agents type them.
-- Databases are created with LC_CTYPE and LC_COLLATE C.UTF-8 (pgtest,
-- .ci/services), but nothing here depends on it: the name keys are compared
-- under COLLATE "C" (byte order, which for UTF-8 is code point order), so
-- prefix LIKE and keyset comparisons use the btree indexes on any server.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The Chinese characters of a name in order, everything else dropped:
-- "王伟 Wang Wei" → "王伟". The ranges are code points (CJK unified
-- ideographs, extension A, compatibility ideographs, extensions B and up,
-- and 〇); crm.hanOf keeps the same list.
-- +goose StatementBegin
CREATE FUNCTION sb_han(name text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN regexp_replace(name, '[^\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]', '', 'g');
-- +goose StatementEnd

-- The inner grams of a name's Chinese characters, each prefixed by the
-- tenant: the characters and the pairs of characters that do not start at
-- the first character. A query that is a prefix of the name ("王", "王伟",
-- "欧阳娜娜") is answered by the btree on name_han in index order; one that
-- starts inside the name ("伟", "阳娜") by these grams. Leaving the first
-- character out keeps the surname's huge posting lists ("王": one name in
-- fourteen) out of the GIN index, so a one-character query inside names
-- never fetches every Wang only to throw them away. The tenant prefix makes
-- every key one tenant's: a search never reads another tenant's postings.
-- +goose StatementBegin
CREATE FUNCTION sb_name_grams(tenant uuid, name text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (WITH h AS (SELECT sb_han(name) AS h)
            SELECT ARRAY(SELECT tenant::text || substr(h.h, i, 1) FROM generate_series(2, length(h.h)) i
                         UNION ALL
                         SELECT tenant::text || substr(h.h, i, 2) FROM generate_series(2, length(h.h) - 1) i)
            FROM h);
-- +goose StatementEnd

-- A plate as agents type it: "沪a 12345", "沪A·12345" and "沪A-12345" are all
-- "沪A12345".
-- +goose StatementBegin
CREATE FUNCTION sb_plate_key(plate text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN upper(regexp_replace(plate, '[\s·•.\-]', '', 'g'));
-- +goose StatementEnd

-- name_pinyin and name_initials are written by the application from
-- crm.nameKeys (pinyin needs a dictionary that SQL does not have): every
-- path that writes customers.name writes them too. name_han and name_grams
-- follow the name by themselves.
ALTER TABLE customers
    ADD COLUMN name_pinyin   text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN name_initials text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN name_han      text COLLATE "C" GENERATED ALWAYS AS (sb_han(name)) STORED,
    ADD COLUMN name_grams    text[] GENERATED ALWAYS AS (sb_name_grams(tenant_id, name)) STORED;

-- Prefix search in index order: "wang" walks names from "wang" on and stops
-- after a page; id breaks ties for keyset pagination. Deleted customers are
-- never searched, so they are left out of the indexes.
CREATE INDEX customers_name_pinyin_idx ON customers (tenant_id, name_pinyin, id)
    WHERE deleted_at IS NULL AND name_pinyin <> '';
CREATE INDEX customers_name_initials_idx ON customers (tenant_id, name_initials, id)
    WHERE deleted_at IS NULL AND name_initials <> '';
CREATE INDEX customers_name_han_idx ON customers (tenant_id, name_han, id)
    WHERE deleted_at IS NULL AND name_han <> '';
CREATE INDEX customers_name_grams_idx ON customers USING gin (name_grams)
    WHERE deleted_at IS NULL;
-- Latin names by a word inside them ("smith" in "John Smith"); used for
-- queries of three letters or more, where trigrams are selective.
CREATE INDEX customers_name_trgm_idx ON customers USING gin (lower(name) gin_trgm_ops)
    WHERE deleted_at IS NULL;

CREATE INDEX vehicles_plate_key_idx ON vehicles (tenant_id, sb_plate_key(plate)) WHERE plate <> '';
CREATE INDEX vehicles_vin_upper_idx ON vehicles (tenant_id, upper(vin)) WHERE vin <> '';

-- +goose Down
DROP INDEX vehicles_vin_upper_idx, vehicles_plate_key_idx;
DROP INDEX customers_name_trgm_idx, customers_name_grams_idx, customers_name_han_idx,
    customers_name_initials_idx, customers_name_pinyin_idx;
ALTER TABLE customers DROP COLUMN name_grams, DROP COLUMN name_han,
    DROP COLUMN name_initials, DROP COLUMN name_pinyin;
DROP FUNCTION sb_plate_key(text);
DROP FUNCTION sb_name_grams(uuid, text);
DROP FUNCTION sb_han(text);
