package twilio

import (
	"bytes"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// node is any TwiML element, parsed back for assertions.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []node     `xml:",any"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// names lists the element names of n's children.
func (n node) names() []string {
	var s []string
	for _, c := range n.Nodes {
		s = append(s, c.XMLName.Local)
	}
	return s
}

// texts lists the text of every <Say> under n, in document order.
func (n node) texts() []string {
	var s []string
	for _, c := range n.Nodes {
		if c.XMLName.Local == "Say" {
			s = append(s, c.Text)
		}
		s = append(s, c.texts()...)
	}
	return s
}

func parseTwiML(t *testing.T, b []byte) node {
	t.Helper()
	if !bytes.HasPrefix(b, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Fatalf("TwiML without XML declaration: %s", b)
	}
	var n node
	if err := xml.Unmarshal(b, &n); err != nil {
		t.Fatalf("TwiML does not parse: %v\n%s", err, b)
	}
	if n.XMLName.Local != "Response" {
		t.Fatalf("root element %q, want Response", n.XMLName.Local)
	}
	return n
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".xml")
	// The files end with a newline for editors; the TwiML itself has none.
	got = append(bytes.Clone(got), '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", name, diff)
	}
}

var (
	testConnID = uuid.MustParse("0190d3a4-7b5e-7c1a-9f00-0000000000aa")
	testQueue  = uuid.MustParse("0190d3a4-7b5e-7c1a-9f00-0000000000bb")
	testBase   = "https://cc.example.com/phone/twilio/" + testConnID.String()
)

func testTwiML() twiml {
	return Config{PublicURL: "https://cc.example.com/"}.withDefaults().twiml(testConnID)
}

func menuRoute(lang string) phone.Route {
	if lang == "zh-CN" {
		return phone.Route{Action: phone.ActionMenu, Language: lang, Say: []string{"欢迎致电浦东汽车。"},
			Menu: []phone.MenuOption{{Digit: "1", Label: "咨询"}, {Digit: "2", Label: "销售"}, {Digit: "3", Label: "维修服务"}}}
	}
	return phone.Route{Action: phone.ActionMenu, Language: lang, Say: []string{"Welcome to Pudong Motors."},
		Menu: []phone.MenuOption{{Digit: "1", Label: "enquiries"}, {Digit: "2", Label: "sales"}, {Digit: "3", Label: "service"}}}
}

func TestTwiMLMenu(t *testing.T) {
	tw := testTwiML()
	for _, tc := range []struct {
		lang     string
		say      []string
		language string
	}{
		{"en", []string{"Welcome to Pudong Motors.", "For enquiries, press 1.", "For sales, press 2.", "For service, press 3."}, "en-US"},
		{"zh-CN", []string{"欢迎致电浦东汽车。", "咨询请按1。", "销售请按2。", "维修服务请按3。"}, "zh-CN"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			b, err := tw.route(menuRoute(tc.lang), 1)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "menu-"+tc.lang, b)
			n := parseTwiML(t, b)
			if diff := cmp.Diff([]string{"Gather", "Redirect"}, n.names()); diff != "" {
				t.Fatalf("verbs (-want +got):\n%s", diff)
			}
			g := n.Nodes[0]
			for attr, want := range map[string]string{"numDigits": "1", "timeout": "6", "method": "POST", "action": testBase + "/gather?attempt=1"} {
				if got := g.attr(attr); got != want {
					t.Errorf("Gather %s = %q, want %q", attr, got, want)
				}
			}
			if diff := cmp.Diff(tc.say, n.texts()); diff != "" {
				t.Errorf("spoken (-want +got):\n%s", diff)
			}
			for _, s := range g.Nodes {
				if s.attr("language") != tc.language || s.attr("voice") != "alice" {
					t.Errorf("Say language=%q voice=%q, want %q alice", s.attr("language"), s.attr("voice"), tc.language)
				}
			}
			if got, want := n.Nodes[1].Text, testBase+"/voice?attempt=2"; got != want {
				t.Errorf("Redirect = %q, want %q", got, want)
			}
		})
	}
}

// The menu plays menuPlays times; the last play falls through to gather
// with no digits (the default queue), and a menu after that says goodbye.
func TestTwiMLMenuRepeats(t *testing.T) {
	tw := testTwiML()
	for _, tc := range []struct {
		play     int
		verbs    []string
		redirect string
	}{
		{2, []string{"Gather", "Redirect"}, testBase + "/voice?attempt=3"},
		{3, []string{"Gather", "Redirect"}, testBase + "/gather?attempt=4"},
		{4, []string{"Say", "Hangup"}, ""},
	} {
		b, err := tw.route(menuRoute("en"), tc.play)
		if err != nil {
			t.Fatal(err)
		}
		n := parseTwiML(t, b)
		if diff := cmp.Diff(tc.verbs, n.names()); diff != "" {
			t.Fatalf("play %d verbs (-want +got):\n%s", tc.play, diff)
		}
		if tc.redirect != "" && n.Nodes[1].Text != tc.redirect {
			t.Errorf("play %d: Redirect = %q, want %q", tc.play, n.Nodes[1].Text, tc.redirect)
		}
	}
}

func TestTwiMLQueue(t *testing.T) {
	tw := testTwiML()
	for _, tc := range []struct {
		lang string
		say  string
	}{{"en", "Your car is ready for collection."}, {"zh-CN", "您的车已经修好，可以取车了。"}} {
		t.Run(tc.lang, func(t *testing.T) {
			b, err := tw.route(phone.Route{Action: phone.ActionQueue, Language: tc.lang, Say: []string{tc.say}, QueueID: testQueue, QueueName: "Service"}, 0)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "queue-"+tc.lang, b)
			n := parseTwiML(t, b)
			if diff := cmp.Diff([]string{"Say", "Enqueue"}, n.names()); diff != "" {
				t.Fatalf("verbs (-want +got):\n%s", diff)
			}
			if n.Nodes[0].Text != tc.say {
				t.Errorf("Say = %q, want %q", n.Nodes[0].Text, tc.say)
			}
			e := n.Nodes[1]
			if e.Text != testQueue.String() || e.attr("waitUrl") != testBase+"/wait" || e.attr("waitUrlMethod") != "POST" {
				t.Errorf("Enqueue = %q waitUrl=%q method=%q", e.Text, e.attr("waitUrl"), e.attr("waitUrlMethod"))
			}
		})
	}
}

func TestTwiMLClosed(t *testing.T) {
	tw := testTwiML()
	for _, tc := range []struct {
		name      string
		route     phone.Route
		verbs     []string
		say       []string
		recordURL string
	}{
		{"voicemail-en", phone.Route{Action: phone.ActionClosed, Language: "en", Voicemail: true},
			[]string{"Say", "Say", "Record", "Say", "Hangup"},
			[]string{"We are closed right now.", "Please leave a message after the tone.", "Thank you for calling. Goodbye."},
			testBase + "/status?leg=voicemail&lang=en"},
		{"voicemail-zh-CN", phone.Route{Action: phone.ActionClosed, Language: "zh-CN", Voicemail: true, Say: []string{"我们的营业时间是周一至周六9点到18点。"}},
			[]string{"Say", "Say", "Record", "Say", "Hangup"},
			[]string{"我们的营业时间是周一至周六9点到18点。", "请在提示音后留言。", "感谢您的来电，再见。"},
			testBase + "/status?leg=voicemail&lang=zh-CN"},
		{"closed-en", phone.Route{Action: phone.ActionClosed, Language: "en"},
			[]string{"Say", "Hangup"}, []string{"We are closed right now."}, ""},
		{"closed-zh-CN", phone.Route{Action: phone.ActionClosed, Language: "zh-CN"},
			[]string{"Say", "Hangup"}, []string{"现在是非工作时间。"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tw.route(tc.route, 0)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b)
			n := parseTwiML(t, b)
			if diff := cmp.Diff(tc.verbs, n.names()); diff != "" {
				t.Fatalf("verbs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.say, n.texts()); diff != "" {
				t.Errorf("spoken (-want +got):\n%s", diff)
			}
			if tc.recordURL != "" {
				r := n.Nodes[2]
				if r.attr("action") != tc.recordURL || r.attr("maxLength") != "120" || r.attr("playBeep") != "true" {
					t.Errorf("Record action=%q maxLength=%q playBeep=%q", r.attr("action"), r.attr("maxLength"), r.attr("playBeep"))
				}
			}
		})
	}
}

func TestTwiMLHangup(t *testing.T) {
	for _, lang := range []string{"en", "zh-CN"} {
		b, err := testTwiML().route(phone.Route{Action: phone.ActionHangup, Language: lang}, 0)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "hangup-"+lang, b)
		if diff := cmp.Diff([]string{"Hangup"}, parseTwiML(t, b).names()); diff != "" {
			t.Errorf("%s verbs (-want +got):\n%s", lang, diff)
		}
	}
	if _, err := testTwiML().route(phone.Route{Action: "dance"}, 0); err == nil {
		t.Error("route with an unknown action: no error")
	}
}

func TestTwiMLWait(t *testing.T) {
	tw := testTwiML()
	for _, tc := range []struct {
		name  string
		route phone.Route
		pos   int
		avg   time.Duration
		say   []string
	}{
		// The Hotline's figures win over Twilio's queue figures.
		{"wait-en", phone.Route{Action: phone.ActionQueue, Language: "en", Position: 3, Wait: 150 * time.Second}, 9, time.Hour,
			[]string{"You are number 3 in line.", "The expected wait is about 3 minutes."}},
		{"wait-zh-CN", phone.Route{Action: phone.ActionQueue, Language: "zh-CN", Position: 1, Wait: 40 * time.Second}, 0, 0,
			[]string{"您现在排在第1位。", "预计等待不到1分钟。"}},
		// Twilio's figures where the Hotline has none.
		{"", phone.Route{Action: phone.ActionQueue, Language: "en"}, 2, 60 * time.Second,
			[]string{"You are number 2 in line.", "The expected wait is about 1 minute."}},
		{"", phone.Route{Action: phone.ActionQueue, Language: "zh"}, 0, 0, nil},
	} {
		b, err := tw.wait(tc.route, tc.pos, tc.avg)
		if err != nil {
			t.Fatal(err)
		}
		if tc.name != "" {
			golden(t, tc.name, b)
		}
		n := parseTwiML(t, b)
		if diff := cmp.Diff(tc.say, n.texts()); diff != "" {
			t.Errorf("%+v spoken (-want +got):\n%s", tc.route, diff)
		}
		names := n.names()
		if len(names) < 2 || names[len(names)-2] != "Pause" || names[len(names)-1] != "Redirect" || n.Nodes[len(names)-1].Text != testBase+"/wait" {
			t.Errorf("%+v: document ends %v, want Pause then Redirect to wait", tc.route, names)
		}
	}

	withMusic := Config{PublicURL: "https://cc.example.com", HoldMusicURL: "https://cdn.example.com/hold.mp3"}.withDefaults().twiml(testConnID)
	b, _ := withMusic.wait(phone.Route{Action: phone.ActionQueue}, 0, 0)
	if n := parseTwiML(t, b); n.Nodes[0].XMLName.Local != "Play" || n.Nodes[0].Text != "https://cdn.example.com/hold.mp3" {
		t.Errorf("hold music: %s", b)
	}

	// No longer waiting (the queue closed meanwhile): say so and hang up.
	b, _ = tw.wait(phone.Route{Action: phone.ActionClosed, Language: "zh-CN"}, 4, time.Minute)
	n := parseTwiML(t, b)
	if diff := cmp.Diff([]string{"Say", "Hangup"}, n.names()); diff != "" || n.Nodes[0].Text != "现在是非工作时间。" {
		t.Errorf("closed while waiting: %s", b)
	}
}

func TestTwiMLDial(t *testing.T) {
	tw := testTwiML()
	agent := uuid.MustParse("0190d3a4-7b5e-7c1a-9f00-0000000000cc")
	for _, tc := range []struct {
		name   string
		agent  phone.Agent
		noun   string
		target string
		ext    string
	}{
		{"dial-client", phone.Agent{AgentID: agent, Extension: "agent_li", Dial: "client"}, "Client", "agent_li", "agent_li"},
		{"dial-number", phone.Agent{AgentID: agent, Extension: "201", Dial: "number", Number: "+8613800138000"}, "Number", "+8613800138000", "201"},
		// A number without an extension: events carry the agent's id.
		{"", phone.Agent{AgentID: agent, Dial: "number", Number: "+8613800138000"}, "Number", "+8613800138000", agent.String()},
	} {
		b, err := tw.dial(tc.agent)
		if err != nil {
			t.Fatal(err)
		}
		if tc.name != "" {
			golden(t, tc.name, b)
		}
		n := parseTwiML(t, b)
		cb := testBase + "/status?leg=agent&ext=" + tc.ext
		if len(n.Nodes) != 1 || len(n.Nodes[0].Nodes) != 1 {
			t.Fatalf("%s: want one Dial with one noun: %s", tc.name, b)
		}
		d, noun := n.Nodes[0], n.Nodes[0].Nodes[0]
		if d.XMLName.Local != "Dial" || d.attr("action") != cb || d.attr("timeout") != "20" {
			t.Errorf("Dial action=%q timeout=%q, want %q 20", d.attr("action"), d.attr("timeout"), cb)
		}
		if noun.XMLName.Local != tc.noun || strings.TrimSpace(noun.Text) != tc.target || noun.attr("statusCallback") != cb || noun.attr("statusCallbackEvent") != "ringing answered completed" {
			t.Errorf("noun %s %q statusCallback=%q events=%q", noun.XMLName.Local, noun.Text, noun.attr("statusCallback"), noun.attr("statusCallbackEvent"))
		}
	}
	for _, a := range []phone.Agent{{AgentID: agent, Dial: "client"}, {AgentID: agent, Dial: "number"}, {AgentID: agent, Extension: "1", Dial: "pigeon"}} {
		if _, err := tw.dial(a); err == nil {
			t.Errorf("dial(%+v): no error", a)
		}
	}
}

// Text from the Hotline is escaped, never markup.
func TestTwiMLEscapes(t *testing.T) {
	b, err := testTwiML().route(phone.Route{Action: phone.ActionHangup, Say: []string{`</Say><Dial>+1</Dial><Say>`}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := parseTwiML(t, b)
	if diff := cmp.Diff([]string{"Say", "Hangup"}, n.names()); diff != "" || n.Nodes[0].Text != `</Say><Dial>+1</Dial><Say>` {
		t.Errorf("escaping: %s", b)
	}
}
