package crm

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
	"github.com/switchboard-cc/switchboard/org"
)

// Import formats.
const (
	FormatCSV   = "csv"
	FormatJSONL = "jsonl"
)

// ImportColumns are the fields of an import record, in the order a CSV
// file usually has them. external_system and external_id are required: they
// are the key the record is upserted by. A field left empty (CSV) or out
// (JSON) leaves the stored value as it is.
var ImportColumns = []string{
	"external_system", "external_id", "kind", "name", "language", "tier", "notes",
	"phone", "email", "vin", "plate", "make", "model", "year", "vehicle_role",
}

// ImportOptions tune one import.
type ImportOptions struct {
	Format  string    // FormatCSV or FormatJSONL
	ActorID uuid.UUID // the admin who imports (audited); uuid.Nil from the command line
	Source  string    // "api" or "cli"
	// SiteID, when set, is the site of record of new customers, and its
	// dialling rules read the phones ("12345678" at a Shanghai site).
	SiteID uuid.UUID
	// TrustE164 skips parsing phones that are already in E.164 form (a DMS
	// export usually is): they are only checked by pattern. Other phones
	// are still parsed.
	TrustE164 bool
	// MaxLine is the longest record accepted, in bytes (default 64 KiB).
	MaxLine int
	// MaxProblems caps the problems returned in the summary (default 1000);
	// all of them are stored with the job.
	MaxProblems int
}

// ImportProblem is a line that was not imported: rejected for bad input,
// or a conflict with what is stored. Reasons name fields and rules, never
// the values (they may be personal data).
type ImportProblem struct {
	Line       int        `json:"line"`
	Outcome    string     `json:"outcome"` // "rejected" or "conflict"
	Field      string     `json:"field,omitempty"`
	Reason     string     `json:"reason"`
	CustomerID *uuid.UUID `json:"customer_id,omitempty"` // a conflict's other record
}

// ImportSummary is what an import did. Lines counts records (a CSV header
// is not one); every record is exactly one of created, updated, unchanged,
// conflict or rejected.
type ImportSummary struct {
	JobID             uuid.UUID       `json:"job_id"`
	Lines             int             `json:"lines"`
	Created           int             `json:"created"`
	Updated           int             `json:"updated"`
	Unchanged         int             `json:"unchanged"`
	Conflicts         int             `json:"conflicts"`
	Rejected          int             `json:"rejected"`
	Problems          []ImportProblem `json:"problems"`
	ProblemsTruncated bool            `json:"problems_truncated,omitempty"`
	Seconds           float64         `json:"seconds"`
}

// importRow is one valid record as staged. Nil pointers are "not given".
type importRow struct {
	line                                   int32
	customerID, extIdentID, phoneID        uuid.UUID
	emailID, vehicleID                     uuid.UUID
	extSystem, extID                       string
	kind, name, pinyin, initials, language *string
	tier, notes, phone, email, vin, plate  *string
	make, model, role                      *string
	year                                   *int32
}

var stageColumns = []string{
	"line", "customer_id", "ext_ident_id", "phone_id", "email_id", "vehicle_id", "ext_system", "ext_id",
	"kind", "name", "name_pinyin", "name_initials", "language", "tier", "notes", "phone", "email",
	"vin", "plate", "make", "model", "role", "year",
}

func (r *importRow) values() []any {
	return []any{r.line, r.customerID, r.extIdentID, r.phoneID, r.emailID, r.vehicleID, r.extSystem, r.extID,
		r.kind, r.name, r.pinyin, r.initials, r.language, r.tier, r.notes, r.phone, r.email,
		r.vin, r.plate, r.make, r.model, r.role, r.year}
}

// recordError is a per-line rejection.
type recordError struct{ field, reason string }

func (e *recordError) Error() string { return e.field + ": " + e.reason }

func reject(field, reason string) *recordError { return &recordError{field, reason} }

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// validator turns raw field values into an importRow.
type validator struct {
	country, area string
	trustE164     bool
}

func (v validator) row(line int, f map[string]string) (importRow, *recordError) {
	r := importRow{line: int32(line)}
	r.extSystem = strings.ToLower(strings.TrimSpace(f["external_system"]))
	if r.extSystem == "" {
		return r, reject("external_system", "is required")
	}
	if !externalSystem.MatchString(r.extSystem) {
		return r, reject("external_system", "must be lower-case letters, digits, '.', '_' or '-' (at most 64)")
	}
	r.extID = strings.TrimSpace(f["external_id"])
	if r.extID == "" {
		return r, reject("external_id", "is required")
	}
	if len(r.extID) > 128 {
		return r, reject("external_id", "is longer than 128 bytes")
	}
	text := func(field string, max int) (*string, *recordError) {
		s, ok := f[field]
		if !ok || strings.TrimSpace(s) == "" {
			return nil, nil
		}
		s, err := cleanText(field, s, max)
		if err != nil {
			return nil, reject(field, strings.TrimPrefix(err.Error(), field+" "))
		}
		return &s, nil
	}
	var re *recordError
	if r.kind, re = text("kind", 16); re != nil {
		return r, re
	}
	if r.kind != nil && *r.kind != "person" && *r.kind != "company" {
		return r, reject("kind", "must be person or company")
	}
	if r.name, re = text("name", 200); re != nil {
		return r, re
	}
	if r.name != nil {
		p, i := nameKeys(*r.name)
		r.pinyin, r.initials = &p, &i
	}
	if r.language, re = text("language", 35); re != nil {
		return r, re
	}
	if r.language != nil && !languageTag.MatchString(*r.language) {
		return r, reject("language", "must be a language tag like zh-CN or en")
	}
	if r.tier, re = text("tier", 32); re != nil {
		return r, re
	}
	if r.tier != nil && !tierName.MatchString(*r.tier) {
		return r, reject("tier", "must be a lower-case word like gold, growth or standard")
	}
	if r.notes, re = text("notes", 10000); re != nil {
		return r, re
	}
	if s := strings.TrimSpace(f["phone"]); s != "" {
		if !(v.trustE164 && e164.MatchString(s)) {
			n, err := NormalizePhoneAt(s, v.country, v.area)
			if err != nil {
				return r, reject("phone", "is not a valid phone number")
			}
			s = n
		}
		r.phone = &s
	}
	if s := strings.TrimSpace(f["email"]); s != "" {
		n, err := NormalizeEmail(s)
		if err != nil {
			return r, reject("email", "is not a valid e-mail address")
		}
		r.email = &n
	}
	if s := strings.TrimSpace(f["vin"]); s != "" {
		n, err := NormalizeVIN(s)
		if err != nil {
			return r, reject("vin", strings.TrimSuffix(strings.TrimPrefix(err.Error(), "vin "), ": "+ErrInvalid.Error()))
		}
		r.vin = &n
	}
	if s := strings.TrimSpace(f["plate"]); s != "" {
		n, err := NormalizePlate(s)
		if err != nil {
			return r, reject("plate", "must look like 沪A12345 or 京AD12345")
		}
		r.plate = &n
	}
	if r.make, re = text("make", 100); re != nil {
		return r, re
	}
	if r.model, re = text("model", 100); re != nil {
		return r, re
	}
	if s := strings.TrimSpace(f["year"]); s != "" {
		y, err := strconv.Atoi(s)
		if err != nil || y < 1886 || y > 2100 {
			return r, reject("year", "must be a year between 1886 and 2100")
		}
		y32 := int32(y)
		r.year = &y32
	}
	if s := strings.TrimSpace(f["vehicle_role"]); s != "" {
		role, err := checkRole(s)
		if err != nil {
			return r, reject("vehicle_role", "must be owner, driver, household or fleet")
		}
		r.role = &role
	}
	if r.vin == nil && (r.plate != nil || r.make != nil || r.model != nil || r.year != nil || r.role != nil) {
		return r, reject("vin", "is required with plate, make, model, year or vehicle_role (a vehicle is matched by its VIN)")
	}
	r.customerID, r.extIdentID = dbid.New(), dbid.New()
	if r.phone != nil {
		r.phoneID = dbid.New()
	}
	if r.email != nil {
		r.emailID = dbid.New()
	}
	if r.vin != nil {
		r.vehicleID = dbid.New()
	}
	return r, nil
}

// recordReader yields raw records with their line numbers.
type recordReader interface {
	// next returns the record of the next line, or a rejection of it, or
	// io.EOF; any other error aborts the import.
	next() (line int, fields map[string]string, rejected *recordError, err error)
}

// csvReader reads a CSV file with a header row naming the columns.
type csvReader struct {
	r      *csv.Reader
	header []string
}

func newCSVReader(in io.Reader) (*csvReader, error) {
	r := csv.NewReader(in)
	r.ReuseRecord = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("import: the file is empty; a CSV file starts with a header row: %w", ErrInvalid)
	} else if err != nil {
		return nil, fmt.Errorf("import: header row: %s: %w", csvReason(err), ErrInvalid)
	}
	seen := map[string]bool{}
	cols := make([]string, len(header))
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !isImportColumn(h) {
			return nil, fmt.Errorf("import: unknown column %q (known: %s): %w", truncate(h, 40), strings.Join(ImportColumns, ", "), ErrInvalid)
		}
		if seen[h] {
			return nil, fmt.Errorf("import: column %q appears twice: %w", h, ErrInvalid)
		}
		seen[h] = true
		cols[i] = h
	}
	if !seen["external_system"] || !seen["external_id"] {
		return nil, fmt.Errorf("import: the columns external_system and external_id are required: %w", ErrInvalid)
	}
	r.FieldsPerRecord = len(cols)
	return &csvReader{r: r, header: cols}, nil
}

func (c *csvReader) next() (int, map[string]string, *recordError, error) {
	rec, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return 0, nil, nil, io.EOF
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.StartLine, nil, reject("", csvReason(err)), nil
	} else if err != nil {
		return 0, nil, nil, fmt.Errorf("import: read: %w", err)
	}
	line, _ := c.r.FieldPos(0)
	f := make(map[string]string, len(rec))
	for i, v := range rec {
		f[c.header[i]] = v
	}
	return line, f, nil, nil
}

// csvReason says what is wrong with a CSV line without quoting it.
func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		switch {
		case errors.Is(pe.Err, csv.ErrFieldCount):
			return "broken line: wrong number of fields"
		case errors.Is(pe.Err, csv.ErrQuote), errors.Is(pe.Err, csv.ErrBareQuote):
			return "broken line: misplaced or unterminated quote"
		}
		return "broken line"
	}
	return "unreadable"
}

// jsonlReader reads one JSON object per line.
type jsonlReader struct {
	r    *bufio.Reader
	line int
	max  int
}

func (j *jsonlReader) next() (int, map[string]string, *recordError, error) {
	for {
		raw, tooLong, err := readLine(j.r, j.max)
		if errors.Is(err, io.EOF) && len(raw) == 0 && !tooLong {
			return 0, nil, nil, io.EOF
		} else if err != nil && !errors.Is(err, io.EOF) {
			return 0, nil, nil, fmt.Errorf("import: read: %w", err)
		}
		j.line++
		if tooLong {
			return j.line, nil, reject("", fmt.Sprintf("line is longer than %d bytes", j.max)), nil
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue // blank lines are not records
		}
		f, re := decodeJSONRecord(raw)
		return j.line, f, re, nil
	}
}

// readLine reads up to and without the next newline; a line longer than
// max is consumed and reported as too long.
func readLine(r *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > max+1 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(line, []byte{'\n'}), tooLong, err
	}
}

func decodeJSONRecord(raw []byte) (map[string]string, *recordError) {
	if !utf8.Valid(raw) {
		return nil, reject("", "not valid UTF-8")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, reject("", "not a JSON object")
	}
	f := make(map[string]string, len(obj))
	for k, v := range obj {
		if !isImportColumn(k) {
			return nil, reject(truncate(k, 40), "unknown field")
		}
		if string(v) == "null" {
			continue
		}
		if k == "year" {
			var n json.Number
			d := json.NewDecoder(bytes.NewReader(v))
			d.UseNumber()
			if err := d.Decode(&n); err != nil {
				return nil, reject(k, "must be a number")
			}
			f[k] = n.String()
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, reject(k, "must be a string")
		}
		f[k] = s
	}
	return f, nil
}

func isImportColumn(name string) bool {
	for _, c := range ImportColumns {
		if c == name {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// stageSource feeds COPY from the reader, validating as it goes: rejected
// lines and repeated keys are set aside, only valid rows reach the table.
type stageSource struct {
	rd       recordReader
	v        validator
	keys     map[string]int32 // external key → first line
	problems []ImportProblem
	lines    int
	cur      importRow
	err      error
}

func (s *stageSource) Next() bool {
	for {
		line, f, re, err := s.rd.next()
		if errors.Is(err, io.EOF) {
			return false
		} else if err != nil {
			s.err = err
			return false
		}
		s.lines++
		if re == nil {
			s.cur, re = s.v.row(line, f)
		}
		if re != nil {
			s.problems = append(s.problems, ImportProblem{Line: line, Outcome: "rejected", Field: re.field, Reason: re.reason})
			continue
		}
		key := s.cur.extSystem + "\x00" + s.cur.extID
		if first, ok := s.keys[key]; ok {
			s.problems = append(s.problems, ImportProblem{Line: line, Outcome: "conflict", Field: "external_id",
				Reason: fmt.Sprintf("the same external id is on line %d", first)})
			continue
		}
		s.keys[key] = s.cur.line
		return true
	}
}

func (s *stageSource) Values() ([]any, error) { return s.cur.values(), nil }
func (s *stageSource) Err() error             { return s.err }

// Import reads customers (with a phone, an e-mail and a vehicle each) from
// in and upserts them by external id, all in one transaction: each record
// is validated in Go (rejected lines are reported with their number and
// reason and the rest go on), the valid ones are COPYed into a temporary
// staging table, and set-based statements apply them. A record identical
// to what is stored changes nothing; a changed one updates the customer
// (fields given), adds identities and vehicles it lacks; an external id of
// a customer in the recycle bin, or repeated in the file, is a conflict.
// Any failure rolls everything back: the job is recorded as failed and no
// record is written. Fields left empty leave stored values as they are;
// nothing is ever removed by an import.
func (s *Store) Import(ctx context.Context, tenant uuid.UUID, in io.Reader, o ImportOptions) (ImportSummary, error) {
	start := time.Now()
	if o.Format != FormatCSV && o.Format != FormatJSONL {
		return ImportSummary{}, fmt.Errorf("import: format must be csv or jsonl: %w", ErrInvalid)
	}
	if o.Source == "" {
		o.Source = "cli"
	}
	if o.MaxLine <= 0 {
		o.MaxLine = 64 << 10
	}
	if o.MaxProblems <= 0 {
		o.MaxProblems = 1000
	}
	country, area, err := dialRules(ctx, s.pool, tenant, o.SiteID)
	if err != nil {
		return ImportSummary{}, fmt.Errorf("import: %w", err)
	}
	sum := ImportSummary{JobID: dbid.New()}
	// The job row commits on its own, first, so that a failed import is on
	// record although none of its data is.
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO import_jobs (id, tenant_id, actor_id, source, format) VALUES ($1, $2, $3, $4, $5)`,
		sum.JobID, tenant, dbid.Null(o.ActorID), o.Source, o.Format); err != nil {
		return ImportSummary{}, mapWriteError("import: start job", err)
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var rd recordReader
		if o.Format == FormatCSV {
			c, err := newCSVReader(in)
			if err != nil {
				return err
			}
			rd = c
		} else {
			rd = &jsonlReader{r: bufio.NewReaderSize(in, 64<<10), max: o.MaxLine}
		}
		src := &stageSource{rd: rd, v: validator{country: country, area: area, trustE164: o.TrustE164}, keys: map[string]int32{}}
		return applyImport(ctx, tx, tenant, o, src, &sum)
	})
	sum.Seconds = time.Since(start).Seconds()
	if err != nil {
		// A fresh context: the caller's may be what failed.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		s.pool.Exec(fctx, `UPDATE import_jobs SET status = 'failed', error = $3, finished_at = now() WHERE tenant_id = $1 AND id = $2`,
			tenant, sum.JobID, truncate(importFailure(err), 500))
		return ImportSummary{JobID: sum.JobID}, fmt.Errorf("import %s: %w", sum.JobID, err)
	}
	if len(sum.Problems) > o.MaxProblems {
		sum.Problems, sum.ProblemsTruncated = sum.Problems[:o.MaxProblems], true
	}
	return sum, nil
}

// importFailure is the stored reason of a failed import: crm's own errors
// are written to name fields, not values; anything else is named by its
// SQLSTATE only.
func importFailure(err error) string {
	if errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) {
		return err.Error()
	}
	if pe := pgError(err); pe != nil {
		return "database error " + pe.Code
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "cancelled"
	}
	return "read or write failed"
}

func applyImport(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, o ImportOptions, src *stageSource, sum *ImportSummary) error {
	// Imports of one tenant run one at a time: two files naming the same
	// new external id would otherwise both create it (the unique index
	// would fail the later one as a whole).
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('import|' || $1::text, 0))`, tenant); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		CREATE TEMP TABLE import_stage (
			line int PRIMARY KEY, customer_id uuid NOT NULL, ext_ident_id uuid NOT NULL, phone_id uuid, email_id uuid,
			vehicle_id uuid, ext_system text NOT NULL, ext_id text NOT NULL,
			kind text, name text, name_pinyin text, name_initials text, language text, tier text, notes text,
			phone text, email text, vin text, plate text, make text, model text, role text, year int,
			is_new boolean NOT NULL DEFAULT true, deleted boolean NOT NULL DEFAULT false
		) ON COMMIT DROP`); err != nil {
		return fmt.Errorf("staging table: %w", err)
	}
	staged, err := tx.CopyFrom(ctx, pgx.Identifier{"import_stage"}, stageColumns, src)
	if err != nil {
		if src.err != nil {
			return src.err
		}
		return fmt.Errorf("copy: %w", err)
	}
	sum.Lines = src.lines
	problems := src.problems
	// Statistics, so that the joins below are planned for the real size.
	if _, err := tx.Exec(ctx, `ANALYZE import_stage`); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		UPDATE import_stage s SET customer_id = i.customer_id, is_new = false, deleted = c.deleted_at IS NOT NULL
		FROM customer_identities i JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
		WHERE i.tenant_id = $1 AND i.kind = 'external' AND i.system = s.ext_system AND i.value = s.ext_id`, tenant); err != nil {
		return fmt.Errorf("match: %w", err)
	}
	// An external id of a customer in the recycle bin: restoring or
	// purging it is a person's decision, not an import's.
	rows, err := tx.Query(ctx, `DELETE FROM import_stage WHERE deleted RETURNING line, customer_id`)
	if err != nil {
		return fmt.Errorf("conflicts: %w", err)
	}
	var line int
	var other uuid.UUID
	if _, err := pgx.ForEachRow(rows, []any{&line, &other}, func() error {
		id := other
		problems = append(problems, ImportProblem{Line: line, Outcome: "conflict", Field: "external_id",
			Reason: "belongs to a customer in the recycle bin", CustomerID: &id})
		return nil
	}); err != nil {
		return fmt.Errorf("conflicts: %w", err)
	}

	// New customers and their identities. The ids are UUIDv7, drawn in line
	// order, so both statements insert in the order of the primary keys
	// (and of the (tenant, customer, …) keys): each btree insert lands on
	// the rightmost leaf instead of a random one.
	tag, err := tx.Exec(ctx, `
		INSERT INTO customers (id, tenant_id, kind, name, name_pinyin, name_initials, language, tier, notes, site_id)
		SELECT customer_id, $1::uuid, COALESCE(kind, 'person'), COALESCE(name, ''), COALESCE(name_pinyin, ''),
		       COALESCE(name_initials, ''), COALESCE(language, ''), COALESCE(tier, 'standard'), COALESCE(notes, ''), $2
		FROM import_stage WHERE is_new ORDER BY line`, tenant, dbid.Null(o.SiteID))
	if err != nil {
		return mapWriteError("create customers", err)
	}
	sum.Created = int(tag.RowsAffected())
	if _, err := tx.Exec(ctx, `
		INSERT INTO customer_identities (id, tenant_id, customer_id, kind, system, value)
		SELECT ext_ident_id, $1::uuid, customer_id, 'external', ext_system, ext_id FROM import_stage WHERE is_new
		UNION ALL
		SELECT phone_id, $1::uuid, customer_id, 'phone', '', phone FROM import_stage WHERE is_new AND phone IS NOT NULL
		UNION ALL
		SELECT email_id, $1::uuid, customer_id, 'email', '', email FROM import_stage WHERE is_new AND email IS NOT NULL
		ORDER BY 1`, tenant); err != nil {
		return mapWriteError("create identities", err)
	}

	// Existing customers: fields that were given and differ, then the
	// identities they lack. Each statement returns the lines it changed.
	changed := map[int]bool{}
	collect := func(what, sql string, args ...any) error {
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return mapWriteError(what, err)
		}
		var line int
		if _, err := pgx.ForEachRow(rows, []any{&line}, func() error { changed[line] = true; return nil }); err != nil {
			return mapWriteError(what, err)
		}
		return nil
	}
	if err := collect("update customers", `
		UPDATE customers c
		SET kind = COALESCE(s.kind, c.kind), name = COALESCE(s.name, c.name),
		    name_pinyin = COALESCE(s.name_pinyin, c.name_pinyin), name_initials = COALESCE(s.name_initials, c.name_initials),
		    language = COALESCE(s.language, c.language), tier = COALESCE(s.tier, c.tier), notes = COALESCE(s.notes, c.notes),
		    updated_at = now()
		FROM import_stage s
		WHERE NOT s.is_new AND c.tenant_id = $1 AND c.id = s.customer_id
		  AND (s.kind <> c.kind OR s.name <> c.name OR s.language <> c.language OR s.tier <> c.tier OR s.notes <> c.notes)
		RETURNING s.line`, tenant); err != nil {
		return err
	}
	if err := collect("add identities", `
		WITH added AS (
			INSERT INTO customer_identities (id, tenant_id, customer_id, kind, system, value)
			SELECT phone_id, $1::uuid, customer_id, 'phone', '', phone FROM import_stage WHERE NOT is_new AND phone IS NOT NULL
			UNION ALL
			SELECT email_id, $1::uuid, customer_id, 'email', '', email FROM import_stage WHERE NOT is_new AND email IS NOT NULL
			ON CONFLICT (tenant_id, customer_id, kind, system, value) DO NOTHING
			RETURNING customer_id)
		SELECT DISTINCT s.line FROM added JOIN import_stage s ON s.customer_id = added.customer_id`, tenant); err != nil {
		return err
	}

	// Vehicles, by VIN: the tenant's vehicle with that VIN (the oldest, if
	// several), else a new one; the last line naming a VIN gives its fields.
	if _, err := tx.Exec(ctx, `
		CREATE TEMP TABLE import_vehicles ON COMMIT DROP AS
		SELECT DISTINCT ON (s.vin) s.vin, COALESCE(v.id, s.vehicle_id) AS id, v.id IS NULL AS is_new,
		       s.plate, s.make, s.model, s.year, s.line
		FROM import_stage s
		LEFT JOIN LATERAL (SELECT id FROM vehicles WHERE tenant_id = $1 AND vin = s.vin ORDER BY created_at, id LIMIT 1) v ON true
		WHERE s.vin IS NOT NULL
		ORDER BY s.vin, s.line DESC`, tenant); err != nil {
		return fmt.Errorf("match vehicles: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO vehicles (id, tenant_id, vin, plate, make, model, year)
		SELECT id, $1::uuid, vin, COALESCE(plate, ''), COALESCE(make, ''), COALESCE(model, ''), year
		FROM import_vehicles WHERE is_new`, tenant); err != nil {
		return mapWriteError("create vehicles", err)
	}
	if err := collect("update vehicles", `
		UPDATE vehicles v
		SET plate = COALESCE(iv.plate, v.plate), make = COALESCE(iv.make, v.make), model = COALESCE(iv.model, v.model),
		    year = COALESCE(iv.year, v.year), updated_at = now()
		FROM import_vehicles iv
		WHERE NOT iv.is_new AND v.tenant_id = $1 AND v.id = iv.id
		  AND (iv.plate <> v.plate OR iv.make <> v.make OR iv.model <> v.model OR (iv.year IS NOT NULL AND iv.year IS DISTINCT FROM v.year))
		RETURNING iv.line`, tenant); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO customer_vehicles (tenant_id, customer_id, vehicle_id, role)
		SELECT $1::uuid, s.customer_id, iv.id, COALESCE(s.role, 'owner')
		FROM import_stage s JOIN import_vehicles iv ON iv.vin = s.vin WHERE s.is_new`, tenant); err != nil {
		return mapWriteError("link vehicles", err)
	}
	if err := collect("relink vehicles", `
		UPDATE customer_vehicles cv SET role = s.role
		FROM import_stage s JOIN import_vehicles iv ON iv.vin = s.vin
		WHERE NOT s.is_new AND s.role IS NOT NULL AND cv.tenant_id = $1 AND cv.customer_id = s.customer_id
		  AND cv.vehicle_id = iv.id AND cv.role <> s.role
		RETURNING s.line`, tenant); err != nil {
		return err
	}
	if err := collect("link vehicles", `
		WITH linked AS (
			INSERT INTO customer_vehicles (tenant_id, customer_id, vehicle_id, role)
			SELECT $1::uuid, s.customer_id, iv.id, COALESCE(s.role, 'owner')
			FROM import_stage s JOIN import_vehicles iv ON iv.vin = s.vin WHERE NOT s.is_new
			ON CONFLICT DO NOTHING
			RETURNING customer_id)
		SELECT DISTINCT s.line FROM linked JOIN import_stage s ON s.customer_id = linked.customer_id`, tenant); err != nil {
		return err
	}
	changedLines := make([]int32, 0, len(changed))
	for l := range changed {
		changedLines = append(changedLines, int32(l))
	}
	sum.Updated = len(changed)
	// A customer whose identities or vehicles changed was updated too.
	if _, err := tx.Exec(ctx, `
		UPDATE customers c SET updated_at = now()
		FROM import_stage s JOIN unnest($2::int[]) AS ch(line) ON ch.line = s.line
		WHERE c.tenant_id = $1 AND c.id = s.customer_id AND c.updated_at < now()`, tenant, changedLines); err != nil {
		return fmt.Errorf("touch customers: %w", err)
	}
	// Webhooks: the ids, the external id and the job; receivers read the
	// record itself through the API. One statement for the whole file.
	if _, err := tx.Exec(ctx, `
		INSERT INTO webhook_outbox (id, tenant_id, endpoint_id, event, customer_id, payload)
		SELECT gen_random_uuid(), e.tenant_id, e.id, ev.event, s.customer_id,
		       jsonb_build_object('customer_id', s.customer_id, 'external_system', s.ext_system,
		                          'external_id', s.ext_id, 'import_id', $2::uuid)
		FROM import_stage s
		LEFT JOIN unnest($3::int[]) AS ch(line) ON ch.line = s.line
		CROSS JOIN LATERAL (SELECT CASE WHEN s.is_new THEN 'customer.created'
		                                WHEN ch.line IS NOT NULL THEN 'customer.updated' END AS event) ev
		JOIN webhook_endpoints e ON e.tenant_id = $1 AND e.active AND (e.events = '{}' OR ev.event = ANY (e.events))
		WHERE ev.event IS NOT NULL
		ORDER BY s.line`, tenant, sum.JobID, changedLines); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}

	for _, p := range problems {
		if p.Outcome == "conflict" {
			sum.Conflicts++
		} else {
			sum.Rejected++
		}
	}
	sum.Unchanged = int(staged) - sum.Created - sum.Updated - (sum.Conflicts - countDuplicates(problems))
	slicesSortProblems(problems)
	sum.Problems = problems
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"import_rejects"},
		[]string{"tenant_id", "job_id", "line", "outcome", "field", "reason"},
		pgx.CopyFromSlice(len(problems), func(i int) ([]any, error) {
			p := problems[i]
			return []any{tenant, sum.JobID, int32(p.Line), p.Outcome, p.Field, p.Reason}, nil
		})); err != nil {
		return fmt.Errorf("store problems: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		UPDATE import_jobs SET status = 'done', finished_at = now(), lines = $3, created = $4, updated = $5,
		       unchanged = $6, conflicts = $7, rejected = $8
		WHERE tenant_id = $1 AND id = $2`,
		tenant, sum.JobID, sum.Lines, sum.Created, sum.Updated, sum.Unchanged, sum.Conflicts, sum.Rejected); err != nil {
		return fmt.Errorf("finish job: %w", err)
	}
	if o.ActorID != uuid.Nil {
		return org.WriteAudit(ctx, tx, org.AuditEntry{TenantID: tenant, ActorID: o.ActorID, Action: "import.run",
			TargetKind: "import_job", TargetID: sum.JobID, Data: map[string]any{
				"format": o.Format, "lines": sum.Lines, "created": sum.Created, "updated": sum.Updated,
				"unchanged": sum.Unchanged, "conflicts": sum.Conflicts, "rejected": sum.Rejected}})
	}
	return nil
}

// countDuplicates counts the conflicts of lines repeating an external id:
// they never reached the staging table, unlike recycle-bin conflicts.
func countDuplicates(ps []ImportProblem) int {
	n := 0
	for _, p := range ps {
		if p.Outcome == "conflict" && p.CustomerID == nil {
			n++
		}
	}
	return n
}

func slicesSortProblems(ps []ImportProblem) {
	slices.SortStableFunc(ps, func(a, b ImportProblem) int { return cmp.Compare(a.Line, b.Line) })
}
