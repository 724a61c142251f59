// Package bus carries frames between nodes over Redis pub/sub and keeps the
// registry of connected sockets in Redis. Every frame for a socket goes
// through it, even on one node, so adding nodes needs no redesign; a frame
// for a subscriber on the publishing node is handed over at once, without
// waiting for Redis to echo it back (each node tags what it publishes and
// skips its own echoes). It is plumbing: it imports none of Switchboard's
// domain packages.
package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Handler receives the payloads published on a topic. Deliver is called from
// the bus's reader goroutine, or, for a payload published on this node, from
// the publisher's goroutine; it must not block (a socket queues the frame or
// drops itself), must be safe to call from several goroutines, and must not
// modify payload. Resync is called when the Redis connection was lost
// and restored, because frames published meanwhile are gone: the subscriber
// must rebuild its state (a socket sends a fresh snapshot).
type Handler interface {
	Deliver(payload []byte)
	Resync()
}

// Bus is one node's connection to the fan-out.
type Bus struct {
	rdb    *redis.Client
	prefix string
	log    *slog.Logger
	ps     *redis.PubSub
	// origin tags what this node publishes, so that its reader skips the
	// echoes of payloads already handed to local subscribers.
	origin string

	mu        sync.Mutex
	subs      map[string]map[*subscription]struct{} // full channel name → local handlers
	confirmed map[string]bool                       // channels Redis confirmed at least once
	waiting   map[string][]chan struct{}            // callers waiting for a confirmation
}

type subscription struct{ h Handler }

// New returns a Bus whose channels are named prefix+topic. Run must be
// running for subscriptions to receive anything.
func New(rdb *redis.Client, prefix string, log *slog.Logger) *Bus {
	var id [8]byte
	rand.Read(id[:])
	return &Bus{
		rdb:       rdb,
		prefix:    prefix,
		log:       log,
		origin:    hex.EncodeToString(id[:]) + originSep,
		ps:        rdb.Subscribe(context.Background()),
		subs:      map[string]map[*subscription]struct{}{},
		confirmed: map[string]bool{},
		waiting:   map[string][]chan struct{}{},
	}
}

// originSep ends the origin tag in front of every payload on Redis.
const originSep = "|"

// originLen is the tag's length: 16 hex digits and the separator.
const originLen = 17

// Publish sends payload to every subscriber of topic on every node: this
// node's at once, the others' through Redis. The payload must not be
// modified afterwards.
func (b *Bus) Publish(ctx context.Context, topic string, payload []byte) error {
	name := b.prefix + topic
	b.deliver(name, payload)
	msg := make([]byte, 0, originLen+len(payload))
	msg = append(append(msg, b.origin...), payload...)
	if err := b.rdb.Publish(ctx, name, msg).Err(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// fromOrigin splits a Redis payload into its origin tag and the payload
// published; a payload without a tag (published by something else) has
// none.
func fromOrigin(msg string) (origin, payload string) {
	if len(msg) >= originLen && msg[originLen-1:originLen] == originSep {
		return msg[:originLen], msg[originLen:]
	}
	return "", msg
}

// Subscribe adds h to topic and returns once Redis has confirmed the
// subscription, so that anything published after Subscribe returns reaches
// h. The returned func removes h.
func (b *Bus) Subscribe(ctx context.Context, topic string, h Handler) (func(), error) {
	name := b.prefix + topic
	s := &subscription{h: h}
	b.mu.Lock()
	first := len(b.subs[name]) == 0
	if first {
		b.subs[name] = map[*subscription]struct{}{}
	}
	b.subs[name][s] = struct{}{}
	var wait chan struct{}
	if !b.confirmed[name] {
		wait = make(chan struct{})
		b.waiting[name] = append(b.waiting[name], wait)
	}
	b.mu.Unlock()

	unsubscribe := func() { b.remove(name, s) }
	if first {
		if err := b.ps.Subscribe(ctx, name); err != nil {
			unsubscribe()
			return nil, fmt.Errorf("subscribe: %w", err)
		}
	}
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			unsubscribe()
			return nil, ctx.Err()
		case <-time.After(5 * time.Second):
			unsubscribe()
			return nil, fmt.Errorf("subscribe: no confirmation from Redis within 5s")
		}
	}
	return unsubscribe, nil
}

func (b *Bus) remove(name string, s *subscription) {
	b.mu.Lock()
	delete(b.subs[name], s)
	last := len(b.subs[name]) == 0
	if last {
		delete(b.subs, name)
		delete(b.confirmed, name)
	}
	b.mu.Unlock()
	if last {
		// A failed UNSUBSCRIBE only costs a few unwanted messages; Run drops
		// messages for channels without local handlers.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := b.ps.Unsubscribe(ctx, name); err != nil && !errors.Is(err, redis.ErrClosed) {
			b.log.Warn("bus unsubscribe failed", "err", err)
		}
	}
}

// Run delivers messages until ctx ends.
func (b *Bus) Run(ctx context.Context) error {
	ch := b.ps.ChannelWithSubscriptions(redis.WithChannelSize(1024))
	defer b.ps.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					b.confirm(m.Channel)
				}
			case *redis.Message:
				origin, payload := fromOrigin(m.Payload)
				if origin == b.origin {
					continue // handed to this node's subscribers when published
				}
				b.deliver(m.Channel, []byte(payload))
			}
		}
	}
}

func (b *Bus) confirm(name string) {
	b.mu.Lock()
	again := b.confirmed[name]
	b.confirmed[name] = true
	waiters := b.waiting[name]
	delete(b.waiting, name)
	var handlers []Handler
	if again {
		for s := range b.subs[name] {
			handlers = append(handlers, s.h)
		}
	}
	b.mu.Unlock()
	for _, w := range waiters {
		close(w)
	}
	// A second confirmation means go-redis reconnected and resubscribed.
	for _, h := range handlers {
		h.Resync()
	}
}

func (b *Bus) deliver(name string, payload []byte) {
	b.mu.Lock()
	handlers := make([]Handler, 0, len(b.subs[name]))
	for s := range b.subs[name] {
		handlers = append(handlers, s.h)
	}
	b.mu.Unlock()
	for _, h := range handlers {
		h.Deliver(payload)
	}
}

// Ping checks the Redis connection, for readiness probes.
func (b *Bus) Ping(ctx context.Context) error { return b.rdb.Ping(ctx).Err() }

// Key returns a Redis key in this bus's namespace.
func (b *Bus) Key(parts ...string) string { return b.prefix + strings.Join(parts, ":") }

// Redis exposes the client for neighbours in this package's namespace (rate limits).
func (b *Bus) Redis() *redis.Client { return b.rdb }
