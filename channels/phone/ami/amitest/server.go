// Package amitest is a small Asterisk Manager Interface server for tests:
// it sends the banner, answers Login, Ping, Redirect, Hangup and
// CoreShowChannels, records the actions it got, and replays transcripts
// (testdata/*.ami) over TCP, including a connection dropped mid-call. It
// imports none of Switchboard's packages, so it checks the client's
// framing independently.
package amitest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
)

// Banner is what the server greets with (Asterisk 20's AMI version).
const Banner = "Asterisk Call Manager/9.0.0"

// Field is one "Key: Value" line.
type Field struct{ Key, Value string }

// Message is an action received or an event to send.
type Message []Field

// M builds a Message from key, value pairs.
func M(kv ...string) Message {
	m := make(Message, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m = append(m, Field{kv[i], kv[i+1]})
	}
	return m
}

// Get is the first value of key, case-insensitive.
func (m Message) Get(key string) string {
	for _, f := range m {
		if strings.EqualFold(f.Key, key) {
			return f.Value
		}
	}
	return ""
}

func (m Message) bytes(extra ...Field) []byte {
	var b strings.Builder
	for _, f := range append(m[:len(m):len(m)], extra...) {
		b.WriteString(f.Key + ": " + f.Value + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// Server is a test AMI server on 127.0.0.1.
type Server struct {
	Addr             string
	Username, Secret string

	ln net.Listener
	t  testing.TB

	mu       sync.Mutex
	cond     *sync.Cond
	conn     *conn // the last logged-in connection
	logins   int
	failed   int // refused logins
	resyncs  int // CoreShowChannels served
	channels []Message
	actions  []Message
	fail     map[string]string // action → error Message to answer
	noPong   bool
	closed   bool
}

type conn struct {
	c   net.Conn
	wmu sync.Mutex
}

func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.c.Write(b)
	return err
}

// Start listens on 127.0.0.1:0 and serves until the test ends.
func Start(t testing.TB, username, secret string) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("amitest: listen: %v", err)
	}
	s := &Server{Addr: ln.Addr().String(), Username: username, Secret: secret, ln: ln, t: t, fail: map[string]string{}}
	s.cond = sync.NewCond(&s.mu)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and closes its connections.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	if s.conn != nil {
		s.conn.c.Close()
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	s.ln.Close()
}

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.serve(&conn{c: c})
	}
}

// SetChannels sets what CoreShowChannels answers: CoreShowChannel events
// without the Event and ActionID lines.
func (s *Server) SetChannels(ch []Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels = ch
}

// Fail makes every later action named action fail with message.
func (s *Server) Fail(action, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[strings.ToLower(action)] = message
}

// SetPong turns answering Ping on or off.
func (s *Server) SetPong(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noPong = !on
}

// Actions returns the actions received named name ("" for all), Login's
// included.
func (s *Server) Actions(name string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, a := range s.actions {
		if name == "" || strings.EqualFold(a.Get("Action"), name) {
			out = append(out, a)
		}
	}
	return out
}

// Counts returns successful logins, refused logins and CoreShowChannels
// served so far.
func (s *Server) Counts() (logins, refused, resyncs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins, s.failed, s.resyncs
}

// WaitLogins blocks until there have been n successful logins.
func (s *Server) WaitLogins(ctx context.Context, n int) error {
	return s.waitFor(ctx, func() bool { return s.logins >= n })
}

// WaitResyncs blocks until CoreShowChannels has been answered n times.
func (s *Server) WaitResyncs(ctx context.Context, n int) error {
	return s.waitFor(ctx, func() bool { return s.resyncs >= n })
}

// WaitRefused blocks until n logins have been refused.
func (s *Server) WaitRefused(ctx context.Context, n int) error {
	return s.waitFor(ctx, func() bool { return s.failed >= n })
}

func (s *Server) waitFor(ctx context.Context, ok func() bool) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for !ok() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.closed {
			return errors.New("amitest: server closed")
		}
		s.cond.Wait()
	}
	return nil
}

// Raw writes b as is to the logged-in connection (garbage tests).
func (s *Server) Raw(b []byte) error {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		return errors.New("amitest: no connection")
	}
	return c.write(b)
}

// Send writes one event to the logged-in connection.
func (s *Server) Send(m Message) error { return s.Raw(m.bytes()) }

// Drop closes the logged-in connection.
func (s *Server) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.c.Close()
		s.conn = nil
	}
}

func (s *Server) serve(c *conn) {
	defer c.c.Close()
	if err := c.write([]byte(Banner + "\r\n")); err != nil {
		return
	}
	br := bufio.NewReader(c.c)
	loggedIn := false
	for {
		a, err := readMessage(br)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.actions = append(s.actions, a)
		failMsg, fails := s.fail[strings.ToLower(a.Get("Action"))]
		s.mu.Unlock()
		id := Field{"ActionID", a.Get("ActionID")}
		action := strings.ToLower(a.Get("Action"))
		if action != "login" && !loggedIn {
			_ = c.write(Message{{"Response", "Error"}, id, {"Message", "Permission denied"}}.bytes())
			continue
		}
		if fails && action != "login" {
			_ = c.write(Message{{"Response", "Error"}, id, {"Message", failMsg}}.bytes())
			continue
		}
		switch action {
		case "login":
			if a.Get("Username") != s.Username || a.Get("Secret") != s.Secret {
				_ = c.write(Message{{"Response", "Error"}, id, {"Message", "Authentication failed"}}.bytes())
				s.mu.Lock()
				s.failed++
				s.cond.Broadcast()
				s.mu.Unlock()
				return // Asterisk closes the session after a failed login
			}
			loggedIn = true
			_ = c.write(Message{{"Response", "Success"}, id, {"Message", "Authentication accepted"}}.bytes())
			_ = c.write(Message{{"Event", "FullyBooted"}, {"Privilege", "system,all"}, {"Uptime", "8"}, {"LastReload", "8"}, {"Status", "Fully Booted"}}.bytes())
			s.mu.Lock()
			if s.conn != nil && s.conn != c {
				s.conn.c.Close()
			}
			s.conn = c
			s.logins++
			s.cond.Broadcast()
			s.mu.Unlock()
		case "ping":
			s.mu.Lock()
			quiet := s.noPong
			s.mu.Unlock()
			if !quiet {
				_ = c.write(Message{{"Response", "Success"}, id, {"Ping", "Pong"}, {"Timestamp", "1700000000.000000"}}.bytes())
			}
		case "redirect":
			_ = c.write(Message{{"Response", "Success"}, id, {"Message", "Redirect successful"}}.bytes())
		case "hangup":
			_ = c.write(Message{{"Response", "Success"}, id, {"Message", "Channel Hungup"}}.bytes())
		case "coreshowchannels":
			s.mu.Lock()
			chans := s.channels
			s.mu.Unlock()
			var b []byte
			b = append(b, Message{{"Response", "Success"}, id, {"EventList", "start"}, {"Message", "Channels will follow"}}.bytes()...)
			for _, ch := range chans {
				b = append(b, append(Message{{"Event", "CoreShowChannel"}, id}, ch...).bytes()...)
			}
			b = append(b, Message{{"Event", "CoreShowChannelsComplete"}, id, {"EventList", "Complete"}, {"ListItems", fmt.Sprint(len(chans))}}.bytes()...)
			_ = c.write(b)
			s.mu.Lock()
			s.resyncs++
			s.cond.Broadcast()
			s.mu.Unlock()
		case "logoff":
			_ = c.write(Message{{"Response", "Goodbye"}, id, {"Message", "Thanks for all the fish."}}.bytes())
			return
		default:
			_ = c.write(Message{{"Response", "Error"}, id, {"Message", "Invalid/unknown command"}}.bytes())
		}
	}
}

// readMessage reads one action; it trusts the client less than the
// client trusts Asterisk only in that long lines end the connection.
func readMessage(br *bufio.Reader) (Message, error) {
	var m Message
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if len(line) > 16<<10 {
			return nil, errors.New("amitest: line too long")
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(m) == 0 {
				continue
			}
			return m, nil
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("amitest: line without a key")
		}
		m = append(m, Field{strings.TrimSpace(k), strings.TrimLeft(v, " ")})
	}
}

// Step is one step of a transcript.
type Step struct {
	Event    Message   // an event to send, or
	Drop     bool      // --- DROP ---: close the connection, wait for the client's login and resync
	Channels []Message // --- CHANNELS --- … --- END CHANNELS ---: what CoreShowChannels answers from now on
	SetChans bool
}

// Transcript is a parsed .ami file.
type Transcript struct {
	Source []string // the header's comment lines
	Steps  []Step
}

// Load parses a transcript: '#' comment lines, then events as
// "Key: Value" lines separated by blank lines, and marker lines
// "--- DROP ---", "--- CHANNELS ---" and "--- END CHANNELS ---".
func Load(path string) (*Transcript, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(string(b))
}

// Parse is Load for a string.
func Parse(text string) (*Transcript, error) {
	tr := &Transcript{}
	var cur Message
	var chans []Message
	inChans := false
	flush := func() {
		if len(cur) == 0 {
			return
		}
		if inChans {
			chans = append(chans, cur)
		} else {
			tr.Steps = append(tr.Steps, Step{Event: cur})
		}
		cur = nil
	}
	for n, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "#"):
			if len(tr.Steps) == 0 && len(cur) == 0 {
				tr.Source = append(tr.Source, strings.TrimSpace(strings.TrimPrefix(line, "#")))
			}
		case strings.TrimSpace(line) == "":
			flush()
		case line == "--- DROP ---":
			flush()
			tr.Steps = append(tr.Steps, Step{Drop: true})
		case line == "--- CHANNELS ---":
			flush()
			inChans, chans = true, []Message{}
		case line == "--- END CHANNELS ---":
			flush()
			inChans = false
			tr.Steps = append(tr.Steps, Step{Channels: chans, SetChans: true})
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("amitest: transcript line %d has no key", n+1)
			}
			if inChans && (strings.EqualFold(k, "Event") || strings.EqualFold(k, "Privilege")) {
				continue // the server adds Event and ActionID
			}
			cur = append(cur, Field{k, strings.TrimLeft(v, " ")})
		}
	}
	flush()
	if inChans {
		return nil, errors.New("amitest: --- CHANNELS --- without --- END CHANNELS ---")
	}
	return tr, nil
}

// Play sends the transcript to the logged-in connection, waiting for the
// first login. At --- DROP --- it closes the connection and waits for the
// client to log in again and resync (CoreShowChannels) before going on.
func (s *Server) Play(ctx context.Context, tr *Transcript) error {
	// The client resyncs after each login; events sent before its
	// CoreShowChannels is answered would race with the list.
	if err := s.WaitLogins(ctx, 1); err != nil {
		return err
	}
	if err := s.WaitResyncs(ctx, 1); err != nil {
		return err
	}
	for _, st := range tr.Steps {
		switch {
		case st.SetChans:
			s.SetChannels(st.Channels)
		case st.Drop:
			logins, _, resyncs := s.Counts()
			s.Drop()
			if err := s.WaitLogins(ctx, logins+1); err != nil {
				return fmt.Errorf("amitest: waiting for the login after the drop: %w", err)
			}
			if err := s.WaitResyncs(ctx, resyncs+1); err != nil {
				return fmt.Errorf("amitest: waiting for the resync after the drop: %w", err)
			}
		default:
			if err := s.Send(st.Event); err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("amitest: send %s: %w", st.Event.Get("Event"), err)
			}
		}
	}
	return nil
}
