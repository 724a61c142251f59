package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/migrations"
)

// runSeed is `switchboard seed --customers N`: migrates the database and
// fills it with a synthetic dealer group for benchmarks and load tests
// (crm.Seed). Progress goes to stderr, the summary to stdout. It adds a new
// tenant each time, so it is meant for a database of its own.
func runSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	customers := fs.Int("customers", 20000, "number of customers (about ten timeline items each)")
	sites := fs.Int("sites", 10, "number of dealerships")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: switchboard seed [--customers N] [--sites N]

Fills DATABASE_URL with one synthetic dealer group, written by COPY: N
customers (nine in ten with Chinese names) with phones, e-mails, vehicles,
service orders, deals and contacts with messages and events (about ten
timeline items per customer). Use a database of its own: every run adds a
new tenant. 1,000,000 customers take minutes on 2 vCPU.`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *customers < 1 || *sites < 1 || fs.NArg() != 0 {
		fs.Usage()
		return errors.New("seed: --customers and --sites must be at least 1")
	}
	url := getenv("DATABASE_URL")
	if url == "" {
		return errors.New("DATABASE_URL is not set")
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	if err := migrations.Apply(ctx, pool); err != nil {
		return err
	}
	start := time.Now()
	info, err := crm.Seed(ctx, pool, crm.SeedOptions{Customers: *customers, Sites: *sites}, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded tenant %s: %d customers, %d timeline items in %s\n",
		info.Tenant, info.Customers, info.Items, time.Since(start).Round(time.Second))
	return nil
}
