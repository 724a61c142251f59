package chat

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/ratelimit"
)

// A visitor asks for a transcript once or twice a chat (and may mistype
// the address); more is someone using the site's mailbox to mail others.
var visitorTranscripts = ratelimit.Limit{Rate: 5, Burst: 5, Period: 10 * time.Minute}

// transcript queues the chat's transcript by e-mail (docs/protocol.md,
// frame "transcript"), during the chat or after it ended, to the address
// in the frame or else the one the visitor gave in the pre-chat form. It
// goes out through the e-mail outbox from the site's mailbox (or a
// group-wide one); one address gets one transcript per chat.
func (v *visitor) transcript(ctx context.Context, f inFrame) {
	if v.token.Contact == uuid.Nil {
		v.refuse("invalid", "there is no chat to send yet", "")
		return
	}
	to := strings.TrimSpace(f.Email)
	if to == "" {
		to = v.form.email
	}
	if to == "" {
		v.send(map[string]any{"type": "error", "code": "email_required", "field": "transcript_email",
			"message": "which e-mail address should the transcript go to?"})
		return
	}
	norm, err := crm.NormalizeEmail(to)
	if err != nil || len(to) > 254 {
		v.send(map[string]any{"type": "error", "code": "invalid", "field": "transcript_email",
			"message": "that e-mail address does not look right"})
		return
	}
	tenant, contact := v.site.TenantID, v.token.Contact
	e, err := v.c.chats.QueueTranscript(ctx, tenant, contact, norm)
	switch {
	case errors.Is(err, crm.ErrInvalid):
		// The address was checked above: the tenant has no mailbox that
		// can send.
		v.send(map[string]any{"type": "error", "code": "unavailable", "message": "transcripts by e-mail are not available here"})
		return
	case errors.Is(err, crm.ErrNotFound):
		v.refuse("not_found", "this chat no longer exists", "")
		return
	case err != nil:
		v.c.log.Error("chat: queue transcript", "tenant_id", tenant, "contact_id", contact, "err", err)
		v.refuse("internal", "the transcript could not be queued; try again", "")
		return
	}
	v.c.log.Info("chat transcript queued", "tenant_id", tenant, "contact_id", contact, "outbox_id", e.ID)
	v.send(map[string]any{"type": "transcript", "status": "queued", "to": norm})
}
