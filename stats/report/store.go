package report

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/org"
)

// Store reads the report tables.
type Store struct{ pool *pgxpool.Pool }

// NewStore returns a Store over pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Intervals a report sums rows into.
const (
	Quarter = "15m"
	Hour    = "hour"
	Day     = "day"
)

// Dimensions a report groups by.
const (
	ByQueue   = "queue"
	ByChannel = "channel"
	ByAgent   = "agent"
	BySite    = "site"
)

// MaxDays is the longest period a report of each interval may cover, so
// that an answer stays a few thousand lines.
var MaxDays = map[string]int{Quarter: 31, Hour: 92, Day: 366}

// ErrInvalid: a query the store cannot answer (bad interval, dimension or
// dates).
var ErrInvalid = errors.New("invalid report query")

// Query asks for a report. From and To are local dates (To included) in the
// zone of each row's site, or the tenant's for group-wide queues and for
// reports by channel or agent.
type Query struct {
	From, To time.Time // dates: only year, month and day count
	Interval string    // Quarter, Hour or Day
	By       string    // ByQueue, ByChannel, ByAgent or BySite
	Queues   []uuid.UUID
	Channels []org.Channel
}

// Validate says what is wrong with q, wrapping ErrInvalid.
func (q Query) Validate() error {
	max, ok := MaxDays[q.Interval]
	if !ok {
		return fmt.Errorf("%w: interval must be 15m, hour or day", ErrInvalid)
	}
	switch q.By {
	case ByQueue, ByChannel, ByAgent, BySite:
	default:
		return fmt.Errorf("%w: by must be queue, channel, agent or site", ErrInvalid)
	}
	from, to := date(q.From), date(q.To)
	if from.IsZero() || to.IsZero() || to.Before(from) {
		return fmt.Errorf("%w: from and to must be dates with from on or before to", ErrInvalid)
	}
	if days := int(to.Sub(from)/(24*time.Hour)) + 1; days > max {
		return fmt.Errorf("%w: a report by %s covers at most %d days", ErrInvalid, q.Interval, max)
	}
	for _, c := range q.Channels {
		switch c {
		case org.Voice, org.Chat, org.Email:
		default:
			return fmt.Errorf("%w: channel must be voice, chat or email", ErrInvalid)
		}
	}
	return nil
}

func date(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// Line is one bucket of a report: the figures of one queue, channel, agent
// or site over one interval.
type Line struct {
	Start time.Time // the bucket's start, in Zone
	Zone  string    // the zone its hours and days are counted in
	// Key is the queue, agent or site id, or the channel. A site report's
	// group-wide queues have the empty key; an agent report's figures that
	// no agent held (offered, abandons) the nil uuid.
	Key string
	Figures
}

// End is the end of the line's bucket (a local day may last 23 or 25 hours).
func (l Line) End(interval string) time.Time {
	switch interval {
	case Day:
		return l.Start.AddDate(0, 0, 1)
	case Hour:
		return l.Start.Add(time.Hour)
	}
	return l.Start.Add(Interval)
}

// Report sums a tenant's rows by q, ordered by key then time.
func (s *Store) Report(ctx context.Context, tenant uuid.UUID, q Query) ([]Line, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	queues := q.Queues
	if queues == nil {
		queues = []uuid.UUID{}
	}
	channels := make([]string, len(q.Channels))
	for i, c := range q.Channels {
		channels[i] = string(c)
	}
	tenantZone := q.By == ByChannel || q.By == ByAgent
	rows, err := s.pool.Query(ctx, query("report"), tenant, date(q.From), date(q.To), q.Interval, tenantZone, queues, channels, q.By)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	locs := map[string]*time.Location{}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Line, error) {
		var l Line
		var n [16]int64
		err := r.Scan(&l.Start, &l.Zone, &l.Key, &n[0], &n[1], &n[2], &n[3], &n[4], &n[5], &n[6], &n[7], &n[8],
			&n[9], &n[10], &n[11], &n[12], &n[13], &n[14], &n[15])
		if err != nil {
			return l, err
		}
		loc, ok := locs[l.Zone]
		if !ok {
			if loc, err = time.LoadLocation(l.Zone); err != nil {
				loc = time.UTC
			}
			locs[l.Zone] = loc
		}
		l.Start = l.Start.In(loc)
		us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
		l.Offered, l.Answered, l.AnsweredWithin = int(n[0]), int(n[1]), int(n[2])
		l.Abandoned, l.AbandonedWithin, l.ShortAbandons = int(n[3]), int(n[4]), int(n[5])
		l.TransferredIn, l.TransferredOut, l.Handled = int(n[6]), int(n[7]), int(n[8])
		l.WaitAnswered, l.HandleTime, l.TalkTime, l.HoldTime, l.WrapUpTime = us(n[9]), us(n[10]), us(n[11]), us(n[12]), us(n[13])
		l.CallbacksMade, l.CallbacksMissed = int(n[14]), int(n[15])
		return l, nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return out, nil
}
