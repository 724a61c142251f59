package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/switchboard-cc/switchboard/cmd/switchboard/internal/demo"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

type demoInfo = demo.Info

// loadDemo loads the demo group and its phone demo. SWITCHBOARD_DEMO_PBX_URL
// moves the demo connector's callback URL (where `switchboard simulate`
// listens) from demo.DefaultPBXURL. The phone demo needs the secret that
// seals its connector's key (orgs has a sealer only with one).
func loadDemo(ctx context.Context, orgs *org.Store, people *crm.Store, cfg Config, getenv func(string) string, progress io.Writer) (demoInfo, error) {
	return demo.LoadWith(ctx, orgs, people, demo.Options{PublicURL: cfg.PublicURL, PBXURL: getenv("SWITCHBOARD_DEMO_PBX_URL"),
		NoPhone: len(cfg.Secret) < 16}, progress)
}

// printDemo tells a person where to start.
func printDemo(w io.Writer, publicURL string, info demoInfo) {
	u := strings.TrimRight(publicURL, "/")
	fmt.Fprintf(w, `
  Switchboard is running with the demo dealer group %q.

  Agent console      %s/console
  Wallboard          %s/wallboard
  Demo dealer page   %s/demo   (the chat widget is at the bottom right)

  Logins (password %q):
`, demo.TenantName, u, u, u, demo.Password)
	for _, l := range info.Logins {
		ext := ""
		if l.Extension != "" {
			ext = "ext. " + l.Extension
		}
		fmt.Fprintf(w, "    %-28s %-11s %-9s %s\n", l.Email, l.Role, ext, l.Name)
	}
	fmt.Fprintf(w, `
  Try it: log in as %s, set yourself Available, then open the demo page in
  another window and chat as %s: the console recognises the customer
  and shows their cars, the open service order and their history.

`, info.Logins[0].Email, info.KnownCustomer)
	printPhoneDemo(w, u, info)
}

// printPhoneDemo tells how to make the hotline ring. The connector's
// secret is printed here, on stdout, because this is a demo's and the
// simulator or a curl script needs it; it never goes into the logs.
func printPhoneDemo(w io.Writer, publicURL string, info demoInfo) {
	if info.Phone == nil {
		if info.PhoneNote != "" {
			fmt.Fprintf(w, "  Phone demo: off (%s).\n\n", info.PhoneNote)
		}
		return
	}
	p := info.Phone
	listen := ""
	if p.CallbackURL != demo.DefaultPBXURL {
		if u, err := url.Parse(p.CallbackURL); err == nil {
			listen = " --listen " + u.Host
		}
	}
	fmt.Fprintf(w, `  Phone demo: the hotline %s (menu: 1 enquiries, 2 sales, 3 service) is on
  the generic CTI connector %q in control mode:
    connector  %s
    secret     %s
    PBX        %s   (where Switchboard sends connect commands)
  Make it ring with simulated callers and bot agents (or: make run SIMULATE=1):
    switchboard simulate --url %s --connector %s --secret %s%s --agents 3

`, p.Number, demo.PhoneConnectorName, p.ConnectorID, p.Secret, p.CallbackURL, publicURL, p.ConnectorID, p.Secret, listen)
}
