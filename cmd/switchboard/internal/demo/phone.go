package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// The demo's telephony: a generic CTI connector in control mode whose PBX
// is `switchboard simulate`, one hotline number for the Pudong site with a
// menu, and an extension for every demo agent.
const (
	// PhoneConnectorName names the demo's connector; FindPhone looks for it.
	PhoneConnectorName = "Demo PBX (simulated)"
	// HotlineNumber is the demo hotline (Pudong). Calls to any other number
	// on the connector reach the catch-all "*", which routes the same way.
	HotlineNumber = "+862160001000"
	// DefaultPBXURL is the callback URL the connector posts its commands
	// to: where `switchboard simulate` listens unless told otherwise.
	DefaultPBXURL = "http://127.0.0.1:8089/pbx"
	// firstExtension is the first agent's extension; the others follow.
	firstExtension = 8001
)

// menu is the hotline's menu: digit, department, queue name.
var menu = []struct{ digit, department, queue string }{
	{"1", "enquiries", "Enquiries"},
	{"2", "sales", "Sales"},
	{"3", "service", "Service"},
}

// CallerNumbers are demo customers' phones, so a simulated call from one of
// them pops a customer with cars, orders and history: Wang Wei (an open
// service order: the hotline skips the menu and sends him to Service) and
// eight of the generated customers.
func CallerNumbers() []string {
	out := []string{"+8613800138000"}
	for i := 1; i <= knownCallers; i++ {
		out = append(out, knownCallerPhone(i))
	}
	return out
}

// knownCallers is how many generated customers get a fixed phone.
const knownCallers = 8

func knownCallerPhone(i int) string { return fmt.Sprintf("+86139000000%02d", i) }

// Phone is the demo's telephony as `switchboard simulate` (or a curl
// script) needs it.
type Phone struct {
	ConnectorID uuid.UUID
	// Secret is the connector's HMAC key. It is a demo's: serve --demo
	// prints it on the banner (stdout) so people can point the simulator
	// and curl at the connector. It never goes into the logs.
	Secret      string `json:"-"`
	CallbackURL string
	Number      string
}

// Options tunes Load.
type Options struct {
	// PublicURL is the origin the chat widget may be embedded on.
	PublicURL string
	// PBXURL is the demo connector's callback URL; "" is DefaultPBXURL.
	// A connector's URL is set when it is made: another URL gets a
	// connector of its own (the old one stays, unused).
	PBXURL string
	// NoPhone skips the phone demo: the org store has no sealer to keep
	// the connector's secret with (SWITCHBOARD_SECRET is not set).
	NoPhone bool
}

// newSecret returns a random HMAC key for the demo connector.
func newSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ensurePhone finds the demo connector for the callback URL, or makes it
// with its number, menu and extensions. It is idempotent: serve --demo
// calls it on every start, so a demo loaded before the phone channel
// existed gets one too.
func ensurePhone(ctx context.Context, orgs *org.Store, tenant uuid.UUID, callback string, w io.Writer) (Phone, error) {
	p, err := findPhone(ctx, orgs, tenant, callback, true)
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, errSealedElsewhere):
		fmt.Fprintln(w, "demo: the demo PBX's secret was sealed under another SWITCHBOARD_SECRET; making a new connector")
	case !errors.Is(err, org.ErrNotFound):
		return Phone{}, err
	}
	// The admin makes the connector (the audit log names them).
	admin, err := orgs.Authenticate(ctx, adminEmail, Password)
	if err != nil {
		return Phone{}, fmt.Errorf("demo phone: the demo admin: %w", err)
	}
	sites, err := orgs.Sites(ctx, tenant)
	if err != nil {
		return Phone{}, err
	}
	var pudong uuid.UUID
	for _, s := range sites {
		if s.ChatKey == SiteKey {
			pudong = s.ID
		}
	}
	qs, err := orgs.Queues(ctx, tenant)
	if err != nil {
		return Phone{}, err
	}
	queues := map[string]uuid.UUID{}
	for _, q := range qs {
		queues[q.Name] = q.ID
	}
	var opts []org.PhoneMenuOption
	for _, m := range menu {
		if queues[m.queue] == uuid.Nil {
			return Phone{}, fmt.Errorf("demo phone: no %s queue", m.queue)
		}
		opts = append(opts, org.PhoneMenuOption{Digit: m.digit, Department: m.department, QueueID: queues[m.queue]})
	}
	secret := newSecret()
	pc, _, err := orgs.CreatePhoneConnector(ctx, tenant, admin.ID, org.PhoneConnectorSettings{
		Name: PhoneConnectorName, Kind: "generic", Mode: "control", Secret: secret, CallbackURL: callback})
	if err != nil {
		return Phone{}, err
	}
	for _, number := range []string{HotlineNumber, "*"} {
		if _, err := orgs.SetPhoneNumber(ctx, tenant, admin.ID, org.PhoneNumber{ConnectorID: pc.ID, Number: number,
			SiteID: pudong, QueueID: queues["Enquiries"], Language: "zh-CN", Menu: opts}); err != nil {
			return Phone{}, err
		}
	}
	agents, err := orgs.Agents(ctx, tenant)
	if err != nil {
		return Phone{}, err
	}
	byName := map[string]uuid.UUID{}
	for _, a := range agents {
		byName[a.Name] = a.ID
	}
	for _, l := range Logins() {
		if l.Extension == "" || byName[l.Name] == uuid.Nil {
			continue
		}
		if err := orgs.SetAgentPhone(ctx, tenant, admin.ID, org.AgentPhone{AgentID: byName[l.Name], ConnectorID: pc.ID,
			Extension: l.Extension}); err != nil {
			return Phone{}, err
		}
	}
	fmt.Fprintf(w, "demo: phone hotline %s on %q (extensions %d–%d)\n", HotlineNumber, PhoneConnectorName,
		firstExtension, firstExtension+agentCount()-1)
	return Phone{ConnectorID: pc.ID, Secret: secret, CallbackURL: callback, Number: HotlineNumber}, nil
}

// errSealedElsewhere: the connector exists but its secret does not open
// with this store's sealer.
var errSealedElsewhere = errors.New("demo phone: the connector's secret does not open here")

// FindPhone returns the demo's connector (and its secret) for callback
// (the PBX URL; "" finds the newest demo connector whatever its URL).
// `switchboard simulate` uses it to find its connector in the demo's
// database. org.ErrNotFound when the demo has none.
func FindPhone(ctx context.Context, orgs *org.Store, callback string) (Phone, error) {
	t, err := orgs.TenantByName(ctx, TenantName)
	if err != nil {
		return Phone{}, err
	}
	return findPhone(ctx, orgs, t.ID, callback, false)
}

// findPhone looks for the demo connector. exact: only one whose callback
// URL is callback and whose number is set up counts.
func findPhone(ctx context.Context, orgs *org.Store, tenant uuid.UUID, callback string, exact bool) (Phone, error) {
	list, err := orgs.PhoneConnectors(ctx, tenant)
	if err != nil {
		return Phone{}, err
	}
	var candidates []org.PhoneConnector
	// Newest first, the exact URL before the others.
	for i := len(list) - 1; i >= 0; i-- {
		c := list[i]
		if c.Name != PhoneConnectorName || c.Kind != "generic" || c.Mode != "control" || !c.Active {
			continue
		}
		if c.CallbackURL == callback {
			candidates = append([]org.PhoneConnector{c}, candidates...)
		} else if !exact || callback == "" {
			candidates = append(candidates, c)
		}
	}
	if len(candidates) == 0 {
		return Phone{}, org.ErrNotFound
	}
	c := candidates[0]
	if exact {
		// A connector made by a run that stopped half-way has no number.
		if _, err := orgs.PhoneNumberFor(ctx, tenant, c.ID, []string{HotlineNumber}); errors.Is(err, org.ErrNotFound) {
			return Phone{}, org.ErrNotFound
		} else if err != nil {
			return Phone{}, err
		}
	}
	open, err := orgs.PhoneConnector(ctx, c.ID)
	if err != nil {
		return Phone{}, errors.Join(errSealedElsewhere, err)
	}
	return Phone{ConnectorID: c.ID, Secret: open.Secret, CallbackURL: c.CallbackURL, Number: HotlineNumber}, nil
}
