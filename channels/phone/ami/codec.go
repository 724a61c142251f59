package ami

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Field is one "Key: Value" line of an AMI message.
type Field struct {
	Key, Value string
}

// Message is one AMI packet: an event, a response or an action. Keys keep
// their order and may repeat (an event's ChanVariable lines, say).
type Message struct {
	Fields []Field
	// Output holds the raw lines of a legacy "Response: Follows" command
	// reply (Asterisk before 14), without the --END COMMAND-- marker;
	// non-nil for such a reply even when it is empty.
	Output []string
}

// Get returns the value of the first field named key (AMI keys are
// case-insensitive), or "".
func (m Message) Get(key string) string {
	for _, f := range m.Fields {
		if len(f.Key) == len(key) && strings.EqualFold(f.Key, key) {
			return f.Value
		}
	}
	return ""
}

// Values returns the values of every field named key, in order.
func (m Message) Values(key string) []string {
	var vs []string
	for _, f := range m.Fields {
		if strings.EqualFold(f.Key, key) {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// Event is the event's name, "" for a response.
func (m Message) Event() string { return m.Get("Event") }

// Act builds an action from its name and key, value pairs.
func Act(name string, kv ...string) Message {
	m := Message{Fields: make([]Field, 0, 1+len(kv)/2)}
	m.Fields = append(m.Fields, Field{"Action", name})
	for i := 0; i+1 < len(kv); i += 2 {
		m.Fields = append(m.Fields, Field{kv[i], kv[i+1]})
	}
	return m
}

// Limits bound what one peer can make the reader hold. Zero fields take
// the defaults.
type Limits struct {
	MaxLine   int // bytes in one line, without the line ending (8 KiB)
	MaxFields int // fields in one message (256)
	MaxBytes  int // bytes in one message (64 KiB)
}

// DefaultLimits are far above what Asterisk sends (a CoreShowChannel event
// is about 500 bytes) and low enough that garbage cannot grow memory.
var DefaultLimits = Limits{MaxLine: 8 << 10, MaxFields: 256, MaxBytes: 64 << 10}

func (l Limits) withDefaults() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultLimits.MaxLine
	}
	if l.MaxFields <= 0 {
		l.MaxFields = DefaultLimits.MaxFields
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	return l
}

var (
	// ErrLimit: a line, a message or its fields exceeded Limits. The
	// stream cannot be resynchronised; the client reconnects.
	ErrLimit = errors.New("ami: limit exceeded")
	// ErrProtocol: the peer sent something that is not AMI.
	ErrProtocol = errors.New("ami: protocol error")
	// ErrInjection: an action's key or value holds CR or LF (or a key a
	// colon), which would let it smuggle fields or whole actions.
	ErrInjection = errors.New("ami: CR, LF or colon in an action field")
)

// LimitError says which limit was exceeded. errors.Is(err, ErrLimit).
type LimitError struct {
	What string // "line", "fields", "message"
	Max  int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("ami: %s exceeds the limit of %d", e.What, e.Max)
}

func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// ProtocolError says what was wrong, never what the line held (it may
// carry a caller's number). errors.Is(err, ErrProtocol).
type ProtocolError struct {
	Reason string
}

func (e *ProtocolError) Error() string { return "ami: protocol error: " + e.Reason }

func (e *ProtocolError) Is(target error) bool { return target == ErrProtocol }

const bannerPrefix = "Asterisk Call Manager/"

// Reader reads AMI messages. It is not safe for concurrent use.
type Reader struct {
	br    *bufio.Reader
	lim   Limits
	line  []byte
	text  []byte
	spans []span
}

// span locates a field (or an output line, key < 0) in Reader.text.
type span struct {
	k0, k1, v0, v1 int
}

// NewReader reads from r within lim.
func NewReader(r io.Reader, lim Limits) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 16<<10), lim: lim.withDefaults()}
}

// readLine returns the next line without its CRLF or LF, valid until the
// next call.
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(r.line)+len(chunk) > r.lim.MaxLine+2 {
			return nil, &LimitError{What: "line", Max: r.lim.MaxLine}
		}
		r.line = append(r.line, chunk...)
		if err == nil {
			break
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(r.line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	l := r.line[:len(r.line)-1]
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	if len(l) > r.lim.MaxLine {
		return nil, &LimitError{What: "line", Max: r.lim.MaxLine}
	}
	return l, nil
}

// ReadBanner reads the greeting Asterisk sends first and returns the AMI
// version ("Asterisk Call Manager/7.0.3" → "7.0.3").
func (r *Reader) ReadBanner() (string, error) {
	l, err := r.readLine()
	if err != nil {
		return "", err
	}
	if !bytes.HasPrefix(l, []byte(bannerPrefix)) {
		return "", &ProtocolError{Reason: "not an Asterisk Call Manager banner"}
	}
	return string(l[len(bannerPrefix):]), nil
}

const endCommand = "--END COMMAND--"

// ReadMessage reads the next message. Blank lines between messages are
// skipped. A line without a key is a ProtocolError, except in the output
// of a legacy "Response: Follows".
func (r *Reader) ReadMessage() (Message, error) {
	r.text = r.text[:0]
	r.spans = r.spans[:0]
	follows, output, ended := false, false, false
	size := 0
	for {
		l, err := r.readLine()
		if err != nil {
			if err == io.EOF && len(r.spans) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return Message{}, err
		}
		size += len(l) + 2
		if size > r.lim.MaxBytes {
			return Message{}, &LimitError{What: "message", Max: r.lim.MaxBytes}
		}
		if len(l) == 0 {
			if len(r.spans) == 0 {
				continue
			}
			if !follows || ended {
				break
			}
		}
		if follows && !ended {
			if bytes.HasSuffix(l, []byte(endCommand)) {
				ended = true
				if p := l[:len(l)-len(endCommand)]; len(p) > 0 {
					r.addOutput(p)
				}
				continue
			}
			if !output && isFollowsHeader(l) {
				r.addField(l)
				continue
			}
			output = true
			r.addOutput(l)
			continue
		}
		if len(r.spans) >= r.lim.MaxFields {
			return Message{}, &LimitError{What: "fields", Max: r.lim.MaxFields}
		}
		if !r.addField(l) {
			return Message{}, &ProtocolError{Reason: fmt.Sprintf("line %d has no key", len(r.spans)+1)}
		}
		if len(r.spans) == 1 {
			s := r.spans[0]
			follows = string(r.text[s.k0:s.k1]) == "Response" && string(r.text[s.v0:s.v1]) == "Follows"
		}
	}
	// One string for the whole message; fields are slices of it.
	all := string(r.text)
	m := Message{Fields: make([]Field, 0, len(r.spans))}
	if follows {
		m.Output = []string{}
	}
	for _, s := range r.spans {
		if s.k0 < 0 {
			m.Output = append(m.Output, all[s.v0:s.v1])
			continue
		}
		m.Fields = append(m.Fields, Field{Key: all[s.k0:s.k1], Value: all[s.v0:s.v1]})
	}
	return m, nil
}

func isFollowsHeader(l []byte) bool {
	return bytes.HasPrefix(l, []byte("Privilege:")) || bytes.HasPrefix(l, []byte("ActionID:"))
}

// addField appends "Key: Value"; false if the line has no key.
func (r *Reader) addField(l []byte) bool {
	i := bytes.IndexByte(l, ':')
	if i <= 0 {
		return false
	}
	key := bytes.TrimRight(l[:i], " \t")
	if len(key) == 0 {
		return false
	}
	for _, c := range key {
		// AMI keys are words ("Cause-txt", "ChanVariable"): a space or a
		// control character means this is not AMI.
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	val := bytes.TrimLeft(l[i+1:], " \t")
	base := len(r.text)
	r.text = append(r.text, key...)
	r.text = append(r.text, val...)
	r.spans = append(r.spans, span{base, base + len(key), base + len(key), base + len(key) + len(val)})
	return true
}

func (r *Reader) addOutput(l []byte) {
	base := len(r.text)
	r.text = append(r.text, l...)
	r.spans = append(r.spans, span{-1, -1, base, base + len(l)})
}

// WriteAction writes m as one action. It checks every field first and
// writes nothing if one would break the framing.
func WriteAction(w io.Writer, m Message) error {
	if len(m.Fields) == 0 {
		return &ProtocolError{Reason: "empty action"}
	}
	n := 2
	for _, f := range m.Fields {
		if f.Key == "" || strings.ContainsAny(f.Key, "\r\n:") || strings.ContainsAny(f.Value, "\r\n") {
			return fmt.Errorf("%w: field %q", ErrInjection, f.Key)
		}
		n += len(f.Key) + len(f.Value) + 4
	}
	b := make([]byte, 0, n)
	for _, f := range m.Fields {
		b = append(b, f.Key...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	_, err := w.Write(b)
	return err
}
