package report

import (
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/stats"
)

// Interval is the length of a stored row. Hours and days are sums of rows:
// every time zone's offset from UTC is a multiple of 15 minutes, so a
// 15-minute row never straddles a local hour or midnight.
const Interval = 15 * time.Minute

// ShortAbandon is how quick an abandon must be not to count against a
// queue: the wallboard's (routing/dispatch) threshold, so the two agree.
const ShortAbandon = 5 * time.Second

// IntervalStart is the start of the 15-minute interval t falls in.
func IntervalStart(t time.Time) time.Time { return t.UTC().Truncate(Interval) }

// Row identifies one stored row.
type Row struct {
	Start   time.Time // an Interval boundary, UTC
	QueueID uuid.UUID
	Channel org.Channel
	AgentID uuid.UUID // uuid.Nil: no agent held the contact
}

// Figures are the raw counts of one row, or of a sum of rows: the stats
// counts, from which every service-level variant, ASA and AHT derive, and
// callbacks.
type Figures struct {
	stats.Counts
	CallbacksMade   int // callback attempts an agent made and recorded an outcome for
	CallbacksMissed int // callbacks whose deadline passed before one was made
}

// Plus returns the sum of two figures.
func (f Figures) Plus(o Figures) Figures {
	return Figures{Counts: f.Counts.Plus(o.Counts), CallbacksMade: f.CallbacksMade + o.CallbacksMade,
		CallbacksMissed: f.CallbacksMissed + o.CallbacksMissed}
}

// Fold folds events, in commit order, into rows with a stats.Tally: each
// change the tally makes is filed under the interval its contact arrived in
// and the agent holding it; callbacks under the interval they happened in.
type Fold struct {
	Tally *stats.Tally
	Rows  map[Row]Figures
	// Open says, for each contact an event touched, whether the tally
	// still holds its state afterwards.
	Open map[uuid.UUID]bool
}

// NewFold returns an empty fold over policy (the queues' thresholds).
func NewFold(policy func(queue uuid.UUID) stats.Policy) *Fold {
	return &Fold{Tally: stats.NewTally(policy), Rows: map[Row]Figures{}, Open: map[uuid.UUID]bool{}}
}

// Add folds one event.
func (f *Fold) Add(e stats.Event) {
	for _, ch := range f.Tally.Apply(e) {
		r := Row{Start: IntervalStart(ch.Arrived), QueueID: ch.Key.QueueID, Channel: ch.Key.Channel, AgentID: ch.AgentID}
		f.Rows[r] = f.Rows[r].Plus(Figures{Counts: ch.Delta})
	}
	switch e.Kind {
	case "callback_outcome":
		r := Row{Start: IntervalStart(e.At), QueueID: e.QueueID, Channel: e.Channel, AgentID: e.AgentID}
		f.Rows[r] = f.Rows[r].Plus(Figures{CallbacksMade: 1})
	case "callback_failed":
		r := Row{Start: IntervalStart(e.At), QueueID: e.QueueID, Channel: e.Channel}
		f.Rows[r] = f.Rows[r].Plus(Figures{CallbacksMissed: 1})
	}
	f.Open[e.ContactID] = f.Tally.Tracks(e.ContactID)
}

// Flush returns the rows and open contacts folded since the last Flush and
// starts collecting anew; the tally keeps its state.
func (f *Fold) Flush() (map[Row]Figures, map[uuid.UUID]bool) {
	rows, open := f.Rows, f.Open
	f.Rows, f.Open = map[Row]Figures{}, map[uuid.UUID]bool{}
	return rows, open
}
