package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// TestBadInputGetsClearAnswers sends what a careless or hostile client
// would and checks each gets a clear refusal and nothing breaks.
func TestBadInputGetsClearAnswers(t *testing.T) {
	a := startApp(t, nil)

	// tryLogin posts the login form from origin and returns the status.
	tryLogin := func(t *testing.T, password, origin string) int {
		t.Helper()
		form := url.Values{"email": {"lina@huadong.example"}, "password": {password}}
		req, _ := http.NewRequest("POST", a.url+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		if origin != a.url {
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	t.Run("wrong password", func(t *testing.T) {
		if code := tryLogin(t, "nope", a.url); code != http.StatusUnauthorized {
			t.Errorf("wrong password: status %d, want 401", code)
		}
	})

	t.Run("login from a foreign origin", func(t *testing.T) {
		if code := tryLogin(t, "switchboard-demo", "https://evil.example"); code != http.StatusForbidden {
			t.Errorf("cross-site login: status %d, want 403", code)
		}
	})

	c, csrf := a.login(t, "lina@huadong.example")

	t.Run("logout without the CSRF token", func(t *testing.T) {
		req, _ := http.NewRequest("POST", a.url+"/logout", nil)
		req.Header.Set("Origin", a.url)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("logout without CSRF: status %d, want 403", resp.StatusCode)
		}
		if csrf == "" {
			t.Error("page had an empty CSRF token")
		}
	})

	t.Run("console socket from a foreign origin", func(t *testing.T) {
		_, resp, err := a.dial(t, "/ws/agent", c.Jar, "https://evil.example")
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("foreign-origin console socket: err %v, want a 403 refusal", err)
		}
	})

	t.Run("console socket without a session", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		_, resp, err := a.dial(t, "/ws/agent", jar, a.url)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("anonymous console socket: err %v, want a 401 refusal", err)
		}
	})

	t.Run("chat socket from an origin the site does not allow", func(t *testing.T) {
		_, resp, err := a.dial(t, "/chat/ws?site=demo-pudong", nil, "https://evil.example")
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("foreign-origin chat socket: err %v, want 403", err)
		}
	})

	t.Run("console frames", func(t *testing.T) {
		ws, _, err := a.dial(t, "/ws/agent", c.Jar, a.url)
		if err != nil {
			t.Fatal(err)
		}
		ws.expect("snapshot", nil)
		cases := []struct {
			name  string
			frame string
			code  string
		}{
			{"not JSON", `{"type":`, "bad_frame"},
			{"unknown field", `{"type":"presence","id":"1","state":"available","colour":"red"}`, "bad_frame"},
			{"unknown type", `{"type":"teleport","id":"2"}`, "unknown_type"},
			{"bad presence", `{"type":"presence","id":"3","state":"sleeping"}`, "invalid"},
			{"empty message", `{"type":"send","id":"4","contact_id":"` + uuid.NewString() + `","client_id":"c","body":"   "}`, "invalid"},
			{"contact not held", `{"type":"send","id":"5","contact_id":"` + uuid.NewString() + `","client_id":"c","body":"hi"}`, "not_held"},
			{"close not held", `{"type":"close","id":"6","contact_id":"` + uuid.NewString() + `","wrap_up":""}`, "not_held"},
			{"malformed id", `{"type":"accept","id":"7","offer_id":"not-a-uuid"}`, "invalid"},
			{"oversized", `{"type":"send","id":"8","body":"` + strings.Repeat("x", 70<<10) + `"}`, "too_large"},
		}
		for _, tc := range cases {
			if err := ws.conn.WriteMessage(1, []byte(tc.frame)); err != nil {
				t.Fatalf("%s: write: %v", tc.name, err)
			}
			f := ws.expect("error", nil)
			if f["code"] != tc.code {
				t.Errorf("%s: error code %v, want %s (message %v)", tc.name, f["code"], tc.code, f["message"])
			}
		}
		// The socket survived all of it.
		ws.send(map[string]any{"type": "presence", "id": "ok", "state": "away", "reason": "lunch"})
		ws.expect("ack", func(f map[string]any) bool { return f["ref"] == "ok" })
	})

	t.Run("another tenant's customer", func(t *testing.T) {
		other := otherTenantCustomer(t, a.dsn)
		resp, err := c.Get(a.url + "/api/customers/" + other.String() + "/timeline")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("other tenant's customer timeline: status %d, want 404", resp.StatusCode)
		}
		resp, err = c.Get(a.url + "/api/customers/not-a-uuid/timeline")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("malformed customer id: status %d, want 400", resp.StatusCode)
		}
	})

	t.Run("visitor frames", func(t *testing.T) {
		v, _, err := a.dial(t, "/chat/ws?site=demo-pudong", nil, a.url)
		if err != nil {
			t.Fatal(err)
		}
		v.send(map[string]any{"type": "message", "client_id": "early", "body": "no hello yet"})
		if f := v.expect("error", nil); f["code"] != "invalid" {
			t.Errorf("message before hello: %v, want invalid", f)
		}
		v.send(map[string]any{"type": "hello", "name": "Flood", "email": "not an address"})
		if f := v.expect("error", nil); f["code"] != "invalid" {
			t.Errorf("hello with a broken e-mail: %v, want invalid", f)
		}
		v.send(map[string]any{"type": "hello", "name": "Flood", "email": "flood@example.com", "token": "v1.forged.sig"})
		if f := v.expect("welcome", nil); f["contact_id"] != "" {
			t.Errorf("a forged token resumed contact %v", f["contact_id"])
		}
		for _, bad := range []map[string]any{
			{"type": "message", "client_id": "e", "body": "   "},
			{"type": "message", "client_id": "", "body": "hi"},
			{"type": "message", "client_id": "x", "body": strings.Repeat("长", 4001)},
		} {
			v.send(bad)
			if f := v.expect("error", nil); f["code"] != "invalid" {
				t.Errorf("message %.40v: %v, want invalid", bad, f)
			}
		}
		limited := 0
		for i := range 30 {
			v.send(map[string]any{"type": "message", "client_id": fmt.Sprint("f", i), "body": "flood"})
		}
		// A client that keeps flooding after ten refusals is disconnected.
		timeout := time.After(10 * time.Second)
	read:
		for {
			select {
			case f, ok := <-v.in:
				if !ok {
					break read
				}
				if f["code"] == "rate_limited" {
					limited++
				}
			case <-timeout:
				break read
			}
		}
		if limited == 0 {
			t.Error("30 messages at once were all accepted; want the visitor rate limit (5 a second, bursts of 10)")
		}
	})

	t.Run("password guessing is rate limited", func(t *testing.T) {
		codes := map[int]int{}
		for range 12 {
			codes[tryLogin(t, "guess", a.url)]++
		}
		// Two logins earlier in this test used the same address's budget of 10.
		if codes[http.StatusTooManyRequests] == 0 || codes[http.StatusUnauthorized] > 8 {
			t.Errorf("12 wrong passwords in a row answered %v, want 429 once the budget of 10 a minute is spent", codes)
		}
	})

	t.Run("wallboard needs a supervisor", func(t *testing.T) {
		resp, err := c.Get(a.url + "/ws/wallboard")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("agent opening the wallboard socket: status %d, want 403", resp.StatusCode)
		}
	})
}

func otherTenantCustomer(t *testing.T, dsn string) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tn, err := org.NewStore(pool).CreateTenant(ctx, "Other Group", "Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	id, err := crm.NewStore(pool).CreateCustomer(ctx, tn.ID, crm.NewCustomer{Kind: "person", Name: "Someone Else",
		Identities: []crm.Identity{{Kind: "email", Value: "someone@other.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}
