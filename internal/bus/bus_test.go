package bus_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/internal/bus"
	"github.com/switchboard-cc/switchboard/internal/redistest"
)

type chanHandler chan string

func (c chanHandler) Deliver(p []byte) { c <- string(p) }
func (c chanHandler) Resync()          {}

func newBus(t *testing.T) *bus.Bus {
	rdb, prefix := redistest.New(t)
	b := bus.New(rdb, prefix, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return b
}

func TestPublishReachesEverySubscriberAfterSubscribeReturns(t *testing.T) {
	ctx := context.Background()
	b := newBus(t)
	h1, h2, other := make(chanHandler, 4), make(chanHandler, 4), make(chanHandler, 4)
	unsub1, err := b.Subscribe(ctx, "agent:1", h1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(ctx, "agent:1", h2); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(ctx, "agent:2", other); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "agent:1", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	for i, h := range []chanHandler{h1, h2} {
		select {
		case got := <-h:
			if got != "hello" {
				t.Errorf("handler %d got %q, want hello", i, got)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("handler %d got nothing", i)
		}
	}
	unsub1()
	b.Publish(ctx, "agent:1", []byte("second"))
	select {
	case got := <-h2:
		if got != "second" {
			t.Errorf("h2 got %q, want second", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("h2 got nothing after h1 left")
	}
	select {
	case got := <-h1:
		t.Errorf("unsubscribed handler got %q", got)
	case got := <-other:
		t.Errorf("other topic got %q", got)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestConnectedRegistry(t *testing.T) {
	ctx := context.Background()
	b := newBus(t)
	tenant, a1, a2 := uuid.New(), uuid.New(), uuid.New()
	b.MarkConnected(ctx, tenant, a1, "s1")
	b.MarkConnected(ctx, tenant, a1, "s2")
	b.MarkConnected(ctx, tenant, a2, "s3")
	b.MarkDisconnected(ctx, tenant, a1, "s1")
	b.MarkDisconnected(ctx, tenant, a2, "s3")
	got, err := b.Connected(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if !got[a1] || got[a2] || len(got) != 1 {
		t.Errorf("Connected = %v, want only %v (one of its two sockets is still open)", got, a1)
	}
	if other, _ := b.Connected(ctx, uuid.New()); len(other) != 0 {
		t.Errorf("another tenant sees %v", other)
	}
}

// TestLocalSubscribersGetEachPayloadOnceAndOtherNodesToo: a payload
// published on a node reaches that node's subscribers at once, and only
// once (Redis's echo is skipped), and another node's through Redis.
func TestLocalSubscribersGetEachPayloadOnceAndOtherNodesToo(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func() *bus.Bus {
		b := bus.New(rdb, prefix, log)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { b.Run(rctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return b
	}
	one, two := start(), start()
	local, remote := make(chanHandler, 8), make(chanHandler, 8)
	if _, err := one.Subscribe(ctx, "agent:1", local); err != nil {
		t.Fatal(err)
	}
	if _, err := two.Subscribe(ctx, "agent:1", remote); err != nil {
		t.Fatal(err)
	}
	if err := one.Publish(ctx, "agent:1", []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	// Handed over before Publish returned: no wait for Redis.
	select {
	case got := <-local:
		if got != `{"n":1}` {
			t.Errorf("local subscriber got %q", got)
		}
	default:
		t.Fatal("the local subscriber had nothing when Publish returned")
	}
	select {
	case got := <-remote:
		if got != `{"n":1}` {
			t.Errorf("the other node's subscriber got %q, want the payload without its tag", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the other node's subscriber got nothing")
	}
	// Redis's echo back to the publishing node is not delivered again.
	select {
	case got := <-local:
		t.Errorf("the local subscriber got the payload twice (%q)", got)
	case <-time.After(300 * time.Millisecond):
	}
	// The other way round too.
	if err := two.Publish(ctx, "agent:1", []byte(`{"n":2}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-local:
		if got != `{"n":2}` {
			t.Errorf("node one got %q", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("node one got nothing from node two")
	}
}
