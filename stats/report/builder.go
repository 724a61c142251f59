package report

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/stats"
)

// Org is what the builder reads of the organisation: the tenants to follow
// and their queues' thresholds and sites.
type Org interface {
	Tenants(ctx context.Context) ([]uuid.UUID, error)
	Queues(ctx context.Context, tenant uuid.UUID) ([]org.Queue, error)
}

// Config tunes the builder; zero values take the defaults.
type Config struct {
	Every time.Duration // how often the leader folds new events; default 5s
	Batch int           // events per transaction; default 5000
}

// Builder folds contact events into the report tables. Any node may run
// it; one at a time leads (a session advisory lock), and the cursor's
// compare-and-set in every write makes even two at once count each event
// once.
type Builder struct {
	pool    *pgxpool.Pool
	org     Org
	cfg     Config
	log     *slog.Logger
	tenants map[uuid.UUID]*tenantFold
	// beforeCommit, when set (tests), runs inside each write transaction
	// just before it commits; an error aborts the write.
	beforeCommit func(tenant uuid.UUID) error
}

// tenantFold is one tenant's state between pages: the fold's tally holds
// the contacts still open at cursor.
type tenantFold struct {
	fold   *Fold
	cursor cursor
	sla    map[uuid.UUID]time.Duration
	site   map[uuid.UUID]uuid.UUID
}

// cursor is the last event folded, in (xact_id, id) order.
type cursor struct {
	xact string
	id   int64
}

// lockKey is the advisory lock of the leading builder.
const lockKey = 0x5b7e_0022

// NewBuilder returns a builder over pool.
func NewBuilder(pool *pgxpool.Pool, o Org, cfg Config, log *slog.Logger) *Builder {
	if cfg.Every <= 0 {
		cfg.Every = 5 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 5000
	}
	return &Builder{pool: pool, org: o, cfg: cfg, log: log, tenants: map[uuid.UUID]*tenantFold{}}
}

// Run leads when no other node does, folding new events every cfg.Every,
// until ctx ends.
func (b *Builder) Run(ctx context.Context) error {
	for {
		if err := b.lead(ctx); err != nil && ctx.Err() == nil {
			b.log.WarnContext(ctx, "reports: builder", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(b.cfg.Every):
		}
	}
}

// lead takes the lock on a connection of its own and folds until ctx ends
// or the connection fails; without the lock it returns at once.
func (b *Builder) lead(ctx context.Context) error {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey).Scan(&got); err != nil || !got {
		return err
	}
	defer func() {
		// A new context: the lock must go even when ctx has ended.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, lockKey); err != nil {
			conn.Conn().Close(uctx) // closing the session releases it
		}
	}()
	// A builder that led before may have been overtaken meanwhile.
	b.tenants = map[uuid.UUID]*tenantFold{}
	for {
		if err := b.CatchUp(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(b.cfg.Every):
		}
		// The lock lives as long as the session: a dead one means another
		// node may lead now.
		if err := conn.Ping(ctx); err != nil {
			return fmt.Errorf("lock session: %w", err)
		}
	}
}

// CatchUp folds every tenant's events up to now.
func (b *Builder) CatchUp(ctx context.Context) error {
	ids, err := b.org.Tenants(ctx)
	if err != nil {
		return fmt.Errorf("reports: tenants: %w", err)
	}
	var errs []error
	for _, id := range ids {
		if err := b.catchUpTenant(ctx, id); err != nil {
			// One tenant's trouble does not hold the others back.
			errs = append(errs, fmt.Errorf("reports: tenant %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

func (b *Builder) catchUpTenant(ctx context.Context, tenant uuid.UUID) error {
	start, folded, pages := time.Now(), 0, 0
	lastLog := start
	for {
		n, upTo, err := b.step(ctx, tenant)
		if err != nil {
			// Whatever the tally folded is not in the tables: start again
			// from what is.
			delete(b.tenants, tenant)
			return err
		}
		folded += n
		pages++
		if n < b.cfg.Batch {
			break
		}
		// A full page: more are waiting (the first run's backfill).
		if time.Since(lastLog) >= 5*time.Second || pages == 1 {
			b.log.InfoContext(ctx, "reports: backfill", "tenant_id", tenant, "events", folded, "up_to", upTo)
			lastLog = time.Now()
		}
	}
	if pages > 1 {
		b.log.InfoContext(ctx, "reports: caught up", "tenant_id", tenant, "events", folded, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// step folds one page of a tenant's events and commits its rows with the
// cursor; it returns how many events it folded and the time of the last.
func (b *Builder) step(ctx context.Context, tenant uuid.UUID) (int, time.Time, error) {
	tf, err := b.load(ctx, tenant)
	if err != nil {
		return 0, time.Time{}, err
	}
	if err := b.refreshQueues(ctx, tenant, tf); err != nil {
		return 0, time.Time{}, err
	}
	events, next, err := b.page(ctx, tenant, tf.cursor)
	if err != nil {
		return 0, time.Time{}, err
	}
	if len(events) == 0 {
		// Nothing new: the cursor may stay where it is (re-reading an
		// empty range is cheap) rather than write every few seconds.
		return 0, time.Time{}, nil
	}
	var upTo time.Time
	for _, e := range events {
		tf.fold.Add(e)
		upTo = e.At
	}
	rows, open := tf.fold.Flush()
	if err := b.write(ctx, tenant, tf, rows, open, next); err != nil {
		return 0, time.Time{}, err
	}
	tf.cursor = next
	return len(events), upTo, nil
}

// load returns the tenant's fold, rebuilding it from the tables when this
// builder has none: the cursor, and the open contacts' events up to it
// replayed into a fresh tally without writing.
func (b *Builder) load(ctx context.Context, tenant uuid.UUID) (*tenantFold, error) {
	if tf := b.tenants[tenant]; tf != nil {
		return tf, nil
	}
	tf := &tenantFold{sla: map[uuid.UUID]time.Duration{}, site: map[uuid.UUID]uuid.UUID{}}
	tf.fold = NewFold(func(q uuid.UUID) stats.Policy { return stats.Policy{SLA: tf.sla[q], ShortAbandon: ShortAbandon} })
	if err := b.refreshQueues(ctx, tenant, tf); err != nil {
		return nil, err
	}
	if _, err := b.pool.Exec(ctx, query("cursor"), tenant); err != nil {
		return nil, fmt.Errorf("cursor: %w", err)
	}
	if err := b.pool.QueryRow(ctx, query("read-cursor"), tenant).Scan(&tf.cursor.xact, &tf.cursor.id); err != nil {
		return nil, fmt.Errorf("cursor: %w", err)
	}
	rows, err := b.pool.Query(ctx, query("open"), tenant)
	if err != nil {
		return nil, fmt.Errorf("open contacts: %w", err)
	}
	open, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("open contacts: %w", err)
	}
	if len(open) > 0 {
		rows, err := b.pool.Query(ctx, query("replay"), tenant, open, tf.cursor.xact, tf.cursor.id)
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		events, err := pgx.CollectRows(rows, scanEvent)
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		for _, e := range events {
			tf.fold.Tally.Apply(e.Event)
		}
		tf.fold.Flush() // folded before: nothing to write
		b.log.InfoContext(ctx, "reports: resumed", "tenant_id", tenant, "open_contacts", len(open), "events_replayed", len(events))
	}
	b.tenants[tenant] = tf
	return tf, nil
}

func (b *Builder) refreshQueues(ctx context.Context, tenant uuid.UUID, tf *tenantFold) error {
	qs, err := b.org.Queues(ctx, tenant)
	if err != nil {
		return fmt.Errorf("queues: %w", err)
	}
	for _, q := range qs {
		tf.sla[q.ID], tf.site[q.ID] = q.SLA, q.SiteID
	}
	return nil
}

// event is a contact event with its place in the log.
type event struct {
	stats.Event
	pos cursor
}

func scanEvent(r pgx.CollectableRow) (event, error) {
	var e event
	err := r.Scan(&e.pos.id, &e.pos.xact, &e.Kind, &e.ContactID, &e.QueueID, &e.AgentID, &e.Channel, &e.At, &e.Call)
	return e, err
}

// page reads up to cfg.Batch events after c, all written by transactions
// that have ended, and the cursor after them.
func (b *Builder) page(ctx context.Context, tenant uuid.UUID, c cursor) ([]stats.Event, cursor, error) {
	var out []stats.Event
	next := c
	err := pgx.BeginTxFunc(ctx, b.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		// One snapshot for both statements: every row below xmin that will
		// ever exist is visible in it.
		var xmin string
		if err := tx.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&xmin); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, query("events"), tenant, c.xact, c.id, xmin, b.cfg.Batch)
		if err != nil {
			return err
		}
		es, err := pgx.CollectRows(rows, scanEvent)
		if err != nil {
			return err
		}
		out = make([]stats.Event, len(es))
		for i, e := range es {
			out[i] = e.Event
		}
		switch {
		case len(es) == b.cfg.Batch:
			next = es[len(es)-1].pos // more may follow in the same transaction
		default:
			// Everything below xmin is folded: carry on from there.
			if err := tx.QueryRow(ctx, `SELECT greatest($1::text::xid8, $2::text::xid8)::text`, xmin, c.xact).Scan(&next.xact); err != nil {
				return err
			}
			if next.xact != c.xact {
				next.id = 0
			}
		}
		return nil
	})
	if err != nil {
		return nil, c, fmt.Errorf("events: %w", err)
	}
	return out, next, nil
}

// write adds rows to the tables, records which contacts stay open, and
// moves the cursor from tf.cursor to next, in one transaction; a cursor
// that another builder moved meanwhile aborts it.
func (b *Builder) write(ctx context.Context, tenant uuid.UUID, tf *tenantFold, rows map[Row]Figures, open map[uuid.UUID]bool, next cursor) error {
	return pgx.BeginTxFunc(ctx, b.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, query("advance"), tenant, tf.cursor.xact, tf.cursor.id, next.xact, next.id)
		if err != nil {
			return fmt.Errorf("advance cursor: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return errors.New("the report cursor moved under this builder (another node leads)")
		}
		if len(rows) > 0 {
			if _, err := tx.Exec(ctx, query("upsert"), upsertArgs(tenant, tf.site, rows)...); err != nil {
				return fmt.Errorf("report rows: %w", err)
			}
		}
		var closed, opened []uuid.UUID
		for id, isOpen := range open {
			if isOpen {
				opened = append(opened, id)
			} else {
				closed = append(closed, id)
			}
		}
		if len(closed) > 0 {
			if _, err := tx.Exec(ctx, query("close-open"), tenant, closed); err != nil {
				return fmt.Errorf("open contacts: %w", err)
			}
		}
		if len(opened) > 0 {
			if _, err := tx.Exec(ctx, query("add-open"), tenant, opened); err != nil {
				return fmt.Errorf("open contacts: %w", err)
			}
		}
		if b.beforeCommit != nil {
			return b.beforeCommit(tenant)
		}
		return nil
	})
}

func upsertArgs(tenant uuid.UUID, site map[uuid.UUID]uuid.UUID, rows map[Row]Figures) []any {
	n := len(rows)
	starts := make([]time.Time, 0, n)
	queues, agents, sites := make([]uuid.UUID, 0, n), make([]uuid.UUID, 0, n), make([]uuid.UUID, 0, n)
	channels := make([]string, 0, n)
	ints := make([][]int64, 16)
	for i := range ints {
		ints[i] = make([]int64, 0, n)
	}
	us := func(d time.Duration) int64 { return d.Microseconds() }
	for r, f := range rows {
		starts, queues, agents = append(starts, r.Start), append(queues, r.QueueID), append(agents, r.AgentID)
		sites, channels = append(sites, site[r.QueueID]), append(channels, string(r.Channel))
		c := f.Counts
		for i, v := range []int64{int64(c.Offered), int64(c.Answered), int64(c.AnsweredWithin), int64(c.Abandoned),
			int64(c.AbandonedWithin), int64(c.ShortAbandons), int64(c.TransferredIn), int64(c.TransferredOut),
			int64(c.Handled), us(c.WaitAnswered), us(c.HandleTime), us(c.TalkTime), us(c.HoldTime), us(c.WrapUpTime),
			int64(f.CallbacksMade), int64(f.CallbacksMissed)} {
			ints[i] = append(ints[i], v)
		}
	}
	args := []any{tenant, starts, queues, channels, agents, sites}
	for _, col := range ints {
		args = append(args, col)
	}
	return args
}
