package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/switchboard-cc/switchboard/cmd/switchboard/internal/demo"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

type demoInfo = demo.Info

func loadDemo(ctx context.Context, orgs *org.Store, people *crm.Store, publicURL string, progress io.Writer) (demoInfo, error) {
	return demo.Load(ctx, orgs, people, publicURL, progress)
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
		fmt.Fprintf(w, "    %-28s %-11s %s\n", l.Email, l.Role, l.Name)
	}
	fmt.Fprintf(w, `
  Try it: log in as %s, set yourself Available, then open the demo page in
  another window and chat as %s: the console recognises the customer
  and shows their cars, the open service order and their history.

`, info.Logins[0].Email, info.KnownCustomer)
}
