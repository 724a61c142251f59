package agentdesk

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-cc/switchboard/internal/wspump"
)

// wallboardSocket streams a tenant's gauges: the last published figures at
// once (kept in Redis, so any node can answer), then every coalesced update.
func (s *Server) wallboardSocket(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.sockets.Add(1)
	defer s.sockets.Done()
	s.metrics.sockets.WithLabelValues("wallboard").Inc()
	defer s.metrics.sockets.WithLabelValues("wallboard").Dec()

	ctx, cancel := context.WithCancel(s.life)
	defer cancel()
	tenant := sess.User.TenantID
	conn := wspump.New(ws, wspump.Options{SendBuffer: 32})
	box := make(mailbox, 64)
	unsubWall, err := s.bus.Subscribe(ctx, WallboardTopic(tenant), busHandler{box: box, conn: conn})
	if err == nil {
		var unsubUser func()
		unsubUser, err = s.bus.Subscribe(ctx, UserTopic(tenant, sess.User.ID), busHandler{box: box, contact: true, conn: conn})
		if err == nil {
			defer unsubUser()
		}
		defer unsubWall()
	}
	if err != nil {
		s.log.Warn("wallboard: subscribe", "err", err)
		conn.Close(websocket.CloseTryAgainLater, "try again")
		conn.Run(ctx, func([]byte) {})
		return
	}

	go func() {
		snapshot := func() {
			last, err := s.bus.Redis().Get(ctx, s.bus.Key("wallboard", tenant.String(), "last")).Bytes()
			if errors.Is(err, redis.Nil) {
				last = []byte(`{"at":null,"queues":[],"agents":{"available":0,"busy":0,"away":0,"offline":0},"agent_list":[]}`)
			} else if err != nil {
				s.log.Warn("wallboard: last gauges", "err", err)
				conn.Close(websocket.CloseTryAgainLater, "try again")
				return
			}
			conn.Send(append(append([]byte(`{"type":"snapshot","gauges":`), last...), '}'))
		}
		snapshot()
		recheck := time.NewTicker(s.cfg.SessionRecheck)
		defer recheck.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-conn.Done():
				return
			case <-recheck.C:
				if _, err := s.accounts.SessionByToken(ctx, sess.token); err != nil {
					conn.Close(closeSession, "session ended")
				}
			case m := <-box:
				switch {
				case m.resync:
					snapshot()
				case m.contact: // the user topic: only session checks matter here
					if _, err := s.accounts.SessionByToken(ctx, sess.token); err != nil {
						conn.Close(closeSession, "session ended")
					}
				default:
					s.metrics.frames.WithLabelValues("wallboard", "out").Inc()
					conn.Send(m.payload)
				}
			}
		}
	}()
	// The wallboard sends nothing; whatever it sends is ignored.
	conn.Run(ctx, func([]byte) {})
}
