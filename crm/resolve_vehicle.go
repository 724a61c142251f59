package crm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
)

// vinChars are the characters a VIN may use: no I, O or Q, which read as 1
// and 0.
var vinChars = regexp.MustCompile(`^[A-HJ-NPR-Z0-9]{17}$`)

// plateShape is a Chinese plate after sb_plate_key's folding: a province
// character, the issuing letter, then five (ordinary) or six (new energy)
// letters and digits, and the optional 挂/学/警/港/澳 suffix.
var plateShape = regexp.MustCompile(`^\p{Han}[A-Z][A-Z0-9]{4,6}[挂学警港澳]?$`)

// vinValue is each VIN character's value in the ISO 3779 check digit sum.
func vinValue(r byte) int {
	switch {
	case r >= '0' && r <= '9':
		return int(r - '0')
	case r >= 'A' && r <= 'H':
		return int(r-'A') + 1
	case r >= 'J' && r <= 'N':
		return int(r-'J') + 1
	case r == 'P':
		return 7
	case r == 'R':
		return 9
	default: // S..Z
		return int(r-'S') + 2
	}
}

var vinWeights = [17]int{8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2}

// vinCheckDigitOK checks position 9, which GB 16735 (as North America's
// rules) makes a check digit: the weighted sum mod 11, 10 written "X".
func vinCheckDigitOK(vin string) bool {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += vinValue(vin[i]) * vinWeights[i]
	}
	want := byte('0' + sum%11)
	if sum%11 == 10 {
		want = 'X'
	}
	return vin[8] == want
}

// vehicleKey tells a VIN from a plate and folds it the way the vehicle
// indexes do (upper(vin), sb_plate_key(plate)): field is "vin" or "plate".
// Anything else is ErrInvalid; the error never repeats the input.
func vehicleKey(s string) (field, value string, err error) {
	folded := strings.ToUpper(strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '·', '•', '.', '-':
			return -1
		}
		return r
	}, s))
	switch {
	case vinChars.MatchString(folded):
		if !vinCheckDigitOK(folded) {
			return "", "", fmt.Errorf("VIN check digit: %w", ErrInvalid)
		}
		return "vin", folded, nil
	case plateShape.MatchString(folded):
		return "plate", folded, nil
	}
	return "", "", fmt.Errorf("not a VIN or plate: %w", ErrInvalid)
}

// ResolveByVehicle finds the customers linked to the vehicle with this VIN
// or plate (any spelling: spaces, dots, lower case): none creates a customer
// with the vehicle (reusing an unlinked vehicle row when there is one), one
// is returned, several (a household car, a fleet) come back as candidates.
// Like Resolve it is serialised per vehicle key with a transaction-scoped
// advisory lock, so concurrent first contacts about one car make one
// customer. Soft-deleted customers do not count.
func (s *Store) ResolveByVehicle(ctx context.Context, tenant uuid.UUID, vinOrPlate string) (Resolution, error) {
	field, value, err := vehicleKey(vinOrPlate)
	if err != nil {
		return Resolution{}, fmt.Errorf("resolve by vehicle: %w", err)
	}
	var r Resolution
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		// "vehicle" is not an identity kind, so these keys never collide
		// with lockIdentities' keys.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
			tenant.String()+"|vehicle|"+field+"|"+value); err != nil {
			return fmt.Errorf("resolve by vehicle: lock: %w", err)
		}
		match := `upper(v.vin) = $2 AND v.vin <> ''`
		if field == "plate" {
			match = `sb_plate_key(v.plate) = $2 AND v.plate <> ''`
		}
		var vehicles, customers []uuid.UUID
		rows, err := tx.Query(ctx, `
			SELECT v.id, cv.customer_id
			FROM vehicles v
			LEFT JOIN customer_vehicles cv ON cv.tenant_id = v.tenant_id AND cv.vehicle_id = v.id
			     AND EXISTS (SELECT 1 FROM customers cu WHERE cu.tenant_id = cv.tenant_id AND cu.id = cv.customer_id
			                 AND cu.deleted_at IS NULL)
			WHERE v.tenant_id = $1 AND `+match+`
			ORDER BY v.created_at, v.id`, tenant, value)
		if err != nil {
			return fmt.Errorf("resolve by vehicle: %w", err)
		}
		var vid uuid.UUID
		var cid *uuid.UUID
		_, err = pgx.ForEachRow(rows, []any{&vid, &cid}, func() error {
			vehicles = append(vehicles, vid)
			if cid != nil {
				customers = append(customers, *cid)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("resolve by vehicle: %w", err)
		}
		slices.SortFunc(customers, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		customers = slices.Compact(customers)
		switch len(customers) {
		case 0:
			r, err = createForVehicle(ctx, tx, tenant, field, value, vehicles)
			return err
		case 1:
			r = Resolution{CustomerID: customers[0], Candidates: []uuid.UUID{}}
		default:
			r = Resolution{Candidates: customers}
		}
		return nil
	})
	if err != nil {
		return Resolution{}, err
	}
	return r, nil
}

// createForVehicle makes a customer for a vehicle nobody (alive) is linked
// to: the oldest existing vehicle row with the key, or a new one.
func createForVehicle(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, field, value string, vehicles []uuid.UUID) (Resolution, error) {
	customer := dbid.New()
	pin, ini := nameKeys("")
	if _, err := tx.Exec(ctx, `INSERT INTO customers (id, tenant_id, name_pinyin, name_initials) VALUES ($1, $2, $3, $4)`,
		customer, tenant, pin, ini); err != nil {
		return Resolution{}, fmt.Errorf("resolve by vehicle: create customer: %w", err)
	}
	var vehicle uuid.UUID
	if len(vehicles) > 0 {
		vehicle = vehicles[0]
	} else {
		vehicle = dbid.New()
		vin, plate := value, ""
		if field == "plate" {
			vin, plate = "", value
		}
		if _, err := tx.Exec(ctx, `INSERT INTO vehicles (id, tenant_id, vin, plate) VALUES ($1, $2, $3, $4)`,
			vehicle, tenant, vin, plate); err != nil {
			return Resolution{}, mapWriteError("resolve by vehicle: create vehicle", err)
		}
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO customer_vehicles (tenant_id, customer_id, vehicle_id, role) VALUES ($1, $2, $3, 'owner')
		ON CONFLICT DO NOTHING`, tenant, customer, vehicle); err != nil {
		return Resolution{}, mapWriteError("resolve by vehicle: link vehicle", err)
	}
	if err := enqueueWebhook(ctx, tx, tenant, EventCustomerCreated, map[string]any{"customer_id": customer}); err != nil {
		return Resolution{}, err
	}
	return Resolution{CustomerID: customer, Candidates: []uuid.UUID{}, Created: true}, nil
}

// ChooseCustomer is the agent's answer to an ambiguous contact: agent, who
// must hold contact (else ErrNotHeld), says it is customer's. The customer
// may be one of the contact's candidates or any live customer of the tenant
// (the caller checks that the agent may see them); a deleted or missing one
// is ErrNotFound. The contact's candidates are cleared, so its screen-pop
// shows the customer, and a 'customer_chosen' event records the choice
// (ids only). Choosing again replaces the choice.
func (s *Store) ChooseCustomer(ctx context.Context, tenant, agent, contact, customer uuid.UUID) (Contact, error) {
	var c Contact
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		queue, err := lockHeld(ctx, tx, tenant, contact, agent)
		if err != nil {
			return fmt.Errorf("choose customer on %s: %w", contact, err)
		}
		var wasCandidate bool
		err = tx.QueryRow(ctx, `
			UPDATE contacts c SET customer_id = cu.id, candidates = '{}', updated_at = now()
			FROM customers cu, (SELECT candidates FROM contacts WHERE tenant_id = $1 AND id = $2) old
			WHERE c.tenant_id = $1 AND c.id = $2 AND cu.tenant_id = c.tenant_id AND cu.id = $3 AND cu.deleted_at IS NULL
			RETURNING cu.id = ANY (old.candidates)`,
			tenant, contact, customer).Scan(&wasCandidate)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("choose customer %s on %s: %w", customer, contact, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("choose customer %s on %s: %w", customer, contact, err)
		}
		if err := insertEvent(ctx, tx, tenant, contact, "customer_chosen", queue, agent,
			map[string]any{"customer_id": customer, "candidate": wasCandidate}); err != nil {
			return err
		}
		c, err = contactByID(ctx, tx, tenant, contact)
		return err
	})
	if err != nil {
		return Contact{}, err
	}
	return c, nil
}
