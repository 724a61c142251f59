package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/migrations"
	"github.com/switchboard-cc/switchboard/org"
)

// runImport is `switchboard import --tenant NAME --format csv|jsonl FILE`:
// a progress bar over the file's bytes on stderr while it is read (and
// COPYed), then the summary on stdout: counts, then each problem by line.
// With --json the summary is printed as the API returns it.
func runImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tenantName := fs.String("tenant", "", "name of the tenant to import into (required)")
	format := fs.String("format", "", "csv or jsonl (default: from the file's extension)")
	trust := fs.Bool("trust-e164", false, "phones already in E.164 form are checked by pattern only, not parsed")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	quiet := fs.Bool("quiet", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: switchboard import --tenant NAME [--format csv|jsonl] FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *tenantName == "" || fs.NArg() != 1 {
		fs.Usage()
		return errors.New("import: --tenant and one FILE are required")
	}
	path := fs.Arg(0)
	if *format == "" {
		switch {
		case hasSuffix(path, ".csv"):
			*format = crm.FormatCSV
		case hasSuffix(path, ".jsonl"), hasSuffix(path, ".ndjson"):
			*format = crm.FormatJSONL
		default:
			return errors.New("import: say --format csv or --format jsonl")
		}
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is not set (make run sets it for you)")
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	if err := migrations.Apply(ctx, pool); err != nil {
		return err
	}
	tenant, err := org.NewStore(pool).TenantByName(ctx, *tenantName)
	if err != nil {
		return fmt.Errorf("import: tenant %q: %w", *tenantName, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	var in io.Reader = f
	var bar *progressbar.ProgressBar
	if !*quiet {
		size := int64(-1)
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		bar = progressbar.NewOptions64(size, progressbar.OptionSetWriter(stderr), progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("importing"), progressbar.OptionThrottle(100_000_000),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }))
		r := progressbar.NewReader(f, bar)
		in = &r
	}
	sum, err := crm.NewStore(pool).Import(ctx, tenant.ID, in, crm.ImportOptions{Format: *format, Source: "cli", TrustE164: *trust})
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return err
	}
	if *asJSON {
		e := json.NewEncoder(stdout)
		e.SetIndent("", "  ")
		return e.Encode(sum)
	}
	printSummary(stdout, sum)
	return nil
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}

func printSummary(w io.Writer, s crm.ImportSummary) {
	rate := 0.0
	if s.Seconds > 0 {
		rate = float64(s.Lines) / s.Seconds
	}
	fmt.Fprintf(w, "import %s: %d records in %.1fs (%.0f/s)\n", s.JobID, s.Lines, s.Seconds, rate)
	fmt.Fprintf(w, "  created   %d\n  updated   %d\n  unchanged %d\n  conflicts %d\n  rejected  %d\n",
		s.Created, s.Updated, s.Unchanged, s.Conflicts, s.Rejected)
	for _, p := range s.Problems {
		field := ""
		if p.Field != "" {
			field = p.Field + ": "
		}
		other := ""
		if p.CustomerID != nil {
			other = " (customer " + p.CustomerID.String() + ")"
		}
		fmt.Fprintf(w, "  line %d: %s: %s%s%s\n", p.Line, p.Outcome, field, p.Reason, other)
	}
	if s.ProblemsTruncated {
		fmt.Fprintln(w, "  … more problems are stored with the job (import_rejects)")
	}
}
