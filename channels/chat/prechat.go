package chat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// prechat is the visitor's pre-chat form, checked against the site's
// settings: what the first message of a chat is filed with.
type prechat struct {
	name, email, phone string
	queue              uuid.UUID // the topic's queue, or the site's chat queue
	customer           string    // the site's customer id from a customer token
}

// fieldError names the form field that is wrong, for the widget to mark.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.msg }

// checkPrechat validates the form: required fields present, e-mail and
// phone normalised (the phone with the site's country and area code), the
// topic one of the site's. A visitor identified by a customer token need
// not fill required fields: the dealer knows them already.
func checkPrechat(site org.Site, cs org.ChatSettings, f inFrame, identified bool) (prechat, error) {
	p := prechat{queue: site.ChatQueueID}
	p.name = strings.TrimSpace(f.Name)
	if utf8.RuneCountInString(p.name) > maxName || len(f.Email) > 254 || len(f.Phone) > 40 || len(f.Topic) > 32 {
		return prechat{}, &fieldError{"name", "name, e-mail, phone or topic too long"}
	}
	need := func(mode, value, field, msg string) error {
		switch {
		case mode == org.FieldOff && value != "":
			return &fieldError{field, "this site does not ask for " + field}
		case mode == org.FieldRequired && value == "" && !identified:
			return &fieldError{field, msg}
		}
		return nil
	}
	email, phone := strings.TrimSpace(f.Email), strings.TrimSpace(f.Phone)
	if err := need(cs.NameField, p.name, "name", "please give your name"); err != nil {
		return prechat{}, err
	}
	if err := need(cs.EmailField, email, "email", "please give your e-mail address"); err != nil {
		return prechat{}, err
	}
	if err := need(cs.PhoneField, phone, "phone", "please give your phone number"); err != nil {
		return prechat{}, err
	}
	if email != "" {
		norm, err := crm.NormalizeEmail(email)
		if err != nil {
			return prechat{}, &fieldError{"email", "that e-mail address does not look right"}
		}
		p.email = norm
	}
	if phone != "" {
		norm, err := crm.NormalizePhoneAt(phone, site.Country, site.AreaCode)
		if err != nil {
			return prechat{}, &fieldError{"phone", "that phone number does not look right"}
		}
		p.phone = norm
	}
	if len(cs.Topics) > 0 {
		q, ok := cs.TopicQueue(f.Topic)
		if !ok {
			return prechat{}, &fieldError{"topic", "please choose one of the topics offered"}
		}
		p.queue = q
	} else if f.Topic != "" {
		return prechat{}, &fieldError{"topic", "this site offers no topics"}
	}
	return p, nil
}

// identities are what the chat's first message resolves the customer by.
func (p prechat) identities(visitor uuid.UUID, system string) []crm.Identity {
	ids := []crm.Identity{{Kind: crm.KindChat, Value: visitor.String()}}
	if p.customer != "" {
		ids = append(ids, crm.Identity{Kind: crm.KindExternal, System: system, Value: p.customer})
	}
	if p.email != "" {
		ids = append(ids, crm.Identity{Kind: crm.KindEmail, Value: p.email})
	}
	if p.phone != "" {
		ids = append(ids, crm.Identity{Kind: crm.KindPhone, Value: p.phone})
	}
	return ids
}

// widgetSettings is what the widget needs of the site's settings: no
// secret, no queue ids.
func widgetSettings(cs org.ChatSettings) map[string]any {
	topics := make([]string, 0, len(cs.Topics))
	for _, t := range cs.Topics {
		topics = append(topics, t.Topic)
	}
	slices.SortFunc(topics, func(a, b string) int {
		return slices.Index(org.ChatTopics, a) - slices.Index(org.ChatTopics, b)
	})
	return map[string]any{
		"fields":               map[string]string{"name": cs.NameField, "email": cs.EmailField, "phone": cs.PhoneField},
		"topics":               topics,
		"language":             cs.Language,
		"show_wait":            cs.ShowWait,
		"offline_mode":         cs.OfflineMode,
		"attachments":          cs.Attachments,
		"max_attachment_bytes": cs.MaxAttachmentBytes,
		"attachment_types":     crm.ChatAttachmentTypes,
	}
}

// serveSettings answers GET /chat/settings?site=KEY: the widget's settings,
// so the pre-chat form can be drawn before any socket opens.
func (c *Connector) serveSettings(w http.ResponseWriter, r *http.Request) {
	site, ok := c.siteFor(w, r, false)
	if !ok {
		return
	}
	cs, err := c.settings.ChatSettings(r.Context(), site.TenantID, site.ID)
	if err != nil {
		c.log.Error("chat: settings", "site_id", site.ID, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	out := widgetSettings(cs)
	c.availability(r.Context(), site, cs).fields(out)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	json.NewEncoder(w).Encode(out)
}

// siteFor finds the site named by ?site= and checks the request's Origin
// against its list, answering the request itself when either fails. An
// allowed origin may read the answer (CORS): the widget runs on the
// dealer's page, another origin than ours. Browsers send no Origin on an
// image load or a same-origin GET, so a GET without one passes when not
// strict (what it reads is public, or guarded by the visitor token).
func (c *Connector) siteFor(w http.ResponseWriter, r *http.Request, strict bool) (org.Site, bool) {
	key := r.URL.Query().Get("site")
	if key == "" || len(key) > 64 {
		http.Error(w, "unknown site", http.StatusNotFound)
		return org.Site{}, false
	}
	site, err := c.sites.SiteByChatKey(r.Context(), key)
	if errors.Is(err, org.ErrNotFound) {
		http.Error(w, "unknown site", http.StatusNotFound)
		return org.Site{}, false
	} else if err != nil {
		c.log.Error("chat: site lookup", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return org.Site{}, false
	}
	origin := r.Header.Get("Origin")
	if origin == "" && !strict {
		return site, true
	}
	if !slices.Contains(site.AllowedOrigins, origin) {
		c.log.Info("chat: origin refused", "site_id", site.ID)
		http.Error(w, "origin not allowed for this site", http.StatusForbidden)
		return org.Site{}, false
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	w.Header().Add("Vary", "Origin")
	return site, true
}

// settingsFor loads a site's settings for a socket; a failure falls back
// to the defaults rather than refusing the visitor.
func (c *Connector) settingsFor(ctx context.Context, site org.Site) org.ChatSettings {
	cs, err := c.settings.ChatSettings(ctx, site.TenantID, site.ID)
	if err != nil {
		c.log.Warn("chat: settings; using the defaults", "site_id", site.ID, "err", err)
		return org.DefaultChatSettings(site.ID)
	}
	return cs
}
