package crm

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
)

// NewCustomer is a customer to create, with identities already normalised.
type NewCustomer struct {
	Kind, Name, Language, Tier, Notes string    // Kind default "person", Tier default "standard"
	SiteID                            uuid.UUID // site of record; uuid.Nil: none
	Identities                        []Identity
}

// CreateCustomer adds a customer with its identities, even when another
// customer has one of them already (a household's landline). It takes the
// same identity locks as Resolve, so a concurrent first contact either sees
// this customer or is seen by it.
func (s *Store) CreateCustomer(ctx context.Context, tenant uuid.UUID, c NewCustomer) (uuid.UUID, error) {
	ids, err := cleanIdentities(c.Identities)
	if err != nil {
		return uuid.Nil, fmt.Errorf("create customer: %w", err)
	}
	if c.Kind == "" {
		c.Kind = "person"
	}
	if c.Tier == "" {
		c.Tier = "standard"
	}
	id := dbid.New()
	py, initials := nameKeys(c.Name)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockIdentities(ctx, tx, tenant, ids); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO customers (id, tenant_id, kind, name, language, tier, notes, site_id, name_pinyin, name_initials)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			id, tenant, c.Kind, c.Name, c.Language, c.Tier, c.Notes, dbid.Null(c.SiteID), py, initials)
		if err != nil {
			return mapWriteError("create customer", err)
		}
		return addIdentities(ctx, tx, tenant, id, ids)
	})
	if err != nil {
		return uuid.Nil, err
	}
	return id, nil
}

// NewVehicle is a car to add; zero Year or MileageKM mean unknown.
type NewVehicle struct {
	VIN, Plate, Make, Model string
	Year                    int
	MileageKM               int
}

func nullInt(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

// AddVehicle adds a vehicle and links it to the customer in role (default
// "owner").
func (s *Store) AddVehicle(ctx context.Context, tenant, customerID uuid.UUID, v NewVehicle, role string) (uuid.UUID, error) {
	if role == "" {
		role = "owner"
	}
	id := dbid.New()
	// One statement: a customer of another tenant fails the link's foreign
	// key and takes the vehicle with it.
	_, err := s.pool.Exec(ctx, `
		WITH v AS (
			INSERT INTO vehicles (id, tenant_id, vin, plate, make, model, year, mileage_km)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			RETURNING tenant_id, id)
		INSERT INTO customer_vehicles (tenant_id, customer_id, vehicle_id, role)
		SELECT v.tenant_id, $9, v.id, $10 FROM v`,
		id, tenant, v.VIN, v.Plate, v.Make, v.Model, nullInt(v.Year), nullInt(v.MileageKM), customerID, role)
	if err != nil {
		return uuid.Nil, mapWriteError("add vehicle", err)
	}
	return id, nil
}

// NewServiceOrder is a workshop job to add. Kind defaults to "repair",
// Status to "booked", Amount (a decimal string) to "0"; uuid.Nil and the
// zero time are NULL.
type NewServiceOrder struct {
	Number, Kind, Status, Description string
	SiteID, VehicleID, AdvisorID      uuid.UUID
	PromisedAt                        time.Time
	Amount                            string
}

// AddServiceOrder adds a service order for the customer.
func (s *Store) AddServiceOrder(ctx context.Context, tenant, customerID uuid.UUID, o NewServiceOrder) (uuid.UUID, error) {
	if o.Number == "" {
		return uuid.Nil, fmt.Errorf("add service order: number is required: %w", ErrInvalid)
	}
	if o.Kind == "" {
		o.Kind = "repair"
	}
	if o.Status == "" {
		o.Status = "booked"
	}
	if o.Amount == "" {
		o.Amount = "0"
	}
	id := dbid.New()
	_, err := s.pool.Exec(ctx, `
		INSERT INTO service_orders (id, tenant_id, site_id, number, kind, customer_id, vehicle_id, status,
		                            advisor_id, description, promised_at, amount)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::numeric)`,
		id, tenant, dbid.Null(o.SiteID), o.Number, o.Kind, customerID, dbid.Null(o.VehicleID), o.Status,
		dbid.Null(o.AdvisorID), o.Description, nullTime(o.PromisedAt), o.Amount)
	if err != nil {
		return uuid.Nil, mapWriteError("add service order", err)
	}
	return id, nil
}

// NewDeal is a sale to add. Stage defaults to "lead", Value (a decimal
// string) to "0".
type NewDeal struct {
	Stage, VehicleDesc, Value string
	SalespersonID             uuid.UUID
}

// AddDeal adds a deal for the customer.
func (s *Store) AddDeal(ctx context.Context, tenant, customerID uuid.UUID, d NewDeal) (uuid.UUID, error) {
	if d.Stage == "" {
		d.Stage = "lead"
	}
	if d.Value == "" {
		d.Value = "0"
	}
	id := dbid.New()
	_, err := s.pool.Exec(ctx, `
		INSERT INTO deals (id, tenant_id, customer_id, stage, vehicle_desc, salesperson_id, value)
		VALUES ($1, $2, $3, $4, $5, $6, $7::numeric)`,
		id, tenant, customerID, d.Stage, d.VehicleDesc, dbid.Null(d.SalespersonID), d.Value)
	if err != nil {
		return uuid.Nil, mapWriteError("add deal", err)
	}
	return id, nil
}

// mapWriteError turns constraint failures into crm's errors, naming the
// constraint but never the offending values (they may be personal data).
func mapWriteError(what string, err error) error {
	pe := pgError(err)
	if pe == nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	switch pe.Code {
	case codeForeignKeyViolation:
		// A referenced row is missing or another tenant's.
		return fmt.Errorf("%s: %s: %w", what, pe.ConstraintName, ErrNotFound)
	case codeUniqueViolation, codeCheckViolation:
		return fmt.Errorf("%s: %s: %w", what, pe.ConstraintName, ErrInvalid)
	case codeInvalidText, "22003": // bad or out-of-range decimal
		return fmt.Errorf("%s: malformed value: %w", what, ErrInvalid)
	}
	return fmt.Errorf("%s: %w", what, err)
}
