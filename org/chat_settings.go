package org

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Pre-chat form field modes.
const (
	FieldOff      = "off"
	FieldOptional = "optional"
	FieldRequired = "required"
)

// ChatTopics are the lines of business a visitor may pick in the pre-chat form.
var ChatTopics = []string{"enquiries", "sales", "service"}

// ChatTopic routes one topic of the pre-chat form to a queue.
type ChatTopic struct {
	Topic   string    `json:"topic"`
	QueueID uuid.UUID `json:"queue_id"`
}

// ChatSettings are one site's widget settings (migration 00011).
type ChatSettings struct {
	SiteID     uuid.UUID   `json:"site_id"`
	NameField  string      `json:"name_field"`
	EmailField string      `json:"email_field"`
	PhoneField string      `json:"phone_field"`
	Topics     []ChatTopic `json:"topics"`
	// Language is "en", "zh-CN" or "browser" (the visitor's browser decides).
	Language string `json:"language"`
	// ShowWait lets a waiting visitor see their place in the queue and the
	// estimated wait.
	ShowWait bool `json:"show_wait"`
	// AbandonAfter: a queued chat whose visitor has had no socket this
	// long is abandoned.
	AbandonAfter time.Duration `json:"-"`
	// OfflineMode: out of hours the widget takes a message that becomes an
	// e-mail contact ("email") or a callback ("callback").
	OfflineMode string `json:"offline_mode"`
	// OfflineWhen: "closed" takes messages only while the site's chat queue
	// is closed by its calendar; "no_agents" also while no agent of the
	// tenant has a console connected (migration 00015).
	OfflineWhen        string `json:"offline_when"`
	Attachments        bool   `json:"attachments"`
	MaxAttachmentBytes int    `json:"max_attachment_bytes"`
	// CustomerSystem names the system of the site's customer ids; empty
	// means the site's chat key.
	CustomerSystem string `json:"customer_system"`
	// HasSecret: a customer-token secret exists. The secret itself is only
	// shown when generated (RotateChatSecret).
	HasSecret bool `json:"has_secret"`
}

// DefaultChatSettings are a site's settings until an admin changes them.
func DefaultChatSettings(site uuid.UUID) ChatSettings {
	return ChatSettings{SiteID: site, NameField: FieldOptional, EmailField: FieldOptional, PhoneField: FieldOff,
		Topics: []ChatTopic{}, Language: "browser", AbandonAfter: 120 * time.Second, OfflineMode: "email", OfflineWhen: OfflineClosed,
		Attachments: true, MaxAttachmentBytes: 5 << 20}
}

// Offline-when values.
const (
	OfflineClosed   = "closed"
	OfflineNoAgents = "no_agents"
)

// MaxAttachmentLimit is the largest per-file limit a site may set.
const MaxAttachmentLimit = 10 << 20

// Validate checks the settings' values; queue ownership is checked by the store.
func (s ChatSettings) Validate() error {
	for _, f := range []string{s.NameField, s.EmailField, s.PhoneField} {
		if f != FieldOff && f != FieldOptional && f != FieldRequired {
			return fmt.Errorf("%w: a pre-chat field is off, optional or required, not %q", ErrInvalid, f)
		}
	}
	seen := map[string]bool{}
	for _, t := range s.Topics {
		if !slices.Contains(ChatTopics, t.Topic) || seen[t.Topic] || t.QueueID == uuid.Nil {
			return fmt.Errorf("%w: topics are enquiries, sales or service, once each, each with a queue", ErrInvalid)
		}
		seen[t.Topic] = true
	}
	if s.Language != "en" && s.Language != "zh-CN" && s.Language != "browser" {
		return fmt.Errorf("%w: language is en, zh-CN or browser", ErrInvalid)
	}
	if s.AbandonAfter < time.Second || s.AbandonAfter > 24*time.Hour {
		return fmt.Errorf("%w: abandon_after_seconds is 1 to 86400", ErrInvalid)
	}
	if s.OfflineMode != "email" && s.OfflineMode != "callback" {
		return fmt.Errorf("%w: offline_mode is email or callback", ErrInvalid)
	}
	if s.OfflineWhen != OfflineClosed && s.OfflineWhen != OfflineNoAgents {
		return fmt.Errorf("%w: offline_when is closed or no_agents", ErrInvalid)
	}
	if s.MaxAttachmentBytes < 1 || s.MaxAttachmentBytes > MaxAttachmentLimit {
		return fmt.Errorf("%w: max_attachment_bytes is 1 to %d", ErrInvalid, MaxAttachmentLimit)
	}
	if len(s.CustomerSystem) > 64 {
		return fmt.Errorf("%w: customer_system is at most 64 characters", ErrInvalid)
	}
	return nil
}

// TopicQueue returns the queue of a topic, or false when the site has no such topic.
func (s ChatSettings) TopicQueue(topic string) (uuid.UUID, bool) {
	for _, t := range s.Topics {
		if t.Topic == topic {
			return t.QueueID, true
		}
	}
	return uuid.Nil, false
}

const chatSettingsColumns = `name_field, email_field, phone_field, topics, language, show_wait, abandon_after_seconds,
	offline_mode, attachments, max_attachment_bytes, customer_system, customer_secret IS NOT NULL, offline_when`

func scanChatSettings(r pgx.Row, s *ChatSettings) error {
	var topics []byte
	var secs int
	if err := r.Scan(&s.NameField, &s.EmailField, &s.PhoneField, &topics, &s.Language, &s.ShowWait, &secs,
		&s.OfflineMode, &s.Attachments, &s.MaxAttachmentBytes, &s.CustomerSystem, &s.HasSecret, &s.OfflineWhen); err != nil {
		return err
	}
	s.AbandonAfter = time.Duration(secs) * time.Second
	s.Topics = []ChatTopic{}
	return json.Unmarshal(topics, &s.Topics)
}

// ChatSettings returns a site's widget settings (the defaults when none
// were saved). Another tenant's site is ErrNotFound.
func (s *Store) ChatSettings(ctx context.Context, tenant, site uuid.UUID) (ChatSettings, error) {
	cs := DefaultChatSettings(site)
	err := scanChatSettings(s.pool.QueryRow(ctx, `SELECT `+chatSettingsColumns+` FROM chat_settings
		WHERE tenant_id = $1 AND site_id = $2`, tenant, site), &cs)
	if errors.Is(err, pgx.ErrNoRows) {
		if err := s.siteExists(ctx, tenant, site); err != nil {
			return ChatSettings{}, err
		}
		return DefaultChatSettings(site), nil
	} else if err != nil {
		return ChatSettings{}, fmt.Errorf("chat settings of %s: %w", site, err)
	}
	return cs, nil
}

func (s *Store) siteExists(ctx context.Context, tenant, site uuid.UUID) error {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sites WHERE tenant_id = $1 AND id = $2)`, tenant, site).Scan(&ok); err != nil {
		return fmt.Errorf("site %s: %w", site, err)
	} else if !ok {
		return fmt.Errorf("site %s: %w", site, ErrNotFound)
	}
	return nil
}

// SetChatSettings saves a site's widget settings, audited as actor's. Every
// topic's queue must be the tenant's.
func (s *Store) SetChatSettings(ctx context.Context, tenant, actor uuid.UUID, cs ChatSettings) (ChatSettings, error) {
	if err := cs.Validate(); err != nil {
		return ChatSettings{}, err
	}
	if err := s.siteExists(ctx, tenant, cs.SiteID); err != nil {
		return ChatSettings{}, err
	}
	topics, _ := json.Marshal(cs.Topics)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, t := range cs.Topics {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM queues WHERE tenant_id = $1 AND id = $2)`, tenant, t.QueueID).Scan(&ok); err != nil {
				return fmt.Errorf("chat settings: queue: %w", err)
			} else if !ok {
				return fmt.Errorf("%w: queue %s of topic %s is not one of yours", ErrInvalid, t.QueueID, t.Topic)
			}
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO chat_settings (tenant_id, site_id, name_field, email_field, phone_field, topics, language, show_wait,
			                           abandon_after_seconds, offline_mode, attachments, max_attachment_bytes, customer_system, offline_when)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			ON CONFLICT (tenant_id, site_id) DO UPDATE SET
			    name_field = EXCLUDED.name_field, email_field = EXCLUDED.email_field, phone_field = EXCLUDED.phone_field,
			    topics = EXCLUDED.topics, language = EXCLUDED.language, show_wait = EXCLUDED.show_wait,
			    abandon_after_seconds = EXCLUDED.abandon_after_seconds, offline_mode = EXCLUDED.offline_mode,
			    attachments = EXCLUDED.attachments, max_attachment_bytes = EXCLUDED.max_attachment_bytes,
			    customer_system = EXCLUDED.customer_system, offline_when = EXCLUDED.offline_when, updated_at = now()`,
			tenant, cs.SiteID, cs.NameField, cs.EmailField, cs.PhoneField, topics, cs.Language, cs.ShowWait,
			int(cs.AbandonAfter/time.Second), cs.OfflineMode, cs.Attachments, cs.MaxAttachmentBytes, cs.CustomerSystem, cs.OfflineWhen); err != nil {
			return fmt.Errorf("chat settings of %s: %w", cs.SiteID, err)
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "site.chat_settings", TargetKind: "site",
			TargetID: cs.SiteID, Data: map[string]any{"show_wait": cs.ShowWait, "abandon_after_seconds": int(cs.AbandonAfter / time.Second),
				"offline_mode": cs.OfflineMode, "offline_when": cs.OfflineWhen, "max_attachment_bytes": cs.MaxAttachmentBytes, "language": cs.Language}})
	})
	if err != nil {
		return ChatSettings{}, err
	}
	return s.ChatSettings(ctx, tenant, cs.SiteID)
}

// RotateChatSecret generates a new customer-token secret for a site and
// returns it; tokens signed with the old one stop working at once. The
// rotation is audited, the secret is not.
func (s *Store) RotateChatSecret(ctx context.Context, tenant, actor, site uuid.UUID) ([]byte, error) {
	if err := s.siteExists(ctx, tenant, site); err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO chat_settings (tenant_id, site_id, customer_secret, secret_rotated_at) VALUES ($1, $2, $3, now())
			ON CONFLICT (tenant_id, site_id) DO UPDATE SET customer_secret = EXCLUDED.customer_secret, secret_rotated_at = now()`,
			tenant, site, secret); err != nil {
			return fmt.Errorf("rotate chat secret of %s: %w", site, err)
		}
		return WriteAudit(ctx, tx, AuditEntry{TenantID: tenant, ActorID: actor, Action: "site.chat_secret", TargetKind: "site", TargetID: site})
	})
	if err != nil {
		return nil, err
	}
	return secret, nil
}

// ChatSecret returns a site's customer-token secret; ErrNotFound when none
// was generated (the site accepts no customer tokens).
func (s *Store) ChatSecret(ctx context.Context, tenant, site uuid.UUID) ([]byte, error) {
	var secret []byte
	err := s.pool.QueryRow(ctx, `SELECT customer_secret FROM chat_settings WHERE tenant_id = $1 AND site_id = $2 AND customer_secret IS NOT NULL`,
		tenant, site).Scan(&secret)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("chat secret of %s: %w", site, ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("chat secret of %s: %w", site, err)
	}
	return secret, nil
}
