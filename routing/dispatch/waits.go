package dispatch

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
)

// WaitNotifier tells a waiting chat's visitor (or a waiting caller's
// telephony, which announces it) their place in the queue and a rough
// estimate of the wait (zero: none yet today). Best effort: a visitor who
// misses one gets the next.
type WaitNotifier interface {
	Waiting(ctx context.Context, tenant, contact uuid.UUID, position int, wait time.Duration)
}

// waitsEvery is the most often a visitor is told of a change.
const waitsEvery = 2 * time.Second

type waitTold struct {
	queue    uuid.UUID
	position int
	wait     time.Duration
}

// watchWait starts following a chat or call that joined a queue.
func (tr *tenantRun) watchWait(t routing.Task) {
	if tr.d.waits == nil || (t.Channel != org.Chat && t.Channel != org.Voice) {
		return
	}
	if tr.waits == nil {
		tr.waits = map[uuid.UUID]waitTold{}
	}
	tr.waits[t.ContactID] = waitTold{queue: t.QueueID}
}

// tellWaits tells each waiting chat whose place (or estimate) changed; a
// chat no longer waiting is forgotten. The estimate is today's ASA of the
// queue times the place: rough, and said to be so in the widget.
func (tr *tenantRun) tellWaits() {
	if tr.d.waits == nil || len(tr.waits) == 0 {
		return
	}
	now := time.Now()
	if now.Sub(tr.lastWaits) < waitsEvery {
		return
	}
	tr.lastWaits = now
	tenant := tr.lease.TenantID
	asa := map[uuid.UUID]time.Duration{}
	for contact, told := range tr.waits {
		pos, ok := tr.eng.Position(contact)
		if !ok {
			delete(tr.waits, contact)
			continue
		}
		a, ok := asa[told.queue]
		if !ok && tr.tally != nil {
			counts := tr.tally.Queue(told.queue)
			if zd := tr.zoneDays[tr.queueZones[told.queue]]; zd != nil {
				counts = zd.tally.Queue(told.queue)
			}
			a = counts.ASA()
			asa[told.queue] = a
		}
		wait := (a * time.Duration(pos)).Round(time.Second)
		if pos == told.position && (wait-told.wait).Abs() < 5*time.Second {
			continue
		}
		tr.waits[contact] = waitTold{queue: told.queue, position: pos, wait: wait}
		tr.note(func(ctx context.Context) { tr.d.waits.Waiting(ctx, tenant, contact, pos, wait) })
	}
}
