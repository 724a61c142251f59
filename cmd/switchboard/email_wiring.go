package main

import (
	"context"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/agentdesk"
	"github.com/switchboard-cc/switchboard/channels/email"
	"github.com/switchboard-cc/switchboard/crm"
)

// emailDesk is the desk's e-mail panel on crm, with the reply-token key
// that crm's QueueReply does not hold: every reply carries its thread's
// token (crm.ReplyToken), which the parser verifies with the same key.
type emailDesk struct {
	*crm.Store
	replyKey []byte
}

func (d emailDesk) QueueReply(ctx context.Context, tenant, agent, contact uuid.UUID, r crm.Reply) (crm.QueuedReply, error) {
	r.Token = crm.ReplyToken(d.replyKey, tenant, contact)
	return d.Store.QueueReply(ctx, tenant, agent, contact, r)
}

var (
	_ agentdesk.Email      = emailDesk{}
	_ email.OutboxStore    = (*crm.Store)(nil)
	_ email.OutboxNotifier = (*agentdesk.Server)(nil)
)
