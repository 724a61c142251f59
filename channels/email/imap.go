package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/switchboard-cc/switchboard/org"
)

// imapSession is one logged-in connection with the mailbox's folder
// selected read-only (EXAMINE): nothing the ingester does can change a
// flag or remove a message of the shared inbox.
type imapSession struct {
	c           *imapclient.Client
	uidValidity uint32
	idle        bool // the server has IDLE (or IMAP4rev2) and it is not disabled
	// wake is signalled (never blocking) when the server announces EXISTS:
	// new mail to fetch.
	wake chan struct{}
}

// errKind names a failure for logs and the mailbox's health: never the
// server's own words, which may echo a user name.
type errKind string

const (
	kindConnect errKind = "connect"
	kindLogin   errKind = "login"
	kindSelect  errKind = "select"
	kindFetch   errKind = "fetch"
	kindRecord  errKind = "record"
	kindIdle    errKind = "idle"
)

// sessionError is a failure of one session, with its kind.
type sessionError struct {
	kind errKind
	err  error
}

func (e *sessionError) Error() string { return string(e.kind) + ": " + e.err.Error() }
func (e *sessionError) Unwrap() error { return e.err }

func failed(kind errKind, err error) error { return &sessionError{kind, err} }

// dialIMAP connects as the mailbox's security says, logs in and selects its
// folder. The passwords never reach a log: go-imap's DebugWriter stays nil.
func dialIMAP(ctx context.Context, m org.Mailbox, cfg Config) (*imapSession, error) {
	s := &imapSession{wake: make(chan struct{}, 1)}
	opts := &imapclient.Options{
		Dialer: &net.Dialer{Timeout: cfg.DialTimeout},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			// Called on the client's reader goroutine: it must not block
			// nor send commands (go-imap issue #668), only signal.
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					select {
					case s.wake <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	if cfg.TLSConfig != nil {
		opts.TLSConfig = cfg.TLSConfig.Clone()
	} else {
		opts.TLSConfig = &tls.Config{}
	}
	if opts.TLSConfig.ServerName == "" {
		opts.TLSConfig.ServerName = m.IMAPHost
	}
	addr := net.JoinHostPort(m.IMAPHost, strconv.Itoa(m.IMAPPort))

	// Dialling and the greeting do not take a context; a cancelled ctx
	// closes whatever client exists by then.
	type result struct {
		c   *imapclient.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		var c *imapclient.Client
		var err error
		switch m.IMAPSecurity {
		case org.SecurityTLS:
			c, err = imapclient.DialTLS(addr, opts)
		case org.SecurityStartTLS:
			c, err = imapclient.DialStartTLS(addr, opts)
		case org.SecurityNone:
			c, err = imapclient.DialInsecure(addr, opts)
		default:
			err = fmt.Errorf("unknown IMAP security %q", m.IMAPSecurity)
		}
		if err == nil {
			err = c.WaitGreeting()
		}
		done <- result{c, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		go func() {
			if r := <-done; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, ctx.Err()
	}
	if r.err != nil {
		if r.c != nil {
			r.c.Close()
		}
		return nil, failed(kindConnect, r.err)
	}
	s.c = r.c
	stop := context.AfterFunc(ctx, func() { s.c.Close() })
	defer stop()

	if err := s.c.Login(m.IMAPUsername, m.IMAPPassword).Wait(); err != nil {
		s.c.Close()
		return nil, failed(kindLogin, loginError(err))
	}
	caps := s.c.Caps()
	s.idle = !cfg.DisableIdle && (caps.Has(imap.CapIdle) || caps.Has(imap.CapIMAP4rev2))
	// EXAMINE: read-only, so not even a \Recent or \Seen changes.
	data, err := s.c.Select(m.Folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		s.c.Close()
		return nil, failed(kindSelect, err)
	}
	if data.UIDValidity == 0 {
		s.c.Close()
		return nil, failed(kindSelect, errors.New("the server gave no UIDVALIDITY"))
	}
	s.uidValidity = data.UIDValidity
	return s, nil
}

// loginError keeps the IMAP response code of a refused login and drops the
// server's text, which may repeat the user name.
func loginError(err error) error {
	var ie *imap.Error
	if errors.As(err, &ie) {
		if ie.Code != "" {
			return fmt.Errorf("server said %s [%s]", ie.Type, ie.Code)
		}
		return fmt.Errorf("server said %s", ie.Type)
	}
	return err
}

func (s *imapSession) close() {
	// LOGOUT is a courtesy; a dead connection is closed anyway.
	done := make(chan struct{})
	go func() { s.c.Logout().Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	s.c.Close()
}

// newUIDs lists the UIDs above last with their sizes, in UID order. "last+1:*"
// also names the highest message when none is newer (RFC 3501 6.4.8: "*" is
// the largest UID in use), so everything at or below last is dropped.
func (s *imapSession) newUIDs(last uint32) ([]uidSize, error) {
	var set imap.UIDSet
	set.AddRange(imap.UID(last+1), 0) // 0 is "*"
	cmd := s.c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true})
	var out []uidSize
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		buf, err := msg.Collect()
		if err != nil {
			cmd.Close()
			return nil, failed(kindFetch, err)
		}
		if uint32(buf.UID) > last {
			out = append(out, uidSize{uint32(buf.UID), buf.RFC822Size})
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, failed(kindFetch, err)
	}
	sortUIDs(out)
	return out, nil
}

type uidSize struct {
	uid  uint32
	size int64
}

func sortUIDs(u []uidSize) {
	// Servers answer in sequence order, which is UID order; sorting costs
	// nothing and makes the order a guarantee rather than an assumption.
	for i := 1; i < len(u); i++ {
		for j := i; j > 0 && u[j].uid < u[j-1].uid; j-- {
			u[j], u[j-1] = u[j-1], u[j]
		}
	}
}

// fetchBodies fetches the whole raw messages with these UIDs (BODY.PEEK[]:
// no \Seen) and hands each to fn in UID order as it arrives, one message
// in memory at a time. An error from fn stops the fetch.
func (s *imapSession) fetchBodies(uids []uint32, fn func(uid uint32, raw []byte) error) error {
	var set imap.UIDSet
	for _, u := range uids {
		set.AddNum(imap.UID(u))
	}
	section := &imap.FetchItemBodySection{Peek: true}
	cmd := s.c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	want := 0
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		buf, err := msg.Collect()
		if err != nil {
			cmd.Close()
			return failed(kindFetch, err)
		}
		uid := uint32(buf.UID)
		// A message expunged since newUIDs simply does not come; one that
		// comes out of order would break the checkpoint's meaning.
		for want < len(uids) && uids[want] < uid {
			want++
		}
		if want == len(uids) || uids[want] != uid {
			cmd.Close()
			return failed(kindFetch, fmt.Errorf("server sent UID %d out of order", uid))
		}
		want++
		raw := buf.FindBodySection(section)
		if raw == nil {
			cmd.Close()
			return failed(kindFetch, fmt.Errorf("no body for UID %d", uid))
		}
		if err := fn(uid, raw); err != nil {
			cmd.Close()
			return err
		}
	}
	if err := cmd.Close(); err != nil {
		return failed(kindFetch, err)
	}
	return nil
}

// noop lets the server tell of new mail (EXISTS) when polling.
func (s *imapSession) noop() error {
	if err := s.c.Noop().Wait(); err != nil {
		return failed(kindFetch, err)
	}
	return nil
}

// waitIdle runs IDLE until the server announces new mail, d passes or ctx
// ends; true means new mail. IDLE is ended with DONE before returning, so
// the connection takes commands again.
func (s *imapSession) waitIdle(ctx context.Context, d time.Duration) (bool, error) {
	// A wake-up from before IDLE (EXISTS during the last fetch) counts.
	select {
	case <-s.wake:
		return true, nil
	default:
	}
	idle, err := s.c.Idle()
	if err != nil {
		return false, failed(kindIdle, err)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	woke := false
	select {
	case <-s.wake:
		woke = true
	case <-t.C:
	case <-ctx.Done():
	}
	if err := idle.Close(); err != nil {
		return false, failed(kindIdle, err)
	}
	// The server answers DONE with the IDLE's tagged OK. A server that
	// went away silently must not hold the session forever.
	done := make(chan error, 1)
	go func() { done <- idle.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return false, failed(kindIdle, err)
		}
	case <-time.After(30 * time.Second):
		s.c.Close()
		return false, failed(kindIdle, errors.New("no answer to DONE within 30s"))
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	return woke, nil
}
