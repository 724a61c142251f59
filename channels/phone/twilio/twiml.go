package twilio

import (
	"encoding/xml"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// TwiML is built from these structs and encoding/xml, so whatever the
// Hotline or the caller's telephony put in a text or a URL is escaped, never
// spliced into markup. Each verb's XMLName names its element; a Response
// holds verbs in the order Twilio runs them.
type response struct {
	XMLName xml.Name `xml:"Response"`
	Verbs   []any
}

type say struct {
	XMLName  xml.Name `xml:"Say"`
	Language string   `xml:"language,attr,omitempty"`
	Voice    string   `xml:"voice,attr,omitempty"`
	Text     string   `xml:",chardata"`
}

type play struct {
	XMLName xml.Name `xml:"Play"`
	URL     string   `xml:",chardata"`
}

type pause struct {
	XMLName xml.Name `xml:"Pause"`
	Length  int      `xml:"length,attr"`
}

type gather struct {
	XMLName   xml.Name `xml:"Gather"`
	Action    string   `xml:"action,attr"`
	Method    string   `xml:"method,attr"`
	NumDigits int      `xml:"numDigits,attr"`
	Timeout   int      `xml:"timeout,attr"`
	Verbs     []any
}

type redirect struct {
	XMLName xml.Name `xml:"Redirect"`
	Method  string   `xml:"method,attr"`
	URL     string   `xml:",chardata"`
}

type enqueue struct {
	XMLName       xml.Name `xml:"Enqueue"`
	WaitURL       string   `xml:"waitUrl,attr"`
	WaitURLMethod string   `xml:"waitUrlMethod,attr"`
	Name          string   `xml:",chardata"`
}

type record struct {
	XMLName   xml.Name `xml:"Record"`
	Action    string   `xml:"action,attr"`
	Method    string   `xml:"method,attr"`
	MaxLength int      `xml:"maxLength,attr"`
	PlayBeep  bool     `xml:"playBeep,attr"`
}

type hangup struct {
	XMLName xml.Name `xml:"Hangup"`
}

type dial struct {
	XMLName xml.Name `xml:"Dial"`
	Action  string   `xml:"action,attr"`
	Method  string   `xml:"method,attr"`
	Timeout int      `xml:"timeout,attr"`
	Nouns   []any
}

// dialNoun is <Client> or <Number>: the agent's leg, whose progress Twilio
// reports to StatusCallback as it rings, answers and ends.
type dialNoun struct {
	XMLName              xml.Name
	StatusCallback       string `xml:"statusCallback,attr"`
	StatusCallbackEvent  string `xml:"statusCallbackEvent,attr"`
	StatusCallbackMethod string `xml:"statusCallbackMethod,attr"`
	Target               string `xml:",chardata"`
}

func marshal(r response) ([]byte, error) {
	b, err := xml.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("twiml: %w", err)
	}
	return append([]byte(xmlHeader), b...), nil
}

// Voice is how Twilio speaks one of the Hotline's languages: <Say>'s
// language and voice attributes.
type Voice struct {
	Language string // e.g. "en-US", "zh-CN" (or "cmn-CN" with a Polly voice)
	Name     string // e.g. "alice", "Polly.Zhiyu"; empty: Twilio's default
}

// DefaultVoices speak the Hotline's two languages with Twilio's "alice",
// which reads both English and Mandarin.
var DefaultVoices = map[string]Voice{
	"en":    {Language: "en-US", Name: "alice"},
	"zh-CN": {Language: "zh-CN", Name: "alice"},
}

// phrases are what this connector itself says; everything else spoken comes
// from the Hotline already in the caller's language.
type phrases struct {
	option    func(label, digit string) string
	position  func(n int) string
	wait      func(d time.Duration) string
	closed    string
	voicemail string
	goodbye   string
}

var english = phrases{
	option:   func(label, digit string) string { return "For " + label + ", press " + digit + "." },
	position: func(n int) string { return "You are number " + strconv.Itoa(n) + " in line." },
	wait: func(d time.Duration) string {
		m := minutes(d)
		switch {
		case m == 0:
			return "The expected wait is less than a minute."
		case m == 1:
			return "The expected wait is about 1 minute."
		}
		return "The expected wait is about " + strconv.Itoa(m) + " minutes."
	},
	closed:    "We are closed right now.",
	voicemail: "Please leave a message after the tone.",
	goodbye:   "Thank you for calling. Goodbye.",
}

var chinese = phrases{
	option:   func(label, digit string) string { return label + "请按" + digit + "。" },
	position: func(n int) string { return "您现在排在第" + strconv.Itoa(n) + "位。" },
	wait: func(d time.Duration) string {
		if m := minutes(d); m > 0 {
			return "预计等待约" + strconv.Itoa(m) + "分钟。"
		}
		return "预计等待不到1分钟。"
	},
	closed:    "现在是非工作时间。",
	voicemail: "请在提示音后留言。",
	goodbye:   "感谢您的来电，再见。",
}

// minutes rounds a wait up to whole minutes; under a minute is 0.
func minutes(d time.Duration) int {
	if d < time.Minute {
		return 0
	}
	m := math.Ceil(d.Minutes())
	if m > 24*60 {
		m = 24 * 60 // an estimate that large is noise; don't read it out
	}
	return int(m)
}

// speech is one language's phrases and voice.
type speech struct {
	phrases
	lang  string // the Hotline's code: "en" or "zh-CN"
	voice Voice
}

func (s speech) say(text string) say {
	return say{Language: s.voice.Language, Voice: s.voice.Name, Text: text}
}

func (s speech) sayAll(lines []string) []any {
	var vs []any
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			vs = append(vs, s.say(l))
		}
	}
	return vs
}

// speechFor picks the phrases for a route's language: Chinese for any zh
// tag, English otherwise (the Hotline speaks only these two).
func speechFor(lang string, voices map[string]Voice) speech {
	s := speech{phrases: english, lang: "en"}
	if l := strings.ToLower(lang); l == "zh" || strings.HasPrefix(l, "zh-") {
		s = speech{phrases: chinese, lang: "zh-CN"}
	}
	v, ok := voices[s.lang]
	if !ok {
		v = DefaultVoices[s.lang]
	}
	s.voice = v
	return s
}

// twiml renders TwiML for one connector: it knows that connector's webhook
// URLs and the deployment's speech settings.
type twiml struct {
	ep        endpoints
	voices    map[string]Voice
	holdMusic string
	// menuPlays is how often the menu plays before a caller who pressed
	// nothing goes to the default queue.
	menuPlays int
}

// route renders the Hotline's answer for the voice, gather and requeue
// webhooks and for a Dial action that did not reach the agent. play is the
// number of this play of the menu (from 1), for ActionMenu.
//
// The menu: <Gather> plays the Hotline's Say lines and one line per option
// and takes one digit, posted to gather. A caller who presses nothing falls
// through to the <Redirect>: back to voice for the next play while plays
// remain, and after the last one to gather with no digits, which asks the
// Hotline for the default queue (Choose with ""). Should the Hotline answer
// that with the menu yet again, the caller hears goodbye rather than an
// endless menu.
func (t twiml) route(r phone.Route, play int) ([]byte, error) {
	s := speechFor(r.Language, t.voices)
	var vs []any
	switch r.Action {
	case phone.ActionMenu:
		if play > t.menuPlays {
			vs = append(vs, s.say(s.goodbye), hangup{})
			break
		}
		spoken := s.sayAll(r.Say)
		for _, o := range r.Menu {
			spoken = append(spoken, s.say(s.option(o.Label, o.Digit)))
		}
		g := gather{Action: t.ep.url("gather", "attempt", strconv.Itoa(play)), Method: "POST", NumDigits: 1, Timeout: 6, Verbs: spoken}
		next := redirect{Method: "POST", URL: t.ep.url("voice", "attempt", strconv.Itoa(play+1))}
		if play >= t.menuPlays {
			next.URL = t.ep.url("gather", "attempt", strconv.Itoa(play+1))
		}
		vs = append(vs, g, next)
	case phone.ActionQueue:
		vs = append(s.sayAll(r.Say), enqueue{WaitURL: t.ep.url("wait"), WaitURLMethod: "POST", Name: queueName(r)})
	case phone.ActionClosed:
		vs = s.sayAll(r.Say)
		if len(vs) == 0 {
			vs = append(vs, s.say(s.closed))
		}
		if r.Voicemail {
			vs = append(vs,
				s.say(s.voicemail),
				record{Action: t.ep.url("status", "leg", "voicemail", "lang", s.lang), Method: "POST", MaxLength: 120, PlayBeep: true},
				// Reached only when nothing was recorded: Twilio then
				// skips the action and goes on here.
				s.say(s.goodbye))
		}
		vs = append(vs, hangup{})
	case phone.ActionHangup:
		vs = append(s.sayAll(r.Say), hangup{})
	default:
		return nil, fmt.Errorf("twiml: unknown action %q", r.Action)
	}
	return marshal(response{Verbs: vs})
}

// queueName names the Twilio queue a caller holds in. It is only a holding
// pen: Switchboard decides who is next and bridges by CallSid, never by
// dequeuing, so the name needs only to be stable, short (Twilio allows 64)
// and free of anything personal: the queue's id.
func queueName(r phone.Route) string {
	if r.QueueID != uuid.Nil {
		return r.QueueID.String()
	}
	return "switchboard"
}

// wait renders the <Enqueue> waitUrl document: the Hotline's Say lines, the
// caller's place and the expected wait, hold music (or a pause), then
// <Redirect> back to wait so the numbers are fresh on every round. pos and
// avg are Twilio's own figures, used where the Hotline gave none. A caller
// the Hotline no longer holds in a queue hears its lines and is hung up
// (waitUrl documents may not <Record> or <Gather> a new menu).
func (t twiml) wait(r phone.Route, pos int, avg time.Duration) ([]byte, error) {
	s := speechFor(r.Language, t.voices)
	vs := s.sayAll(r.Say)
	if r.Action != phone.ActionQueue {
		if r.Action == phone.ActionClosed && len(vs) == 0 {
			vs = append(vs, s.say(s.closed))
		}
		return marshal(response{Verbs: append(vs, hangup{})})
	}
	if r.Position > 0 {
		pos = r.Position
	}
	if r.Wait > 0 {
		avg = r.Wait
	}
	if pos > 0 {
		vs = append(vs, s.say(s.position(pos)))
	}
	if avg > 0 {
		vs = append(vs, s.say(s.wait(avg)))
	}
	if t.holdMusic != "" {
		vs = append(vs, play{URL: t.holdMusic})
	} else {
		vs = append(vs, pause{Length: 20})
	}
	vs = append(vs, redirect{Method: "POST", URL: t.ep.url("wait")})
	return marshal(response{Verbs: vs})
}

// goodbye ends a call after its voicemail was recorded.
func (t twiml) goodbye(lang string) ([]byte, error) {
	s := speechFor(lang, t.voices)
	return marshal(response{Verbs: []any{s.say(s.goodbye), hangup{}}})
}

// dialTimeout is how long the agent's phone rings before Twilio gives up
// and the caller goes back in line.
const dialTimeout = 20

// dial bridges the caller to the agent: <Dial><Client> for a softphone,
// <Dial><Number> for a phone number. The agent leg's progress goes to
// status (leg=agent, ext=the agent's extension) from the leg itself as it
// rings, answers and ends, and from <Dial action> when the dial is over,
// whose answer tells Twilio what the caller hears next.
func (t twiml) dial(a phone.Agent) ([]byte, error) {
	ext := agentExt(a)
	cb := t.ep.url("status", "leg", "agent", "ext", ext)
	n := dialNoun{StatusCallback: cb, StatusCallbackEvent: "ringing answered completed", StatusCallbackMethod: "POST"}
	switch a.Dial {
	case "", "client":
		if a.Extension == "" {
			return nil, fmt.Errorf("twiml: agent %s: no client identity (extension) to dial", a.AgentID)
		}
		n.XMLName, n.Target = xml.Name{Local: "Client"}, a.Extension
	case "number":
		if a.Number == "" {
			return nil, fmt.Errorf("twiml: agent %s: no number to dial", a.AgentID)
		}
		n.XMLName, n.Target = xml.Name{Local: "Number"}, a.Number
	default:
		return nil, fmt.Errorf("twiml: agent %s: unknown dial kind %q", a.AgentID, a.Dial)
	}
	return marshal(response{Verbs: []any{dial{Action: cb, Method: "POST", Timeout: dialTimeout, Nouns: []any{n}}}})
}

// agentExt is what the agent leg's events carry as Extension: the agent's
// extension, or for an agent reached on a number without one, the agent's
// id (never the number: events and logs carry no phone numbers).
func agentExt(a phone.Agent) string {
	if a.Extension != "" {
		return a.Extension
	}
	return a.AgentID.String()
}

// endpoints are one connector's webhook URLs as Twilio reaches them.
type endpoints struct {
	base string // public URL + mount + "/" + connector id
}

// url is the endpoint's absolute URL with the query pairs kv (key, value,
// …), encoded in a fixed order so the same call yields the same URL.
func (e endpoints) url(name string, kv ...string) string {
	u := e.base + "/" + name
	if len(kv) == 0 {
		return u
	}
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv[i+1]))
	}
	return u + "?" + b.String()
}

const xmlHeader = xml.Header
