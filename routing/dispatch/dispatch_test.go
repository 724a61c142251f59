package dispatch

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
)

func TestNotificationRoundTrip(t *testing.T) {
	tenant := uuid.New()
	task := routing.Task{ContactID: uuid.New(), QueueID: uuid.New(), Channel: org.Chat, Priority: -3,
		ArrivedAt: time.UnixMicro(1_800_000_000_123_456)}
	got, gotTenant, err := ParseNotification(NotificationPayload(tenant, task))
	if err != nil || gotTenant != tenant || got.ContactID != task.ContactID || got.QueueID != task.QueueID ||
		got.Channel != task.Channel || got.Priority != task.Priority || !got.ArrivedAt.Equal(task.ArrivedAt) {
		t.Fatalf("ParseNotification(NotificationPayload(%v)) = %v, %v, %v", task, got, gotTenant, err)
	}
	task.Preferred = []uuid.UUID{uuid.New(), uuid.New()}
	task.PreferUntil = time.UnixMicro(1_800_000_030_000_000)
	task.PreferReason = "advisor"
	got, _, err = ParseNotification(NotificationPayload(tenant, task))
	if err != nil || len(got.Preferred) != 2 || got.Preferred[1] != task.Preferred[1] || !got.PreferUntil.Equal(task.PreferUntil) || got.PreferReason != "advisor" {
		t.Fatalf("preferences lost in the round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "a b c d e f", tenant.String() + " x", NotificationPayload(tenant, task) + " extra",
		NotificationPayload(tenant, task)[:len(NotificationPayload(tenant, task))-len("advisor")] + "Advisor!"} {
		if _, _, err := ParseNotification(bad); err == nil {
			t.Errorf("ParseNotification(%q) accepted garbage", bad)
		}
	}
}

func FuzzParseNotification(f *testing.F) {
	f.Add(NotificationPayload(uuid.New(), routing.Task{ContactID: uuid.New(), QueueID: uuid.New(), Channel: org.Voice, ArrivedAt: time.Now()}))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		task, tenant, err := ParseNotification(s)
		if err != nil {
			return
		}
		if !task.Channel.Valid() {
			t.Errorf("accepted channel %q", task.Channel)
		}
		again, tenant2, err := ParseNotification(NotificationPayload(tenant, task))
		if err != nil || tenant2 != tenant || again.ContactID != task.ContactID || !again.ArrivedAt.Equal(task.ArrivedAt) ||
			len(again.Preferred) != len(task.Preferred) || again.PreferReason != task.PreferReason {
			t.Errorf("round trip of %q changed it: %v %v", s, again, err)
		}
	})
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(string(EncodeCommand(Command{Kind: CmdAccept, AgentID: uuid.New(), OfferID: uuid.New()})))
	f.Add(`{"kind":"presence","extra":1}`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := DecodeCommand([]byte(s))
		if err != nil {
			return
		}
		back, err := DecodeCommand(EncodeCommand(c))
		if err != nil || back != c {
			t.Errorf("command %q does not survive a round trip: %v, %v", s, back, err)
		}
	})
}
