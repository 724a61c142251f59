// Package wspump runs one websocket the way gorilla's chat example and
// centrifugo do: one reader and one writer goroutine, a buffered send queue,
// a read limit, ping/pong deadlines; a client too slow to keep up is
// dropped, never waited on. It is plumbing and imports nothing of ours.
package wspump

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Options tune a Conn; zero values take the defaults.
type Options struct {
	ReadLimit    int64         // frames larger than this close the socket (1009); default 1 MiB
	SendBuffer   int           // frames queued for a slow client before it is dropped; default 256
	WriteWait    time.Duration // default 10s
	PongWait     time.Duration // default 60s
	PingInterval time.Duration // default PongWait*9/10
}

// Conn is a pumped websocket.
type Conn struct {
	ws   *websocket.Conn
	opt  Options
	send chan []byte
	done chan struct{}

	closeOnce sync.Once
	closeMsg  []byte
}

// New wraps an upgraded websocket.
func New(ws *websocket.Conn, opt Options) *Conn {
	if opt.ReadLimit <= 0 {
		opt.ReadLimit = 1 << 20
	}
	if opt.SendBuffer <= 0 {
		opt.SendBuffer = 256
	}
	if opt.WriteWait <= 0 {
		opt.WriteWait = 10 * time.Second
	}
	if opt.PongWait <= 0 {
		opt.PongWait = 60 * time.Second
	}
	if opt.PingInterval <= 0 {
		opt.PingInterval = opt.PongWait * 9 / 10
	}
	return &Conn{ws: ws, opt: opt, send: make(chan []byte, opt.SendBuffer), done: make(chan struct{})}
}

// ErrClosed is returned by Run when the socket was closed by Close.
var ErrClosed = errors.New("websocket closed")

// Send queues a frame without blocking. A full queue means the client cannot
// keep up: the socket is closed (1008) and Send returns false.
func (c *Conn) Send(frame []byte) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.send <- frame:
		return true
	default:
		c.Close(websocket.ClosePolicyViolation, "too slow")
		return false
	}
}

// SendJSON marshals v and queues it.
func (c *Conn) SendJSON(v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	return c.Send(b)
}

// Close sends a close frame with code and reason after the frames already
// queued, then closes the connection. Safe to call many times.
func (c *Conn) Close(code int, reason string) {
	c.closeOnce.Do(func() {
		c.closeMsg = websocket.FormatCloseMessage(code, reason)
		close(c.done)
	})
}

// Done is closed once Close was called or the peer went away.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Run pumps until the socket ends or ctx is done (then it closes with 1001
// "going away", as a draining server should). onFrame gets each text frame
// in order on the reader goroutine.
func (c *Conn) Run(ctx context.Context, onFrame func([]byte)) error {
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); c.writer() }()
	stop := context.AfterFunc(ctx, func() { c.Close(websocket.CloseGoingAway, "server shutting down") })
	defer stop()

	c.ws.SetReadLimit(c.opt.ReadLimit)
	c.ws.SetReadDeadline(time.Now().Add(c.opt.PongWait))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(c.opt.PongWait)) })
	var err error
	for {
		var kind int
		var p []byte
		kind, p, err = c.ws.ReadMessage()
		if err != nil {
			break
		}
		if kind != websocket.TextMessage {
			continue
		}
		onFrame(p)
	}
	c.Close(websocket.CloseNormalClosure, "")
	<-writerDone
	c.ws.Close()
	select {
	case <-c.done:
		if websocket.IsUnexpectedCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
			return err
		}
		return nil
	default:
		return err
	}
}

func (c *Conn) writer() {
	ping := time.NewTicker(c.opt.PingInterval)
	defer ping.Stop()
	defer c.ws.Close() // unblocks the reader
	for {
		select {
		case frame := <-c.send:
			c.ws.SetWriteDeadline(time.Now().Add(c.opt.WriteWait))
			if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
				c.Close(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.opt.WriteWait)); err != nil {
				c.Close(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-c.done:
			// Flush what was queued before the close, then say goodbye.
			for {
				select {
				case frame := <-c.send:
					c.ws.SetWriteDeadline(time.Now().Add(c.opt.WriteWait))
					if c.ws.WriteMessage(websocket.TextMessage, frame) != nil {
						return
					}
					continue
				default:
				}
				break
			}
			c.ws.WriteControl(websocket.CloseMessage, c.closeMsg, time.Now().Add(time.Second))
			return
		}
	}
}
