package crm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/text/width"
)

// SearchQuery is what an agent typed into the search box.
type SearchQuery struct {
	Text string
	// Scope limits the results to the customers the viewer may see (see
	// ScopeFor). The zero Scope sees only customers without a site of
	// record, so a caller that forgets it shows too little, never too much.
	Scope Scope
	// Limit is the page size, clamped to 1..100; 0 means 20.
	Limit int
	// Cursor is the previous page's NextCursor; "" for the first page.
	Cursor string
}

// SearchHit is one customer found.
type SearchHit struct {
	ID     uuid.UUID  `json:"id"`
	Name   string     `json:"name"`
	Kind   string     `json:"kind"`
	Tier   string     `json:"tier"`
	SiteID *uuid.UUID `json:"site_id,omitempty"`
	// Match says what matched: phone, email, external, vin, plate, order
	// (exact matches) or name, pinyin, initials.
	Match string `json:"match"`
}

// SearchPage is one page of results, best first. NextCursor is "" on the
// last page.
type SearchPage struct {
	Hits       []SearchHit `json:"hits"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

// Result tiers, best first. A page lists tier 0 before tier 1 and so on;
// inside a tier, results are in index order (the name key, then id), which
// keeps every tier's query an index range scan that stops after a page.
const (
	tierExact    = iota // an identity, VIN, plate or order number equals the query
	tierHanStart        // the name's Chinese characters start with the query: surname, full name
	tierHanInner        // the query appears inside the Chinese name: a given name
	tierPinyin          // the name's pinyin (or a Latin name's letters) starts with the query
	tierInitials        // the initials start with the query: "ww" for 王伟
	tierLatin           // a Latin name contains the query: "smith" in "John Smith"
)

const (
	defaultSearchLimit = 20
	maxSearchLimit     = 100
	maxSearchText      = 100 // runes; longer input is not a name, number or plate
)

// searchCursor is where a page ended: the tier, the last hit's key in that
// tier's order and its id.
type searchCursor struct {
	Tier int       `json:"t"`
	Key  string    `json:"k,omitempty"`
	ID   uuid.UUID `json:"i"`
}

func (c searchCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (searchCursor, error) {
	c := searchCursor{Tier: -1}
	if s == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Tier < tierExact || c.Tier > tierLatin {
		return searchCursor{}, fmt.Errorf("search cursor: %w", ErrInvalid)
	}
	return c, nil
}

// searchTerms is the query classified: every way the text may be meant.
// Several may hold at once ("13800138000" is a phone and maybe an order
// number); each tier's query uses those it needs.
type searchTerms struct {
	phoneLike bool     // digits and phone punctuation only: phones are tried
	phones    []string // E.164 readings, filled in by Search (needs the tenant's countries)
	email     string   // normalised e-mail
	exact     string   // the text as typed, trimmed: external, WeChat ids
	orders    []string // order numbers: as typed and upper-cased
	vin       string   // 17 letters and digits, upper-cased
	plate     string   // plate candidate (compared by sb_plate_key)
	han       string   // the Chinese characters of a name query
	latin     string   // a Latin or pinyin name query: letters only, lower-case, no spaces
	latinText string   // the same with its spaces, for the contains match
}

// hanOf returns the Chinese characters of s; the ranges are those of the
// SQL function sb_han (migration 00008), so that the query and the stored
// keys agree.
func hanOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if isSearchHan(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isSearchHan(r rune) bool {
	return r == 0x3007 || (r >= 0x3400 && r <= 0x4dbf) || (r >= 0x4e00 && r <= 0x9fff) ||
		(r >= 0xf900 && r <= 0xfaff) || (r >= 0x20000 && r <= 0x2fa1f)
}

// classify reads the search text. It never fails: text that fits nothing
// simply finds nothing.
func classify(text string) searchTerms {
	t := strings.TrimSpace(width.Fold.String(text))
	var st searchTerms
	st.exact = t
	var digits, letters, han, other int
	for _, r := range t {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r < utf8.RuneSelf && unicode.IsLetter(r):
			letters++
		case isSearchHan(r):
			han++
		case strings.ContainsRune(" +-().·", r):
		default:
			other++
		}
	}
	if strings.Contains(t, "@") {
		if e, err := NormalizeEmail(t); err == nil {
			st.email = e
		}
		return st
	}
	// Order numbers have digits and no spaces ("SO-2024-0001").
	if digits > 0 && !strings.ContainsAny(t, " \t") && len(t) <= 64 {
		st.orders = []string{t}
		if u := strings.ToUpper(t); u != t {
			st.orders = append(st.orders, u)
		}
	}
	st.phoneLike = digits >= 5 && letters == 0 && han == 0 && other == 0
	if compact := strings.ToUpper(strings.ReplaceAll(t, " ", "")); len(compact) == 17 && letters > 0 && digits > 0 && isAlnum(compact) {
		st.vin = compact
	}
	// A plate: a province character or letters with at least three digits,
	// five to ten characters once spaces and dots are gone (沪A12345,
	// 粤B D12345, WAN1234).
	if plateKey := strings.NewReplacer(" ", "", "·", "", ".", "", "-", "").Replace(t); digits >= 3 && (han > 0 || letters > 0) &&
		han <= 2 && utf8.RuneCountInString(plateKey) >= 5 && utf8.RuneCountInString(plateKey) <= 10 {
		st.plate = t
	}
	if digits > 0 {
		return st // names have no digits
	}
	if han > 0 {
		st.han = hanOf(t)
		return st
	}
	if letters > 0 && other == 0 {
		st.latin, _ = nameKeys(t)
		st.latinText = strings.Join(strings.Fields(strings.ToLower(t)), " ")
	}
	return st
}

func isAlnum(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// prefixEnd is the least string greater than every string starting with p,
// in code point order (COLLATE "C" on UTF-8): the exclusive upper bound of a
// prefix range. A range instead of LIKE 'p%' keeps the condition an index
// range under a generic plan, where a LIKE pattern parameter is opaque.
func prefixEnd(p string) string {
	r := []rune(p)
	for i := len(r) - 1; i >= 0; i-- {
		if r[i] < unicode.MaxRune {
			r[i]++
			if r[i] >= 0xd800 && r[i] <= 0xdfff { // surrogates are not valid in UTF-8
				r[i] = 0xe000
			}
			return string(r[:i+1])
		}
	}
	return p + string(unicode.MaxRune)
}

// searchStmt is one tier's statement.
type searchStmt struct {
	tier int
	sql  string
	args []any
}

// sqlArgs numbers arguments as they are added.
type sqlArgs struct{ args []any }

func (a *sqlArgs) add(v any) string {
	a.args = append(a.args, v)
	return "$" + strconv.Itoa(len(a.args))
}

const hitColumns = `k.id, k.name, k.kind, k.tier, k.site_id`

// hanInnerWindow is how many customers, in id order, the inner-name tier
// looks through for a page before it asks the GIN index instead: enough
// for a common given-name character to fill a page, small enough that a
// rare one costs little before the index takes over (and well under 1% of
// a large tenant, the benchmark's limit on rows filtered).
const hanInnerWindow = 1000

// searchStatements returns the statements of the tiers that apply to st,
// best tier first, each limited to limit rows and starting after cur.
func searchStatements(tenant uuid.UUID, st searchTerms, sc Scope, cur searchCursor, limit int) []searchStmt {
	var out []searchStmt
	// base starts a tier's statement: tenant, not deleted, in scope, and
	// after the cursor when the cursor is in this tier.
	base := func(tier int, keyCol string) (*sqlArgs, string) {
		a := &sqlArgs{}
		where := "k.tenant_id = " + a.add(tenant) + " AND k.deleted_at IS NULL"
		cond, sargs := scopeFilter(sc, "k", 2)
		a.args = append(a.args, sargs...)
		where += " AND " + cond
		if cur.Tier == tier {
			if keyCol == "" {
				where += " AND k.id > " + a.add(cur.ID)
			} else {
				where += " AND (" + keyCol + ", k.id) > (" + a.add(cur.Key) + ", " + a.add(cur.ID) + ")"
			}
		}
		return a, where
	}
	want := func(tier int) bool { return cur.Tier <= tier }

	// The vehicle parts look up each matching vehicle's customers by index
	// (LATERAL ... OFFSET 0 is not flattened): the planner misjudges the
	// plate key's selectivity and would otherwise hash-join every link.
	if want(tierExact) && (len(st.phones) > 0 || st.email != "" || st.exact != "" || st.vin != "" || st.plate != "" || len(st.orders) > 0) {
		a, where := base(tierExact, "")
		t := "$1"
		var parts []string
		if len(st.phones) > 0 {
			parts = append(parts, `SELECT i.customer_id, 'phone' AS match FROM customer_identities i
				WHERE i.tenant_id = `+t+` AND i.kind = 'phone' AND i.value = ANY (`+a.add(st.phones)+`::text[])`)
		}
		if st.email != "" {
			parts = append(parts, `SELECT i.customer_id, 'email' AS match FROM customer_identities i
				WHERE i.tenant_id = `+t+` AND i.kind = 'email' AND i.value = `+a.add(st.email))
		}
		if st.exact != "" && st.email == "" && !st.phoneLike && st.han == "" && st.latin == "" {
			parts = append(parts, `SELECT i.customer_id, 'external' AS match FROM customer_identities i
				WHERE i.tenant_id = `+t+` AND i.kind IN ('external', 'wechat') AND i.value = `+a.add(st.exact))
		}
		if st.vin != "" {
			parts = append(parts, `SELECT cv.customer_id, 'vin' AS match FROM vehicles v
				CROSS JOIN LATERAL (SELECT cv.customer_id FROM customer_vehicles cv
					WHERE cv.tenant_id = v.tenant_id AND cv.vehicle_id = v.id OFFSET 0) cv
				WHERE v.tenant_id = `+t+` AND v.vin <> '' AND upper(v.vin) = `+a.add(st.vin))
		}
		if st.plate != "" {
			parts = append(parts, `SELECT cv.customer_id, 'plate' AS match FROM vehicles v
				CROSS JOIN LATERAL (SELECT cv.customer_id FROM customer_vehicles cv
					WHERE cv.tenant_id = v.tenant_id AND cv.vehicle_id = v.id OFFSET 0) cv
				WHERE v.tenant_id = `+t+` AND v.plate <> '' AND sb_plate_key(v.plate) = sb_plate_key(`+a.add(st.plate)+`::text)`)
		}
		if len(st.orders) > 0 {
			parts = append(parts, `SELECT o.customer_id, 'order' AS match FROM service_orders o
				WHERE o.tenant_id = `+t+` AND o.number = ANY (`+a.add(st.orders)+`::text[])`)
		}
		if len(parts) > 0 {
			out = append(out, searchStmt{tierExact, `
				SELECT ` + hitColumns + `, m.match, '' FROM (
					SELECT x.customer_id, min(x.match) AS match FROM (` + strings.Join(parts, "\nUNION ALL\n") + `) x
					GROUP BY x.customer_id) m
				JOIN customers k ON k.tenant_id = $1 AND k.id = m.customer_id
				WHERE ` + where + `
				ORDER BY k.id LIMIT ` + a.add(limit), a.args})
		}
	}

	if st.han != "" {
		lo, hi := st.han, prefixEnd(st.han)
		if want(tierHanStart) {
			a, where := base(tierHanStart, "k.name_han")
			out = append(out, searchStmt{tierHanStart, `
				SELECT ` + hitColumns + `, 'name', k.name_han FROM customers k
				WHERE ` + where + ` AND k.name_han <> ''
				  AND k.name_han >= ` + a.add(lo) + ` AND k.name_han < ` + a.add(hi) + `
				ORDER BY k.name_han, k.id LIMIT ` + a.add(limit), a.args})
		}
		if want(tierHanInner) && utf8.RuneCountInString(st.han) > 1 {
			// Two or more characters: the bigrams are selective, so the
			// GIN index's matches are few and sorting them is cheap.
			a, where := base(tierHanInner, "")
			out = append(out, searchStmt{tierHanInner, `
				WITH m AS MATERIALIZED (
					SELECT ` + hitColumns + ` FROM customers k
					WHERE ` + where + ` AND k.name_grams @> ` + a.add(hanGrams(tenant, st.han)) + `::text[]
					  AND strpos(k.name_han, ` + a.add(st.han) + `) > 1)
				SELECT m.id, m.name, m.kind, m.tier, m.site_id, 'name', '' FROM m
				ORDER BY m.id LIMIT ` + a.add(limit), a.args})
		} else if want(tierHanInner) {
			a, where := base(tierHanInner, "")
			// The grams find names with every pair of the query inside them;
			// strpos keeps those where the pairs are in a row and not at the
			// start (those were tierHanStart's). One character may be in
			// very many names; two plans, one statement:
			//
			// f walks the tenant's customers in id order (the (tenant_id,
			// id) index) from the cursor, at most hanInnerWindow of them,
			// and keeps the matches. When that window holds a page of
			// matches, they are the page: any match after the window has a
			// larger id. A common character (伟 in one name of twelve)
			// fills a page within a few hundred customers, so nothing
			// collects and sorts every match.
			//
			// Otherwise the character is rare, so its matches are few: m
			// takes them from the GIN index (MATERIALIZED keeps the planner
			// off an id-ordered walk of every customer) and sorts them. The
			// count of f is an InitPlan, so m's scan never starts when f
			// was enough.
			win := "k.tenant_id = $1"
			if cur.Tier == tierHanInner {
				win += " AND k.id > " + a.add(cur.ID)
			}
			grams, han, lim := a.add(hanGrams(tenant, st.han)), a.add(st.han), a.add(limit)
			match := ` AND k.name_grams @> ` + grams + `::text[] AND strpos(k.name_han, ` + han + `) > 1`
			out = append(out, searchStmt{tierHanInner, `
				WITH f AS MATERIALIZED (
					SELECT ` + hitColumns + ` FROM (
						SELECT * FROM customers k WHERE ` + win + ` ORDER BY k.id LIMIT ` + strconv.Itoa(hanInnerWindow) + `) k
					WHERE ` + where + match + `
					ORDER BY k.id LIMIT ` + lim + `),
				m AS MATERIALIZED (
					SELECT ` + hitColumns + ` FROM customers k
					WHERE ` + where + match + `)
				SELECT f.id, f.name, f.kind, f.tier, f.site_id, 'name', '' FROM f
				WHERE (SELECT count(*) FROM f) >= ` + lim + `
				UNION ALL
				(SELECT m.id, m.name, m.kind, m.tier, m.site_id, 'name', '' FROM m
				 WHERE (SELECT count(*) FROM f) < ` + lim + `
				 ORDER BY m.id LIMIT ` + lim + `)
				ORDER BY 1`, a.args})
		}
	}

	if st.latin != "" {
		pyLo, pyHi := st.latin, prefixEnd(st.latin)
		if want(tierPinyin) {
			a, where := base(tierPinyin, "k.name_pinyin")
			out = append(out, searchStmt{tierPinyin, `
				SELECT ` + hitColumns + `, 'pinyin', k.name_pinyin FROM customers k
				WHERE ` + where + ` AND k.name_pinyin <> ''
				  AND k.name_pinyin >= ` + a.add(pyLo) + ` AND k.name_pinyin < ` + a.add(pyHi) + `
				ORDER BY k.name_pinyin, k.id LIMIT ` + a.add(limit), a.args})
		}
		// Initials are two to four letters; longer queries are words.
		if n := len(st.latin); n >= 1 && n <= 4 && want(tierInitials) {
			a, where := base(tierInitials, "k.name_initials")
			out = append(out, searchStmt{tierInitials, `
				SELECT ` + hitColumns + `, 'initials', k.name_initials FROM customers k
				WHERE ` + where + ` AND k.name_initials <> ''
				  AND k.name_initials >= ` + a.add(pyLo) + ` AND k.name_initials < ` + a.add(pyHi) + `
				  AND NOT (k.name_pinyin >= ` + a.add(pyLo) + ` AND k.name_pinyin < ` + a.add(pyHi) + `)
				ORDER BY k.name_initials, k.id LIMIT ` + a.add(limit), a.args})
		}
		// Trigrams are selective from three characters on; below that a
		// contains match would read every Latin name.
		if utf8.RuneCountInString(st.latinText) >= 3 && want(tierLatin) {
			a, where := base(tierLatin, "")
			pattern := "%" + escapeLike(st.latinText) + "%"
			out = append(out, searchStmt{tierLatin, `
				SELECT ` + hitColumns + `, 'name', '' FROM customers k
				WHERE ` + where + ` AND lower(k.name) LIKE ` + a.add(pattern) + `
				  AND NOT (k.name_pinyin >= ` + a.add(pyLo) + ` AND k.name_pinyin < ` + a.add(pyHi) + `)
				  AND NOT (k.name_initials >= ` + a.add(pyLo) + ` AND k.name_initials < ` + a.add(pyHi) + `)
				ORDER BY k.id LIMIT ` + a.add(limit), a.args})
		}
	}
	return out
}

// hanGrams are the index keys (see sb_name_grams) a name must have to
// contain q: q itself when it is one character, else its pairs.
func hanGrams(tenant uuid.UUID, q string) []string {
	r := []rune(q)
	prefix := tenant.String()
	if len(r) == 1 {
		return []string{prefix + q}
	}
	out := make([]string, 0, len(r)-1)
	for i := 0; i+1 < len(r); i++ {
		out = append(out, prefix+string(r[i:i+2]))
	}
	return out
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Search finds the customers of tenant that q.Text names: by phone in any
// format (read with the dialling rules of each country the tenant has
// sites in), e-mail, external or WeChat id, VIN, plate, service order
// number (all exact), or by name: Chinese characters (the start of the name,
// then inside it), pinyin and initials, Latin names. Results come best tier
// first and page on with NextCursor. Tiers are queried one after another
// and only until the page is full, so a common surname costs one index
// range scan.
func (s *Store) Search(ctx context.Context, tenant uuid.UUID, q SearchQuery) (SearchPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultSearchLimit
	}
	limit = min(limit, maxSearchLimit)
	if utf8.RuneCountInString(q.Text) > maxSearchText || !utf8.ValidString(q.Text) || strings.ContainsRune(q.Text, 0) {
		return SearchPage{}, fmt.Errorf("search: query too long or malformed: %w", ErrInvalid)
	}
	cur, err := decodeCursor(q.Cursor)
	if err != nil {
		return SearchPage{}, err
	}
	st := classify(q.Text)
	if st.phoneLike {
		if st.phones, err = s.phoneReadings(ctx, tenant, st.exact); err != nil {
			return SearchPage{}, err
		}
	}
	page := SearchPage{Hits: []SearchHit{}}
	var keys []string
	var tiers []int
	for _, stmt := range searchStatements(tenant, st, q.Scope, cur, limit+1) {
		need := limit + 1 - len(page.Hits)
		if need <= 0 {
			break
		}
		stmt.args[len(stmt.args)-1] = need
		rows, err := s.pool.Query(ctx, stmt.sql, stmt.args...)
		if err != nil {
			return SearchPage{}, fmt.Errorf("search tier %d: %w", stmt.tier, err)
		}
		var key string
		var h SearchHit
		_, err = pgx.ForEachRow(rows, []any{&h.ID, &h.Name, &h.Kind, &h.Tier, &h.SiteID, &h.Match, &key}, func() error {
			page.Hits = append(page.Hits, h)
			keys = append(keys, key)
			tiers = append(tiers, stmt.tier)
			h = SearchHit{}
			return nil
		})
		if err != nil {
			return SearchPage{}, fmt.Errorf("search tier %d: %w", stmt.tier, err)
		}
	}
	if len(page.Hits) > limit {
		page.Hits = page.Hits[:limit]
		last := limit - 1
		page.NextCursor = searchCursor{Tier: tiers[last], Key: keys[last], ID: page.Hits[last].ID}.encode()
	}
	return page, nil
}

// phoneReadings returns raw in E.164 as read by the dialling rules of each
// country the tenant has a site in (CN when it has none yet). Unreadable
// input gives none: it may still be an order number.
func (s *Store) phoneReadings(ctx context.Context, tenant uuid.UUID, raw string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT country FROM sites WHERE tenant_id = $1`, tenant)
	if err != nil {
		return nil, fmt.Errorf("search: countries: %w", err)
	}
	countries, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("search: countries: %w", err)
	}
	if len(countries) == 0 {
		countries = []string{"CN"}
	}
	var out []string
	for _, c := range countries {
		if p, err := NormalizePhone(raw, c); err == nil && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}
