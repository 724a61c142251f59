package ami

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// benchStream renders calls copies of the queue_answered transcript
// (Asterisk 20 field sets, 42 events a call) as Asterisk writes them, CRLF,
// each call with its own Uniqueids so the tracker sees distinct calls.
func benchStream(b *testing.B, calls int) ([]byte, int) {
	ms := events(b, "queue_answered.ami")
	var buf bytes.Buffer
	for c := range calls {
		for _, m := range ms {
			for _, f := range m.Fields {
				v := f.Value
				if strings.HasPrefix(v, "1715000000.") {
					v = fmt.Sprintf("17%08d.%s", c, v[len("1715000000."):])
				}
				buf.WriteString(f.Key + ": " + v + "\r\n")
			}
			buf.WriteString("\r\n")
		}
	}
	return buf.Bytes(), len(ms) * calls
}

// BenchmarkParse: AMI events read per second from an in-memory stream;
// one op is one event.
func BenchmarkParse(b *testing.B) {
	data, _ := benchStream(b, 100)
	b.SetBytes(int64(len(data)) / int64(bytes.Count(data, []byte("\r\n\r\n"))))
	r := NewReader(bytes.NewReader(data), Limits{})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := r.ReadMessage(); err == io.EOF {
			r = NewReader(bytes.NewReader(data), Limits{})
			if _, err := r.ReadMessage(); err != nil {
				b.Fatal(err)
			}
		} else if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkParseTrack: the same, each event also through the call tracker
// (phone.Events queued, not delivered).
func BenchmarkParseTrack(b *testing.B) {
	data, _ := benchStream(b, 100)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	newTracker := func() *Tracker { return NewTracker(newSink(), TrackerOptions{}, log) }
	tr := newTracker()
	r := NewReader(bytes.NewReader(data), Limits{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m, err := r.ReadMessage()
		if err == io.EOF {
			r, tr = NewReader(bytes.NewReader(data), Limits{}), newTracker()
			m, err = r.ReadMessage()
		}
		if err != nil {
			b.Fatal(err)
		}
		tr.Event(m)
		if i%512 == 0 {
			tr.mu.Lock()
			tr.outbox = tr.outbox[:0]
			tr.mu.Unlock()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
