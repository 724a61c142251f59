package twilio

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// twilioAPI stands in for Twilio's REST API: it keeps each request and
// answers with the status and body a test sets.
type twilioAPI struct {
	mu     sync.Mutex
	reqs   []apiRequest
	status int
	body   string
}

type apiRequest struct {
	method, path, user, pass, token, ctype string
	form                                   url.Values
}

func (a *twilioAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(b))
	user, pass, _ := r.BasicAuth()
	a.mu.Lock()
	a.reqs = append(a.reqs, apiRequest{r.Method, r.URL.EscapedPath(), user, pass, r.Header.Get(IdempotencyHeader), r.Header.Get("Content-Type"), form})
	status, body := a.status, a.body
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func newAPI(t *testing.T) (*twilioAPI, phone.Connector, *REST) {
	t.Helper()
	api := &twilioAPI{status: http.StatusOK, body: `{"sid":"CA0001","status":"in-progress"}`}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c := phone.Connector{ID: testConnID, Kind: phone.KindTwilio, Secret: testToken, AccountSID: "ACtest", APIBase: srv.URL}
	return api, c, NewREST(Config{PublicURL: "https://cc.example.com"}, srv.Client())
}

var testCall = phone.Call{ContactID: uuid.MustParse("0190d3a4-7b5e-7c1a-9f00-000000000011"), CallID: "CA0001", From: "+8613800138000", To: "+862112345678"}

func TestRESTConnect(t *testing.T) {
	api, c, rc := newAPI(t)
	agent := phone.Agent{AgentID: uuid.New(), Extension: "agent_li", Dial: "client"}
	if err := rc.Connect(context.Background(), c, testCall, agent, "offer-42"); err != nil {
		t.Fatal(err)
	}
	if len(api.reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(api.reqs))
	}
	r := api.reqs[0]
	want := apiRequest{method: "POST", path: "/2010-04-01/Accounts/ACtest/Calls/CA0001.json", user: "ACtest", pass: testToken,
		token: "offer-42", ctype: "application/x-www-form-urlencoded"}
	got := r
	got.form = nil
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(apiRequest{})); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
	if len(r.form) != 1 || r.form.Get("Twiml") == "" {
		t.Fatalf("form %v, want only Twiml", r.form)
	}
	var n node
	if err := xml.Unmarshal([]byte(r.form.Get("Twiml")), &n); err != nil {
		t.Fatalf("Twiml does not parse: %v", err)
	}
	cb := testBase + "/status?leg=agent&ext=agent_li"
	if n.XMLName.Local != "Response" || len(n.Nodes) != 1 || n.Nodes[0].XMLName.Local != "Dial" {
		t.Fatalf("Twiml = %s", r.form.Get("Twiml"))
	}
	d := n.Nodes[0]
	if d.attr("action") != cb || d.attr("timeout") != "20" || len(d.Nodes) != 1 {
		t.Errorf("Dial = %s", r.form.Get("Twiml"))
	}
	if cl := d.Nodes[0]; cl.XMLName.Local != "Client" || cl.Text != "agent_li" || cl.attr("statusCallback") != cb {
		t.Errorf("Client = %s", r.form.Get("Twiml"))
	}

	// An agent on a mobile number.
	agent = phone.Agent{AgentID: uuid.New(), Extension: "208", Dial: "number", Number: "+8613911112222"}
	if err := rc.Connect(context.Background(), c, testCall, agent, "offer-43"); err != nil {
		t.Fatal(err)
	}
	if tw := api.reqs[1].form.Get("Twiml"); !strings.Contains(tw, "<Number ") || !strings.Contains(tw, ">+8613911112222</Number>") {
		t.Errorf("Twiml = %s", tw)
	}
}

func TestRESTCancel(t *testing.T) {
	api, c, rc := newAPI(t)
	if err := rc.Cancel(context.Background(), c, testCall, phone.Agent{Extension: "agent_li"}, "cancel-42"); err != nil {
		t.Fatal(err)
	}
	r := api.reqs[0]
	if r.path != "/2010-04-01/Accounts/ACtest/Calls/CA0001.json" || r.token != "cancel-42" || r.pass != testToken {
		t.Errorf("request %+v", r)
	}
	want := url.Values{"Url": {testBase + "/queue"}, "Method": {"POST"}}
	if diff := cmp.Diff(want, r.form); diff != "" {
		t.Errorf("form (-want +got):\n%s", diff)
	}
}

func TestRESTErrors(t *testing.T) {
	api, c, rc := newAPI(t)
	api.status = http.StatusBadRequest
	api.body = `{"code": 21220, "message": "Call is not in-progress. Cannot redirect.", "more_info": "https://www.twilio.com/docs/errors/21220", "status": 400}`
	err := rc.Connect(context.Background(), c, testCall, phone.Agent{Extension: "a"}, "k")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != 21220 || ae.Message != "Call is not in-progress. Cannot redirect." {
		t.Fatalf("Connect error = %v, want APIError 400/21220", err)
	}
	if !strings.Contains(err.Error(), "error 21220: Call is not in-progress") || strings.Contains(err.Error(), testToken) {
		t.Errorf("error text %q", err)
	}

	// Not JSON (a proxy's page): the status alone.
	api.status, api.body = http.StatusBadGateway, "<html>bad gateway</html>"
	err = rc.Cancel(context.Background(), c, testCall, phone.Agent{}, "k")
	if !errors.As(err, &ae) || ae.Status != 502 || ae.Code != 0 {
		t.Errorf("Cancel error = %v, want APIError 502", err)
	}

	// Nothing to call with, or nothing to call.
	for _, tc := range []struct {
		c    phone.Connector
		call phone.Call
	}{
		{phone.Connector{ID: testConnID, AccountSID: "ACtest"}, testCall},
		{phone.Connector{ID: testConnID, Secret: testToken}, testCall},
		{c, phone.Call{}},
	} {
		if err := rc.Cancel(context.Background(), tc.c, tc.call, phone.Agent{}, "k"); err == nil || strings.Contains(err.Error(), testToken) {
			t.Errorf("Cancel(%+v) = %v, want an error without the token", tc.call, err)
		}
	}
	// An agent that cannot be dialled is refused before any request.
	n := len(api.reqs)
	if err := rc.Connect(context.Background(), c, testCall, phone.Agent{Dial: "number"}, "k"); err == nil {
		t.Error("Connect to an agent without a number: no error")
	}
	if len(api.reqs) != n {
		t.Error("Connect sent a request for an agent it cannot dial")
	}

	// A CallSid is one path segment, whatever it holds.
	api.status, api.body = http.StatusOK, "{}"
	if err := rc.Cancel(context.Background(), c, phone.Call{CallID: "../../Messages"}, phone.Agent{}, "k"); err != nil {
		t.Fatal(err)
	}
	if got := api.reqs[len(api.reqs)-1].path; got != "/2010-04-01/Accounts/ACtest/Calls/..%2F..%2FMessages.json" {
		t.Errorf("path %q", got)
	}
}

// The connector's APIBase wins; without one, the configured default.
func TestRESTAPIBase(t *testing.T) {
	api, c, _ := newAPI(t)
	base := c.APIBase
	c.APIBase = ""
	rc := NewREST(Config{PublicURL: "https://cc.example.com", APIBase: base + "/"}, nil)
	if err := rc.Cancel(context.Background(), c, testCall, phone.Agent{}, "k"); err != nil {
		t.Fatal(err)
	}
	if len(api.reqs) != 1 {
		t.Errorf("the configured APIBase was not used")
	}
	if NewREST(Config{}, nil).cfg.APIBase != "https://api.twilio.com" {
		t.Error("default APIBase")
	}
}

var _ phone.Controller = (*REST)(nil)
