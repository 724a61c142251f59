package main

import (
	"io"
	"strings"
	"testing"
)

// TestConsolePageForUsersWhoTakeNoContacts: a supervisor without an agent
// profile gets the console for search and records, told so, and the page
// opens no console socket (which would refuse them over and over); an agent
// gets the socket as ever.
func TestConsolePageForUsersWhoTakeNoContacts(t *testing.T) {
	a := startApp(t, nil)
	for _, c := range []struct {
		email    string
		notAgent bool
	}{{"supervisor@huadong.example", true}, {"lina@huadong.example", false}} {
		web, _ := a.login(t, c.email)
		resp, err := web.Get(a.url + "/console")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: GET /console: %d", c.email, resp.StatusCode)
		}
		got := strings.Contains(string(body), `data-not-agent="true"`) && strings.Contains(string(body), `data-testid="not-agent"`)
		if got != c.notAgent {
			t.Errorf("%s: page marked not-agent = %v, want %v", c.email, got, c.notAgent)
		}
	}
}
