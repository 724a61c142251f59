package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/org"
)

// agentUpload posts data as the agent's file for contact, with client id cid.
func agentUpload(t *testing.T, c *http.Client, base, csrf, contact, name, cid string, data []byte) (int, string) {
	t.Helper()
	u := base + "/api/contacts/" + contact + "/chat/attachments?name=" + url.QueryEscape(name) + "&client_id=" + url.QueryEscape(cid)
	req, _ := http.NewRequest("POST", u, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Origin", base)
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAgentSendsAttachment: the agent holding a chat sends an image; it is
// checked as a visitor's (type by content, the site's size limit), stored,
// and arrives in the visitor's socket as a line with the attachment, which
// that visitor's token (and the tenant's agents) can fetch and no other
// visitor's. A colleague who does not hold the chat, and another tenant's
// agent, cannot send to it; sending the same client id again sends once.
func TestAgentSendsAttachment(t *testing.T) {
	f := newChatFixture(t, nil)
	agent := f.a.availableAgent(t, "lina@huadong.example")
	linaHTTP, linaCSRF := f.a.login(t, "lina@huadong.example")
	v, _ := f.hello(t, map[string]any{"name": "Receiver", "email": "receiver@example.com"})
	token, contact := chatting(t, f.a, agent, v)

	if code, body := agentUpload(t, linaHTTP, f.a.url, linaCSRF, contact, "evil.png", "e1", []byte("<html><script>alert(1)</script></html>")); code != http.StatusUnsupportedMediaType {
		t.Errorf("HTML named .png: %d %s, want 415", code, body)
	}
	if code, body := agentUpload(t, linaHTTP, f.a.url, linaCSRF, contact, "a.png", "", tinyPNG); code != http.StatusBadRequest {
		t.Errorf("no client_id: %d %s, want 400", code, body)
	}
	code, body := agentUpload(t, linaHTTP, f.a.url, linaCSRF, contact, `../brochure "A".png`, "f1", tinyPNG)
	var line struct {
		Seq        int
		AuthorKind string `json:"author_kind"`
		Body       string
		Attachment struct{ ID, Name, ContentType string }
	}
	if json.Unmarshal([]byte(body), &line); code != http.StatusCreated || line.AuthorKind != "agent" || line.Attachment.ID == "" || line.Body != "brochure A.png" {
		t.Fatalf("agent's PNG: %d %s, want 201 with the agent's line carrying the file", code, body)
	}
	got := v.expect("message", func(m map[string]any) bool { return m["author_kind"] == "agent" })
	if path(got, "attachment", "id") != line.Attachment.ID || path(got, "attachment", "content_type") != "image/png" || got["seq"] != float64(line.Seq) {
		t.Errorf("visitor's frame = %v, want the line with attachment %s", got, line.Attachment.ID)
	}
	// The same upload sent again (a retry): the same line, no second one.
	if code, again := agentUpload(t, linaHTTP, f.a.url, linaCSRF, contact, "brochure.png", "f1", tinyPNG); code != http.StatusCreated || !strings.Contains(again, `"seq":`+strconv.Itoa(line.Seq)) {
		t.Errorf("resent upload: %d %s, want 201 with seq %d", code, again, line.Seq)
	}
	if n := countRows(t, f.pool, `SELECT count(*) FROM messages WHERE contact_id = $1 AND author_kind = 'agent'`, contact); n != 1 {
		t.Errorf("agent lines = %d, want 1", n)
	}

	resp, data := get(t, http.DefaultClient, f.a.url+"/chat/attachments/"+line.Attachment.ID+"?site=demo-pudong&token="+token)
	if resp.StatusCode != 200 || data != string(tinyPNG) || resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("visitor reads the agent's PNG: %d %v", resp.StatusCode, resp.Header)
	}
	other, _ := f.hello(t, map[string]any{"name": "Other", "email": "other@example.com"})
	other.send(map[string]any{"type": "message", "client_id": "o1", "body": "me too"})
	otherToken := other.expect("welcome", func(m map[string]any) bool { return m["contact_id"] != "" })["token"].(string)
	if resp, _ := get(t, http.DefaultClient, f.a.url+"/chat/attachments/"+line.Attachment.ID+"?site=demo-pudong&token="+otherToken); resp.StatusCode != 404 {
		t.Errorf("another visitor's token: %d, want 404", resp.StatusCode)
	}
	emma, emmaCSRF := f.a.login(t, "emma@huadong.example")
	if resp, _ := get(t, emma, f.a.url+"/api/contacts/"+contact+"/attachments/"+line.Attachment.ID); resp.StatusCode != 200 {
		t.Errorf("a colleague reads the agent's PNG: %d, want 200", resp.StatusCode)
	}
	if code, body := agentUpload(t, emma, f.a.url, emmaCSRF, contact, "a.png", "x1", tinyPNG); code != http.StatusConflict {
		t.Errorf("a colleague who does not hold the chat: %d %s, want 409", code, body)
	}
	them, themCSRF := otherTenantUser(t, f.a, "agent@elsewhere.example", org.RoleAgent)
	if code, body := agentUpload(t, them, f.a.url, themCSRF, contact, "a.png", "x2", tinyPNG); code != http.StatusConflict {
		t.Errorf("another tenant's agent: %d %s, want 409", code, body)
	}
	if resp, _ := get(t, them, f.a.url+"/api/contacts/"+contact+"/attachments/"+line.Attachment.ID); resp.StatusCode != 404 {
		t.Errorf("another tenant's agent reads it: %d, want 404", resp.StatusCode)
	}

	// The site's limits hold for agents too.
	f.settings(t, strings.Replace(defaultChatSettings, "5242880", "100", 1))
	if code, body := agentUpload(t, linaHTTP, f.a.url, linaCSRF, contact, "big.pdf", "b1", append(tinyPDF, bytes.Repeat([]byte(" "), 200)...)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("201-byte PDF over a 100-byte limit: %d %s, want 413", code, body)
	}
	f.settings(t, strings.Replace(defaultChatSettings, `"attachments":true`, `"attachments":false`, 1))
	if code, body := agentUpload(t, linaHTTP, f.a.url, linaCSRF, contact, "a.png", "b2", tinyPNG); code != http.StatusForbidden {
		t.Errorf("a site that takes no files: %d %s, want 403", code, body)
	}
	if n := countRows(t, f.pool, `SELECT count(*) FROM messages WHERE contact_id = $1 AND author_kind = 'agent'`, contact); n != 1 {
		t.Errorf("agent lines after the refusals = %d, want 1", n)
	}
}
