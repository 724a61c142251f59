package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/switchboard-cc/switchboard/"

// allowed lists, per package (prefix match on the package path below the
// module), which of our packages it may import. internal/ plumbing may be
// imported by anyone but imports none of the domain.
var allowed = map[string][]string{
	"org":              {},
	"migrations":       {},
	"crm":              {"org"},
	"crm/webhook":      {}, // crm's delivery side: reads the outbox, POSTs
	"routing":          {"org"},
	"routing/lease":    {},
	"routing/dispatch": {"org", "routing", "routing/lease", "stats"},
	"stats":            {"org"},
	"stats/report":     {"org", "stats"}, // report tables; reads contact_events as crm.EventsSince does
	"channels":         {"crm", "org", "routing"},
	"channels/chat":    {"channels", "crm", "org"},
	"channels/email":   {"channels", "crm", "org"},
	"channels/phone":   {"channels", "crm", "org"},
	// The phone connectors speak their telephony's protocol and map it onto
	// the channel's call events; the hotline (channels/phone) decides.
	"channels/phone/ami":            {"channels/phone"},
	"channels/phone/ami/amitest":    {},
	"channels/phone/cti":            {"channels/phone"},
	"channels/phone/twilio":         {"channels/phone"},
	"agentdesk":                     {"agentdesk/web", "channels", "crm", "org", "routing", "routing/dispatch", "stats", "stats/report"},
	"agentdesk/web":                 {},
	"cmd/switchboard":               nil, // everything
	"cmd/switchboard/internal/demo": {"crm", "org"},
}

type pkg struct {
	ImportPath string
	Imports    []string
}

func TestImportGraphFollowsArchitecture(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-json", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		name := strings.TrimPrefix(p.ImportPath, module)
		internal := strings.HasPrefix(name, "internal/")
		rules, known := allowed[name]
		if !known && !internal {
			t.Errorf("package %s has no entry in the architecture table; add one", name)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			switch {
			case internal && !strings.HasPrefix(dep, "internal/") && dep != "migrations":
				t.Errorf("%s is plumbing but imports the domain package %s", name, dep)
			case internal, strings.HasPrefix(dep, "internal/"):
			case name == "cmd/switchboard":
			default:
				ok := false
				for _, a := range rules {
					ok = ok || a == dep
				}
				if !ok {
					t.Errorf("%s imports %s; ARCHITECTURE.md allows only %v", name, dep, rules)
				}
			}
		}
	}
	if seen < 8 {
		t.Fatalf("go list saw only %d packages; the test is not looking at the module", seen)
	}
}
