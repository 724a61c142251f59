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
	for _, bad := range []string{"", "a b c d e f", tenant.String() + " x", NotificationPayload(tenant, task) + " extra"} {
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
		if err != nil || tenant2 != tenant || again.ContactID != task.ContactID || !again.ArrivedAt.Equal(task.ArrivedAt) {
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
