package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/phone"
	"github.com/switchboard-cc/switchboard/channels/phone/ami"
	"github.com/switchboard-cc/switchboard/org"
)

// amiLinks keeps one AMI connection per active Asterisk connector on this
// node, started and stopped as admins add and change connectors. Every
// node follows every Asterisk: each can then send the Redirect for the
// calls its agents accept, and the events all nodes hear are recorded once
// (call_events is idempotent by event id).
type amiLinks struct {
	orgs    *org.Store
	hotline *phone.Service
	every   time.Duration
	log     *slog.Logger

	mu    sync.Mutex
	links map[uuid.UUID]*amiLink
}

type amiLink struct {
	conn phone.Connector
	pbx  *ami.PBX
	stop context.CancelFunc
	done chan struct{}
}

// newAMILinks returns the links; set hotline before Run.
func newAMILinks(orgs *org.Store, every time.Duration, log *slog.Logger) *amiLinks {
	if every <= 0 {
		every = 30 * time.Second
	}
	return &amiLinks{orgs: orgs, every: every, log: log, links: map[uuid.UUID]*amiLink{}}
}

// Run reloads the connectors every so often until ctx ends, then stops
// every link.
func (m *amiLinks) Run(ctx context.Context) error {
	t := time.NewTicker(m.every)
	defer t.Stop()
	for {
		m.reload(ctx)
		select {
		case <-ctx.Done():
			m.mu.Lock()
			links := m.links
			m.links = map[uuid.UUID]*amiLink{}
			m.mu.Unlock()
			for _, l := range links {
				l.stop()
				<-l.done
			}
			return nil
		case <-t.C:
		}
	}
}

func (m *amiLinks) reload(ctx context.Context) {
	conns, err := m.orgs.ActivePhoneConnectors(ctx, phone.KindAsterisk)
	if err != nil {
		m.log.Warn("asterisk connectors: reload", "err", err)
		return
	}
	want := map[uuid.UUID]phone.Connector{}
	for _, pc := range conns {
		want[pc.ID] = phone.ConnectorOf(pc)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, l := range m.links {
		if c, ok := want[id]; !ok || c != l.conn {
			l.stop() // removed, deactivated or changed: reconnect with the new settings
			delete(m.links, id)
		}
	}
	for id, c := range want {
		if _, ok := m.links[id]; ok {
			continue
		}
		lctx, stop := context.WithCancel(ctx)
		l := &amiLink{conn: c, stop: stop, done: make(chan struct{}),
			pbx: ami.New(c, amiSink{m.hotline, c, m.log}, ami.Options{}, m.log)}
		m.links[id] = l
		go func() {
			defer close(l.done)
			if err := l.pbx.Run(lctx); err != nil && !errors.Is(err, context.Canceled) {
				m.log.Error("asterisk link ended", "connector_id", id, "err", err)
			}
		}()
	}
}

// Connect and Cancel make the links the Asterisk kind's phone.Controller:
// the command goes out on the connector's own connection.
func (m *amiLinks) Connect(ctx context.Context, c phone.Connector, call phone.Call, a phone.Agent, key string) error {
	l, err := m.link(c.ID)
	if err != nil {
		return err
	}
	return l.pbx.Connect(ctx, c, call, a, key)
}

func (m *amiLinks) Cancel(ctx context.Context, c phone.Connector, call phone.Call, a phone.Agent, key string) error {
	l, err := m.link(c.ID)
	if err != nil {
		return err
	}
	return l.pbx.Cancel(ctx, c, call, a, key)
}

func (m *amiLinks) link(id uuid.UUID) (*amiLink, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.links[id]
	if !ok {
		return nil, fmt.Errorf("asterisk connector %s: not connected on this node yet", id)
	}
	return l, nil
}

// amiSink hands the tracker's events to the hotline. The tracker retries
// what fails; an event the hotline can never take (a number not on the
// hotline, a call it never saw) is logged and dropped instead, or it would
// be retried for ever.
type amiSink struct {
	hotline *phone.Service
	conn    phone.Connector
	log     *slog.Logger
}

func (s amiSink) Handle(ctx context.Context, ev phone.Event) error {
	err := s.hotline.Handle(ctx, s.conn, ev)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, phone.ErrNoNumber), errors.Is(err, phone.ErrUnknownCall), errors.Is(err, phone.ErrInvalid):
		s.log.Warn("asterisk event not recorded", "connector_id", s.conn.ID, "kind", ev.Kind, "err", err)
		return nil
	}
	return err
}
