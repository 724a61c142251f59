package crm

import (
	"context"
	"errors"
	"fmt"
	"html"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
)

// CannedResponse is a tenant's reusable reply text (migration 00014).
type CannedResponse struct {
	ID        uuid.UUID  `json:"id"`
	Title     string     `json:"title"`
	Body      string     `json:"body"`
	Language  string     `json:"language"`
	Active    bool       `json:"active"`
	CreatedBy *uuid.UUID `json:"created_by,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	// Rendered is Body with the placeholders filled for one contact, when
	// the caller asked for that contact (CannedValues, RenderCanned).
	Rendered *string `json:"rendered,omitempty"`
}

// CannedInput sets a canned response's fields; nil leaves one as it is
// (on create, Title and Body are required).
type CannedInput struct {
	Title    *string `json:"title"`
	Body     *string `json:"body"`
	Language *string `json:"language"`
	Active   *bool   `json:"active"`
}

// Placeholders are the names a canned response may fill, and nothing else:
// a fixed set, so a template can never reach data the agent should not
// put in a mail.
var Placeholders = []string{"customer.name", "agent.name", "order.number", "order.status", "vehicle.plate", "site.name"}

var placeholderRE = regexp.MustCompile(`\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}`)

// RenderCanned fills body's placeholders from vals. A placeholder outside
// the fixed set, or one with no value for this contact, stays as written so
// that the agent sees what is missing before sending.
func RenderCanned(body string, vals map[string]string) string {
	return placeholderRE.ReplaceAllStringFunc(body, func(m string) string {
		name := placeholderRE.FindStringSubmatch(m)[1]
		if v, ok := vals[name]; ok && v != "" && knownPlaceholder(name) {
			return v
		}
		return m
	})
}

// RenderCannedHTML is RenderCanned for an HTML body: the template's text and
// every value are escaped (a customer named "<script>" stays text), and line
// breaks become <br>.
func RenderCannedHTML(body string, vals map[string]string) string {
	escaped := make(map[string]string, len(vals))
	for k, v := range vals {
		escaped[k] = html.EscapeString(v)
	}
	// Escaping leaves "{{ name }}" intact: braces, dots and letters are not
	// special in HTML.
	out := RenderCanned(html.EscapeString(body), escaped)
	return strings.ReplaceAll(out, "\n", "<br>\n")
}

func knownPlaceholder(name string) bool {
	for _, p := range Placeholders {
		if p == name {
			return true
		}
	}
	return false
}

// CannedValues are the placeholder values for agent answering contact: the
// contact's customer (none while unknown or ambiguous), the agent's display
// name, the customer's latest open service order and its vehicle, the
// contact's site. A missing value is absent.
func (s *Store) CannedValues(ctx context.Context, tenant, agent, contact uuid.UUID) (map[string]string, error) {
	var customerName, agentName, orderNumber, orderStatus, plate, siteName string
	err := s.pool.QueryRow(ctx, `
		SELECT COALESCE(cu.name, ''), COALESCE((SELECT display_name FROM users WHERE tenant_id = $1 AND id = $3), ''),
		       COALESCE(o.number, ''), COALESCE(o.status, ''), COALESCE(v.plate, ''), COALESCE(st.name, '')
		FROM contacts c
		LEFT JOIN customers cu ON cu.tenant_id = c.tenant_id AND cu.id = c.customer_id AND cu.deleted_at IS NULL
		LEFT JOIN sites st ON st.tenant_id = c.tenant_id AND st.id = c.site_id
		LEFT JOIN LATERAL (
			SELECT number, status, vehicle_id FROM service_orders so
			WHERE so.tenant_id = c.tenant_id AND so.customer_id = cu.id AND so.status <> 'collected'
			ORDER BY so.created_at DESC LIMIT 1) o ON true
		LEFT JOIN vehicles v ON v.tenant_id = c.tenant_id AND v.id = o.vehicle_id
		WHERE c.tenant_id = $1 AND c.id = $2`, tenant, contact, agent).Scan(
		&customerName, &agentName, &orderNumber, &orderStatus, &plate, &siteName)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("canned values for %s: %w", contact, ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("canned values for %s: %w", contact, err)
	}
	vals := map[string]string{}
	for k, v := range map[string]string{
		"customer.name": customerName, "agent.name": agentName, "order.number": orderNumber,
		"order.status": orderStatus, "vehicle.plate": plate, "site.name": siteName,
	} {
		if v != "" {
			vals[k] = v
		}
	}
	return vals, nil
}

const cannedSelect = `SELECT id, title, body, language, active, created_by, created_at, updated_at FROM canned_responses`

func scanCanned(r pgx.CollectableRow) (CannedResponse, error) {
	var c CannedResponse
	err := r.Scan(&c.ID, &c.Title, &c.Body, &c.Language, &c.Active, &c.CreatedBy, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}

// CannedResponses lists the tenant's canned responses by title; inactive
// ones only when all is set (the admin's view).
func (s *Store) CannedResponses(ctx context.Context, tenant uuid.UUID, all bool) ([]CannedResponse, error) {
	rows, err := s.pool.Query(ctx, cannedSelect+` WHERE tenant_id = $1 AND (active OR $2) ORDER BY title, id`, tenant, all)
	if err != nil {
		return nil, fmt.Errorf("canned responses: %w", err)
	}
	cs, err := pgx.CollectRows(rows, scanCanned)
	if err != nil {
		return nil, fmt.Errorf("canned responses: %w", err)
	}
	if cs == nil {
		cs = []CannedResponse{}
	}
	return cs, nil
}

// CannedResponse returns one canned response, or ErrNotFound.
func (s *Store) CannedResponse(ctx context.Context, tenant, id uuid.UUID) (CannedResponse, error) {
	rows, err := s.pool.Query(ctx, cannedSelect+` WHERE tenant_id = $1 AND id = $2`, tenant, id)
	if err != nil {
		return CannedResponse{}, fmt.Errorf("canned response %s: %w", id, err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCanned)
	if errors.Is(err, pgx.ErrNoRows) {
		return CannedResponse{}, fmt.Errorf("canned response %s: %w", id, ErrNotFound)
	} else if err != nil {
		return CannedResponse{}, fmt.Errorf("canned response %s: %w", id, err)
	}
	return c, nil
}

func (in CannedInput) apply(c *CannedResponse) error {
	if in.Title != nil {
		c.Title = strings.TrimSpace(*in.Title)
	}
	if in.Body != nil {
		c.Body = *in.Body
	}
	if in.Language != nil {
		c.Language = strings.TrimSpace(*in.Language)
	}
	if in.Active != nil {
		c.Active = *in.Active
	}
	switch {
	case c.Title == "" || len(c.Title) > 200:
		return fmt.Errorf("a title of 1 to 200 bytes is required: %w", ErrInvalid)
	case strings.TrimSpace(c.Body) == "" || len(c.Body) > 20000:
		return fmt.Errorf("a body of 1 to 20000 bytes is required: %w", ErrInvalid)
	case len(c.Language) > 35:
		return fmt.Errorf("language must be a BCP 47 tag: %w", ErrInvalid)
	}
	return nil
}

// CreateCanned stores a new canned response by actor.
func (s *Store) CreateCanned(ctx context.Context, tenant, actor uuid.UUID, in CannedInput) (CannedResponse, error) {
	c := CannedResponse{ID: dbid.New(), Active: true}
	if err := in.apply(&c); err != nil {
		return CannedResponse{}, err
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO canned_responses (id, tenant_id, title, body, language, created_by, active)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.ID, tenant, c.Title, c.Body, c.Language, actor, c.Active)
	if err != nil {
		return CannedResponse{}, fmt.Errorf("create canned response: %w", err)
	}
	return s.CannedResponse(ctx, tenant, c.ID)
}

// UpdateCanned changes a canned response's given fields.
func (s *Store) UpdateCanned(ctx context.Context, tenant, id uuid.UUID, in CannedInput) (CannedResponse, error) {
	var out CannedResponse
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, cannedSelect+` WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenant, id)
		if err != nil {
			return fmt.Errorf("canned response %s: %w", id, err)
		}
		c, err := pgx.CollectExactlyOneRow(rows, scanCanned)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("canned response %s: %w", id, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("canned response %s: %w", id, err)
		}
		if err := in.apply(&c); err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `
			UPDATE canned_responses SET title = $3, body = $4, language = $5, active = $6, updated_at = now()
			WHERE tenant_id = $1 AND id = $2 RETURNING updated_at`, tenant, id, c.Title, c.Body, c.Language, c.Active).Scan(&c.UpdatedAt)
		out = c
		return err
	})
	if err != nil {
		return CannedResponse{}, err
	}
	return out, nil
}

// DeleteCanned removes a canned response; replies written with it keep
// their text.
func (s *Store) DeleteCanned(ctx context.Context, tenant, id uuid.UUID) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM canned_responses WHERE tenant_id = $1 AND id = $2`, tenant, id)
	if err != nil {
		return fmt.Errorf("delete canned response %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("canned response %s: %w", id, ErrNotFound)
	}
	return nil
}
