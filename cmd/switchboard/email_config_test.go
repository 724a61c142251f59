package main

import (
	"strings"
	"testing"
)

// TestEmailCommitBatchConfig: SWITCHBOARD_EMAIL_COMMIT_BATCH sets how many
// messages commit per transaction (default 50); nonsense is refused with
// the variable's name, never silently replaced.
func TestEmailCommitBatchConfig(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://x", "SWITCHBOARD_SECRET": "s"}
	load := func(v string) (Config, error) {
		return loadConfig(func(k string) string {
			if k == "SWITCHBOARD_EMAIL_COMMIT_BATCH" {
				return v
			}
			return base[k]
		})
	}
	for v, want := range map[string]int{"": 50, "1": 1, "200": 200, "1000": 1000} {
		c, err := load(v)
		if err != nil || c.EmailCommit != want {
			t.Errorf("SWITCHBOARD_EMAIL_COMMIT_BATCH=%q: EmailCommit = %d, %v; want %d", v, c.EmailCommit, err, want)
		}
	}
	for _, v := range []string{"0", "-5", "1001", "fifty", "5.5"} {
		// Out of range names the variable; unparsable, its field (the env
		// library's message, as for every variable).
		if _, err := load(v); err == nil || !strings.Contains(err.Error(), "SWITCHBOARD_EMAIL_COMMIT_BATCH") && !strings.Contains(err.Error(), "EmailCommit") {
			t.Errorf("SWITCHBOARD_EMAIL_COMMIT_BATCH=%q: err = %v, want a refusal naming the setting", v, err)
		}
	}
}
