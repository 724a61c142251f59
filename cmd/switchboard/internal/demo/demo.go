// Package demo loads a demo dealer group: two dealerships, three queues, a
// dozen agents with skills and a few hundred customers with phones,
// e-mails, vehicles, service orders and deals, Chinese and English alike.
// Everything is synthetic and generated from a fixed seed, so every machine
// gets the same data. The phone demo adds a generic CTI connector in control
// mode whose PBX is `switchboard simulate`, a hotline number with a menu and
// an extension per agent. It sits under cmd because it writes through org
// and crm, the only packages of ours it imports.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// TenantName identifies the demo group; Load does nothing when it exists.
const TenantName = "Huadong Auto Group 华东汽车集团"

// Password is every demo user's password.
const Password = "switchboard-demo"

// SiteKey is the demo chat widget's key, fixed so links stay stable.
const SiteKey = "demo-pudong"

// Login is one demo user. Agents have a phone extension on the demo PBX.
type Login struct{ Email, Name, Role, Extension string }

// Info tells what was loaded and how to use it.
type Info struct {
	TenantID       uuid.UUID
	SiteKey        string
	SiteName       string
	Logins         []Login
	KnownCustomer  string // an e-mail the chat recognises
	Customers      int
	AlreadyPresent bool
	// Phone is the demo's telephony; nil when skipped (PhoneNote says why).
	Phone     *Phone
	PhoneNote string
}

var agentSeeds = []struct {
	name, email string
	role        org.Role
	skills      map[string]int
}{
	{"李娜 Li Na", "lina@huadong.example", org.RoleAgent, map[string]int{"enquiries": 5, "service": 4}},
	{"王磊 Wang Lei", "wanglei@huadong.example", org.RoleAgent, map[string]int{"enquiries": 4, "sales": 5}},
	{"Emma Zhang", "emma@huadong.example", org.RoleAgent, map[string]int{"enquiries": 5, "sales": 3}},
	{"陈静 Chen Jing", "chenjing@huadong.example", org.RoleAgent, map[string]int{"enquiries": 3, "service": 5}},
	{"刘洋 Liu Yang", "liuyang@huadong.example", org.RoleAgent, map[string]int{"enquiries": 4, "sales": 4}},
	{"David Wu", "david@huadong.example", org.RoleAgent, map[string]int{"enquiries": 2, "service": 5}},
	{"赵敏 Zhao Min", "zhaomin@huadong.example", org.RoleAgent, map[string]int{"enquiries": 5}},
	{"孙浩 Sun Hao", "sunhao@huadong.example", org.RoleAgent, map[string]int{"enquiries": 3, "sales": 5}},
	{"Grace Lin", "grace@huadong.example", org.RoleAgent, map[string]int{"enquiries": 4, "service": 3}},
	{"周杰 Zhou Jie", "zhoujie@huadong.example", org.RoleAgent, map[string]int{"enquiries": 4, "service": 4}},
	{"吴婷 Wu Ting", "wuting@huadong.example", org.RoleAgent, map[string]int{"enquiries": 5, "sales": 2}},
	{"Michael Xu", "michael@huadong.example", org.RoleAgent, map[string]int{"enquiries": 3, "sales": 4}},
	{"黄芳 Huang Fang (supervisor)", "supervisor@huadong.example", org.RoleSupervisor, nil},
	{"Admin", adminEmail, org.RoleAdmin, nil},
}

const adminEmail = "admin@huadong.example"

// Logins lists the demo users; agents first, in a fixed order, with their
// extensions (8001, 8002, …).
func Logins() []Login {
	var out []Login
	ext := firstExtension
	for _, a := range agentSeeds {
		l := Login{Email: a.email, Name: a.name, Role: string(a.role)}
		if a.role == org.RoleAgent {
			l.Extension = fmt.Sprint(ext)
			ext++
		}
		out = append(out, l)
	}
	return out
}

func agentCount() int {
	n := 0
	for _, a := range agentSeeds {
		if a.role == org.RoleAgent {
			n++
		}
	}
	return n
}

// Load creates the demo group unless it exists, reporting progress to w,
// with the phone demo calling back DefaultPBXURL.
func Load(ctx context.Context, orgs *org.Store, people *crm.Store, publicURL string, w io.Writer) (Info, error) {
	return LoadWith(ctx, orgs, people, Options{PublicURL: publicURL}, w)
}

// LoadWith is Load with options. The phone demo is set up (or found) on
// every call, so a demo loaded before it had one gains it.
func LoadWith(ctx context.Context, orgs *org.Store, people *crm.Store, opts Options, w io.Writer) (Info, error) {
	info, err := load(ctx, orgs, people, opts.PublicURL, w)
	if err != nil {
		return Info{}, err
	}
	if opts.NoPhone {
		info.PhoneNote = "the phone demo needs SWITCHBOARD_SECRET (the connector's secret is sealed with it)"
		return info, nil
	}
	callback := opts.PBXURL
	if callback == "" {
		callback = DefaultPBXURL
	}
	p, err := ensurePhone(ctx, orgs, info.TenantID, callback, w)
	if err != nil {
		return Info{}, fmt.Errorf("demo phone: %w", err)
	}
	info.Phone = &p
	return info, nil
}

func load(ctx context.Context, orgs *org.Store, people *crm.Store, publicURL string, w io.Writer) (Info, error) {
	info := Info{SiteKey: SiteKey, KnownCustomer: "wang.wei@example.cn", Logins: Logins()}
	if t, err := orgs.TenantByName(ctx, TenantName); err == nil {
		info.TenantID, info.AlreadyPresent = t.ID, true
		sites, err := orgs.Sites(ctx, t.ID)
		if err != nil {
			return Info{}, err
		}
		for _, s := range sites {
			if s.ChatKey == SiteKey {
				info.SiteName = s.Name
				// The public URL may have changed since the last run.
				if err := orgs.SetSiteChat(ctx, t.ID, s.ID, s.ChatQueueID, []string{strings.TrimRight(publicURL, "/")}); err != nil {
					return Info{}, err
				}
			}
		}
		fmt.Fprintf(w, "demo: %s is already loaded\n", TenantName)
		return info, nil
	} else if !errors.Is(err, org.ErrNotFound) {
		return Info{}, err
	}

	fmt.Fprintf(w, "demo: loading %s\n", TenantName)
	t, err := orgs.CreateTenant(ctx, TenantName, "Asia/Shanghai")
	if err != nil {
		return Info{}, err
	}
	info.TenantID = t.ID
	pudong, err := orgs.CreateSite(ctx, org.Site{TenantID: t.ID, Name: "Huadong Pudong 浦东店", Zone: "Asia/Shanghai", AreaCode: "21", ChatKey: SiteKey})
	if err != nil {
		return Info{}, err
	}
	xihu, err := orgs.CreateSite(ctx, org.Site{TenantID: t.ID, Name: "Huadong Hangzhou 杭州西湖店", Zone: "Asia/Shanghai", AreaCode: "571"})
	if err != nil {
		return Info{}, err
	}
	info.SiteName = pudong.Name
	queues := map[string]org.Queue{}
	// Enquiries (where the demo page's chat goes) and Sales stay open
	// around the clock, so the demo works at any hour; Service keeps a
	// workshop's hours, to show a calendar: contacts moved there after
	// hours wait for the morning.
	for _, q := range []org.Queue{
		{Name: "Enquiries", Skills: map[string]int{"enquiries": 1}},
		{Name: "Sales", Skills: map[string]int{"sales": 1}},
		{Name: "Service", Skills: map[string]int{"service": 1}, Calendar: serviceHours(),
			ClosedAction:  org.ActionMessage,
			ClosedMessage: "Our service desk is open Monday to Saturday, 08:00–18:00. We will answer as soon as we open.",
			MaxLength:     50},
	} {
		q.TenantID, q.OfferTimeout, q.WrapUp = t.ID, 20*time.Second, 30*time.Second
		if queues[q.Name], err = orgs.CreateQueue(ctx, q); err != nil {
			return Info{}, err
		}
	}
	origins := []string{strings.TrimRight(publicURL, "/")}
	for _, s := range []org.Site{pudong, xihu} {
		if err := orgs.SetSiteChat(ctx, t.ID, s.ID, queues["Enquiries"].ID, origins); err != nil {
			return Info{}, err
		}
	}
	var agents []uuid.UUID
	for i, a := range agentSeeds {
		site := pudong.ID
		if i%2 == 1 {
			site = xihu.ID
		}
		u, err := orgs.CreateUser(ctx, org.NewUser{TenantID: t.ID, SiteID: site, Email: a.email, DisplayName: a.name, Password: Password, Role: a.role})
		if err != nil {
			return Info{}, err
		}
		if a.role == org.RoleAgent {
			if err := orgs.CreateAgent(ctx, t.ID, u.ID, map[org.Channel]int{org.Voice: 1, org.Chat: 3, org.Email: 5}, a.skills); err != nil {
				return Info{}, err
			}
			agents = append(agents, u.ID)
		}
	}
	fmt.Fprintf(w, "demo: 2 sites, 3 queues, %d users\n", len(agentSeeds))

	g := &gen{r: rand.New(rand.NewPCG(2026, 11)), agents: agents, sites: []uuid.UUID{pudong.ID, xihu.ID}}
	if err := g.knownCustomer(ctx, people, t.ID); err != nil {
		return Info{}, err
	}
	const total = 300
	for i := 1; i < total; i++ {
		if err := g.customer(ctx, people, t.ID, i); err != nil {
			return Info{}, fmt.Errorf("demo customer %d: %w", i, err)
		}
		if (i+1)%50 == 0 {
			fmt.Fprintf(w, "demo: customers %d/%d\n", i+1, total)
		}
	}
	info.Customers = total
	return info, nil
}

type gen struct {
	r      *rand.Rand
	agents []uuid.UUID
	sites  []uuid.UUID
	orders int
}

// knownCustomer is the one the README tells people to chat as.
func (g *gen) knownCustomer(ctx context.Context, people *crm.Store, tenant uuid.UUID) error {
	id, err := people.CreateCustomer(ctx, tenant, crm.NewCustomer{
		Kind: "person", Name: "王伟 Wang Wei", Language: "zh", Tier: "gold", SiteID: g.sites[0],
		Notes: "Prefers WeChat in the evening. Two cars in the household.",
		Identities: []crm.Identity{
			{Kind: "email", Value: "wang.wei@example.cn"},
			{Kind: "phone", Value: "+8613800138000"},
		},
	})
	if err != nil {
		return err
	}
	v, err := people.AddVehicle(ctx, tenant, id, crm.NewVehicle{VIN: withCheckDigit("LSVAU2180N2183290"), Plate: "沪A12345", Make: "Volkswagen", Model: "Lavida", Year: 2022, MileageKM: 38500}, "owner")
	if err != nil {
		return err
	}
	if _, err := people.AddVehicle(ctx, tenant, id, crm.NewVehicle{VIN: withCheckDigit("LGXC16DF4P0123450"), Plate: "沪AD67890", Make: "BYD", Model: "Han EV", Year: 2023, MileageKM: 12000}, "household"); err != nil {
		return err
	}
	g.orders++
	if _, err := people.AddServiceOrder(ctx, tenant, id, crm.NewServiceOrder{
		Number: fmt.Sprintf("SO-2026-%04d", g.orders), Kind: "repair", Status: "in_progress", Description: "Front brake pads and discs 前刹车片更换",
		SiteID: g.sites[0], VehicleID: v, AdvisorID: g.agents[0], PromisedAt: time.Now().Add(26 * time.Hour).Truncate(time.Hour), Amount: "1860.00",
	}); err != nil {
		return err
	}
	_, err = people.AddDeal(ctx, tenant, id, crm.NewDeal{Stage: "test_drive", VehicleDesc: "Volkswagen ID.4 CROZZ", Value: "219900.00", SalespersonID: g.agents[1]})
	return err
}

var (
	surnames   = []string{"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗"}
	surnamePY  = []string{"wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun", "ma", "zhu", "hu", "guo", "he", "gao", "lin", "luo"}
	givens     = []string{"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "华", "建国"}
	givenPY    = []string{"wei", "fang", "na", "min", "jing", "li", "qiang", "lei", "jun", "yang", "yong", "yan", "jie", "juan", "tao", "ming", "chao", "xiuying", "hua", "jianguo"}
	firstNames = []string{"James", "Olivia", "Daniel", "Sophie", "Lucas", "Chloe", "Henry", "Mia", "Thomas", "Grace"}
	lastNames  = []string{"Smith", "Brown", "Miller", "Wilson", "Taylor", "Clark", "Walker", "Young", "King", "Wright"}
	cars       = []struct {
		make, model string
		wmi         string
	}{
		{"Volkswagen", "Lavida", "LSV"}, {"Toyota", "Camry", "LVG"}, {"BYD", "Han EV", "LGX"}, {"Buick", "GL8", "LSG"},
		{"Tesla", "Model 3", "LRW"}, {"Honda", "Accord", "LHG"}, {"Geely", "Xingyue L", "L6T"}, {"Audi", "A6L", "LFV"},
	}
	orderStatus = []string{"booked", "in_progress", "waiting_parts", "ready", "collected", "collected"}
	orderWork   = []string{"Annual service 年度保养", "Tyre replacement 更换轮胎", "Air-conditioning check 空调检修", "Paint repair 钣金喷漆", "Battery check 电池检测", "Windscreen chip 挡风玻璃修补"}
	dealStages  = []string{"lead", "qualified", "test_drive", "offer", "won", "lost"}
)

func (g *gen) customer(ctx context.Context, people *crm.Store, tenant uuid.UUID, i int) error {
	r := g.r
	var name, email, lang string
	if r.IntN(5) > 0 {
		s, gv := r.IntN(len(surnames)), r.IntN(len(givens))
		name, lang = surnames[s]+givens[gv], "zh"
		email = fmt.Sprintf("%s.%s%d@example.cn", givenPY[gv], surnamePY[s], i)
	} else {
		f, l := r.IntN(len(firstNames)), r.IntN(len(lastNames))
		name, lang = firstNames[f]+" "+lastNames[l], "en"
		email = fmt.Sprintf("%s.%s%d@example.com", strings.ToLower(firstNames[f]), strings.ToLower(lastNames[l]), i)
	}
	site := g.sites[r.IntN(len(g.sites))]
	phone := fmt.Sprintf("+861%d%09d", 3+r.IntN(7), r.IntN(1e9))
	if i <= knownCallers {
		// A number the simulator calls from (CallerNumbers); drawn
		// all the same, so the rest of the data stays as it was.
		phone = knownCallerPhone(i)
	}
	ids := []crm.Identity{{Kind: "phone", Value: phone}}
	if r.IntN(3) > 0 {
		ids = append(ids, crm.Identity{Kind: "email", Value: email})
	}
	tier := "standard"
	switch n := r.IntN(10); {
	case n == 0:
		tier = "gold"
	case n < 3:
		tier = "growth"
	}
	id, err := people.CreateCustomer(ctx, tenant, crm.NewCustomer{Kind: "person", Name: name, Language: lang, Tier: tier, SiteID: site, Identities: ids})
	if err != nil {
		return err
	}
	for range 1 + r.IntN(2) {
		c := cars[r.IntN(len(cars))]
		prov := "沪A"
		if site == g.sites[1] {
			prov = "浙A"
		}
		plate := fmt.Sprintf("%s%05d", prov, r.IntN(100000))
		if r.IntN(4) == 0 {
			plate = fmt.Sprintf("%sD%05d", prov, r.IntN(100000)) // green plates of new-energy cars
		}
		vin := withCheckDigit(fmt.Sprintf("%sA2B1C0P%07d", c.wmi, r.IntN(1e7)))
		v, err := people.AddVehicle(ctx, tenant, id, crm.NewVehicle{VIN: vin, Plate: plate, Make: c.make, Model: c.model, Year: 2016 + r.IntN(10), MileageKM: r.IntN(150000)}, "owner")
		if err != nil {
			return err
		}
		if r.IntN(5) < 2 {
			g.orders++
			_, err := people.AddServiceOrder(ctx, tenant, id, crm.NewServiceOrder{
				Number: fmt.Sprintf("SO-2026-%04d", g.orders), Kind: "repair", Status: orderStatus[r.IntN(len(orderStatus))],
				Description: orderWork[r.IntN(len(orderWork))], SiteID: site, VehicleID: v, AdvisorID: g.agents[r.IntN(len(g.agents))],
				PromisedAt: time.Now().Add(time.Duration(r.IntN(96)) * time.Hour).Truncate(time.Hour), Amount: fmt.Sprintf("%d.00", 300+r.IntN(6000)),
			})
			if err != nil {
				return err
			}
		}
	}
	if r.IntN(7) == 0 {
		c := cars[r.IntN(len(cars))]
		_, err := people.AddDeal(ctx, tenant, id, crm.NewDeal{Stage: dealStages[r.IntN(len(dealStages))], VehicleDesc: c.make + " " + c.model,
			Value: fmt.Sprintf("%d.00", 120000+r.IntN(300000)), SalespersonID: g.agents[r.IntN(len(g.agents))]})
		if err != nil {
			return err
		}
	}
	return nil
}

// withCheckDigit sets position 9 of a 17-character VIN to its ISO 3779 /
// North American check digit (crm.VINCheckDigit), so demo VINs pass
// crm.ValidVIN like real ones.
func withCheckDigit(vin string) string {
	b := []byte(strings.ToUpper(vin))
	d, ok := crm.VINCheckDigit(string(b))
	if !ok {
		panic("demo: VIN must be 17 characters without I, O or Q: " + vin)
	}
	b[8] = d
	return string(b)
}

// serviceHours is a workshop's week: Monday to Saturday 08:00–18:00 in
// Shanghai, closed on National Day (1 October 2026) and open on Sunday
// 27 September 2026 as a make-up working day. The dated exceptions are
// illustrative, not the official holiday schedule.
func serviceHours() *org.Calendar {
	day := []org.Span{{Start: 8 * 60, End: 18 * 60}}
	return &org.Calendar{
		Zone: "Asia/Shanghai",
		Weekly: map[time.Weekday][]org.Span{
			time.Monday: day, time.Tuesday: day, time.Wednesday: day,
			time.Thursday: day, time.Friday: day, time.Saturday: day,
		},
		Exceptions: []org.Exception{
			{Date: "2026-10-01"},
			{Date: "2026-09-27", Spans: day},
		},
	}
}
