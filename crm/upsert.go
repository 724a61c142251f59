package crm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
)

// Upsert outcomes: what an idempotent upsert by external id did.
const (
	UpsertCreated   = "created"
	UpsertUpdated   = "updated"
	UpsertUnchanged = "unchanged" // nothing written: no updated_at change, no webhook
)

// checkExternal validates an external (system, id) pair as a system names
// its record in the URL.
func checkExternal(system, id string) (string, string, error) {
	system = strings.ToLower(strings.TrimSpace(system))
	if !externalSystem.MatchString(system) {
		return "", "", invalid("system must be lower-case letters, digits, '.', '_' or '-' (at most 64)")
	}
	id, err := cleanText("external id", id, 128)
	if err != nil {
		return "", "", err
	}
	if id == "" {
		return "", "", invalid("external id is required")
	}
	return system, id, nil
}

// lockExternal serialises upserts of one record of one system, so that two
// concurrent first upserts make one record. Record kinds other than
// customers use keys lockIdentities never takes.
func lockExternal(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, record, system, id string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
		fmt.Sprintf("%s|%s|%d:%s|%s", tenant, record, len(system), system, id))
	if err != nil {
		return fmt.Errorf("lock %s: %w", record, err)
	}
	return nil
}

// customerByExternal finds the customer a system knows by id; deleted is
// true when that customer is in the recycle bin. Not found is ErrNotFound.
func customerByExternal(ctx context.Context, q dbtx, tenant uuid.UUID, system, id string) (customer uuid.UUID, deleted bool, err error) {
	err = q.QueryRow(ctx, `
		SELECT c.id, c.deleted_at IS NOT NULL FROM customer_identities i
		JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
		WHERE i.tenant_id = $1 AND i.kind = 'external' AND i.system = $2 AND i.value = $3`,
		tenant, system, id).Scan(&customer, &deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, false, ErrNotFound
	} else if err != nil {
		return uuid.Nil, false, fmt.Errorf("customer by external id: %w", err)
	}
	return customer, deleted, nil
}

// CustomerUpsert is a customer as another system sends it. Fields left nil
// stay as they are; identities are added (never removed: agents add some
// of their own), each checked against the other customers.
type CustomerUpsert struct {
	CustomerFields
	Identities []IdentityInput
}

// UpsertCustomer creates or updates the customer that system knows as
// externalID. The same record twice changes nothing (UpsertUnchanged: no
// updated_at change, no webhook). An identity that belongs to another
// customer is a *ConflictError naming that customer, and nothing is
// written: the two are never merged silently. actor is the user behind the
// call (an API key's creator) for the audit of an owner change.
func (s *Store) UpsertCustomer(ctx context.Context, tenant, actor uuid.UUID, system, externalID string, in CustomerUpsert) (CustomerRecord, string, error) {
	system, externalID, err := checkExternal(system, externalID)
	if err != nil {
		return CustomerRecord{}, "", err
	}
	ext := IdentityInput{Kind: KindExternal, System: system, Value: externalID}
	var rec CustomerRecord
	var outcome string
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		// Phones are read with the rules of the site of record: the one
		// given, else the stored customer's.
		site := uuid.Nil
		if in.SiteID != nil {
			site = *in.SiteID
		} else if id, _, err := customerByExternal(ctx, tx, tenant, system, externalID); err == nil {
			var s *uuid.UUID
			if err := tx.QueryRow(ctx, `SELECT site_id FROM customers WHERE tenant_id = $1 AND id = $2`, tenant, id).Scan(&s); err != nil {
				return fmt.Errorf("upsert customer: site: %w", err)
			}
			site = siteOf(CustomerRecord{SiteID: s})
		}
		ids, err := normalizeIdentities(ctx, tx, tenant, site, in.Identities)
		if err != nil {
			return err
		}
		if err := lockIdentities(ctx, tx, tenant, lockList(append([]IdentityInput{ext}, ids...))); err != nil {
			return err
		}
		id, deleted, err := customerByExternal(ctx, tx, tenant, system, externalID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if deleted {
			return &ConflictError{Field: KindExternal, Other: "customer", OtherID: id, Deleted: true}
		}
		for _, i := range ids {
			if err := refuseTaken(ctx, tx, tenant, id, i); err != nil {
				return err
			}
		}
		if id == uuid.Nil {
			outcome = UpsertCreated
			rec, err = in.CustomerFields.apply(CustomerRecord{ID: dbid.New(), Kind: "person", Tier: "standard"})
			if err != nil {
				return err
			}
			if err := checkCustomerRefs(ctx, tx, tenant, rec); err != nil {
				return err
			}
			if err := writeCustomer(ctx, tx, tenant, &rec, true); err != nil {
				return err
			}
			if _, err := insertIdentities(ctx, tx, tenant, rec.ID, append([]IdentityInput{ext}, ids...)); err != nil {
				return err
			}
			if rec, err = customerRecord(ctx, tx, tenant, rec.ID, false); err != nil {
				return err
			}
			return enqueueWebhook(ctx, tx, tenant, EventCustomerCreated, map[string]any{"customer_id": rec.ID, "customer": rec})
		}
		// Identities first, so that a field change's webhook carries them.
		added, err := insertIdentities(ctx, tx, tenant, id, ids)
		if err != nil {
			return err
		}
		var changed bool
		if rec, changed, err = updateCustomer(ctx, tx, tenant, actor, id, in.CustomerFields); err != nil {
			return err
		}
		switch {
		case changed:
			outcome = UpsertUpdated
		case added > 0:
			outcome = UpsertUpdated
			if err := touchCustomer(ctx, tx, tenant, id); err != nil {
				return err
			}
		default:
			outcome = UpsertUnchanged
		}
		return nil
	})
	if err != nil {
		return CustomerRecord{}, "", err
	}
	// updateCustomer's and touchCustomer's records miss nothing, but a
	// fresh read keeps the answer the same whichever path ran.
	if rec, err = s.CustomerRecord(ctx, tenant, rec.ID); err != nil {
		return CustomerRecord{}, "", err
	}
	return rec, outcome, nil
}

// CustomerRef names a customer by id or by the id the calling system knows
// it by (in the same system as the upserted record).
type CustomerRef struct {
	CustomerID         uuid.UUID
	CustomerExternalID string
}

func (r CustomerRef) given() bool { return r.CustomerID != uuid.Nil || r.CustomerExternalID != "" }

// resolveCustomerRef returns the customer r names, or ErrInvalid with the
// field's name when it names none of the tenant's (live) customers.
func resolveCustomerRef(ctx context.Context, q dbtx, tenant uuid.UUID, system, field string, r CustomerRef) (uuid.UUID, error) {
	if r.CustomerID != uuid.Nil {
		if err := checkRef(ctx, q, tenant, &r.CustomerID, "customer", field+"customer_id"); err != nil {
			return uuid.Nil, err
		}
		return r.CustomerID, nil
	}
	id, deleted, err := customerByExternal(ctx, q, tenant, system, r.CustomerExternalID)
	if errors.Is(err, ErrNotFound) || deleted {
		return uuid.Nil, invalid("%scustomer_external_id names no customer of system %s", field, system)
	}
	return id, err
}

// byExternal finds the record of kind, kept in table, that a system knows
// by id. Not found is ErrNotFound. table is always a constant of ours: it
// goes into the SQL text.
func byExternal(ctx context.Context, q dbtx, tenant uuid.UUID, kind, table, system, id string) (uuid.UUID, error) {
	var rec uuid.UUID
	err := q.QueryRow(ctx, `SELECT id FROM `+table+` WHERE tenant_id = $1 AND external_system = $2 AND external_id = $3`,
		tenant, system, id).Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, ErrNotFound
	} else if err != nil {
		return uuid.Nil, fmt.Errorf("%s by external id: %w", kind, err)
	}
	return rec, nil
}

// vehicleByExternal finds the vehicle a system knows by id.
func vehicleByExternal(ctx context.Context, q dbtx, tenant uuid.UUID, system, id string) (uuid.UUID, error) {
	return byExternal(ctx, q, tenant, "vehicle", "vehicles", system, id)
}

// VehicleOwner links an upserted vehicle to a customer in a role.
type VehicleOwner struct {
	CustomerRef
	Role string
}

// VehicleUpsert is a vehicle as another system sends it: fields left nil
// stay; the customers listed are linked (existing links of others stay).
type VehicleUpsert struct {
	VehicleFields
	Customers []VehicleOwner
}

// UpsertVehicle creates or updates the vehicle system knows as externalID.
// The same record twice changes nothing (UpsertUnchanged).
func (s *Store) UpsertVehicle(ctx context.Context, tenant uuid.UUID, system, externalID string, in VehicleUpsert) (VehicleRecord, string, error) {
	system, externalID, err := checkExternal(system, externalID)
	if err != nil {
		return VehicleRecord{}, "", err
	}
	if len(in.Customers) > 50 {
		return VehicleRecord{}, "", invalid("at most 50 customers per vehicle")
	}
	var rec VehicleRecord
	var outcome string
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockExternal(ctx, tx, tenant, "vehicle", system, externalID); err != nil {
			return err
		}
		type link struct {
			customer uuid.UUID
			role     string
		}
		links := make([]link, len(in.Customers))
		for i, o := range in.Customers {
			field := fmt.Sprintf("customers[%d].", i)
			if !o.given() {
				return invalid("%s needs customer_id or customer_external_id", strings.TrimSuffix(field, "."))
			}
			role, err := checkRole(o.Role)
			if err != nil {
				return invalid("%srole must be owner, driver, household or fleet", field)
			}
			c, err := resolveCustomerRef(ctx, tx, tenant, system, field, o.CustomerRef)
			if err != nil {
				return err
			}
			links[i] = link{c, role}
		}
		id, err := vehicleByExternal(ctx, tx, tenant, system, externalID)
		changed := false
		switch {
		case errors.Is(err, ErrNotFound):
			outcome, changed = UpsertCreated, true
			v, err := in.VehicleFields.apply(VehicleRecord{ID: dbid.New(), ExternalSystem: system, ExternalID: externalID})
			if err != nil {
				return err
			}
			if err := writeVehicle(ctx, tx, tenant, v, true); err != nil {
				return err
			}
			id = v.ID
		case err != nil:
			return err
		default:
			if _, changed, err = updateVehicle(ctx, tx, tenant, id, in.VehicleFields); err != nil {
				return err
			}
			outcome = UpsertUnchanged
		}
		linked := false
		for _, l := range links {
			ch, err := linkVehicle(ctx, tx, tenant, l.customer, id, l.role)
			if err != nil {
				return err
			}
			linked = linked || ch
		}
		if outcome != UpsertCreated && (changed || linked) {
			outcome = UpsertUpdated
			if !changed {
				if _, err := tx.Exec(ctx, `UPDATE vehicles SET updated_at = now() WHERE tenant_id = $1 AND id = $2`, tenant, id); err != nil {
					return fmt.Errorf("touch vehicle: %w", err)
				}
			}
		}
		if rec, err = vehicleRecord(ctx, tx, tenant, id, false); err != nil {
			return err
		}
		// One event per upsert, after the links: an unchanged record sends
		// none.
		through := uuid.Nil
		if len(links) > 0 {
			through = links[0].customer
		}
		switch outcome {
		case UpsertCreated:
			return enqueueWebhook(ctx, tx, tenant, EventVehicleCreated, vehicleWebhook(rec, through))
		case UpsertUpdated:
			return enqueueWebhook(ctx, tx, tenant, EventVehicleUpdated, vehicleWebhook(rec, through))
		}
		return nil
	})
	if err != nil {
		return VehicleRecord{}, "", err
	}
	return rec, outcome, nil
}

// upsertTarget does what the upserts of orders and deals (records of one
// customer that may point at a vehicle) do before they write, in this
// order: take the record's lock, put the vehicle the system names by its own
// id in *vehicleID, resolve the customer named (uuid.Nil when none is), and
// find the record (id uuid.Nil when the system's id is new: then a customer
// is required). kind names the record in errors and the lock; table holds it.
func upsertTarget(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, kind, table, system, externalID string,
	ref CustomerRef, vehicleExternalID string, vehicleID **uuid.UUID) (id, customer uuid.UUID, err error) {
	if err := lockExternal(ctx, tx, tenant, kind, system, externalID); err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	if vehicleExternalID != "" {
		v, err := vehicleByExternal(ctx, tx, tenant, system, vehicleExternalID)
		if errors.Is(err, ErrNotFound) {
			return uuid.Nil, uuid.Nil, invalid("vehicle_external_id names no vehicle of system %s", system)
		} else if err != nil {
			return uuid.Nil, uuid.Nil, err
		}
		*vehicleID = &v
	}
	if ref.given() {
		if customer, err = resolveCustomerRef(ctx, tx, tenant, system, "", ref); err != nil {
			return uuid.Nil, uuid.Nil, err
		}
	}
	id, err = byExternal(ctx, tx, tenant, kind, table, system, externalID)
	if errors.Is(err, ErrNotFound) {
		if customer == uuid.Nil {
			return uuid.Nil, uuid.Nil, invalid("a new %s needs customer_id or customer_external_id", kind)
		}
		return uuid.Nil, customer, nil
	} else if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	return id, customer, nil
}

// keepCustomer refuses an upsert that names another customer than the
// record's (current): a record never moves between customers here, merging
// does that.
func keepCustomer(kind string, named, current uuid.UUID) error {
	if named != uuid.Nil && named != current {
		return invalid("the %s belongs to another customer; merge the customers instead", kind)
	}
	return nil
}

// updateOutcome is what an upsert that found its record did.
func updateOutcome(changed bool) string {
	if changed {
		return UpsertUpdated
	}
	return UpsertUnchanged
}

// OrderUpsert is a service order as another system sends it: the customer
// (required when creating; an order never moves to another customer here,
// merging does that), the vehicle by id or by the system's id, and fields
// (nil stays).
type OrderUpsert struct {
	OrderFields
	Customer          CustomerRef
	VehicleExternalID string
}

// UpsertOrder creates or updates the order system knows as externalID. A
// number another order has is a *ConflictError naming that order.
func (s *Store) UpsertOrder(ctx context.Context, tenant uuid.UUID, system, externalID string, in OrderUpsert) (OrderRecord, string, error) {
	system, externalID, err := checkExternal(system, externalID)
	if err != nil {
		return OrderRecord{}, "", err
	}
	var rec OrderRecord
	var outcome string
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		id, customer, err := upsertTarget(ctx, tx, tenant, "order", "service_orders", system, externalID,
			in.Customer, in.VehicleExternalID, &in.VehicleID)
		if err != nil {
			return err
		}
		if id == uuid.Nil {
			outcome = UpsertCreated
			rec, err = in.OrderFields.apply(OrderRecord{ID: dbid.New(), CustomerID: customer, Kind: "repair", Status: "booked",
				Amount: "0.00", ExternalSystem: system, ExternalID: externalID})
			if err != nil {
				return err
			}
			if err := writeOrder(ctx, tx, tenant, &rec, true); err != nil {
				return err
			}
			return orderEvent(ctx, tx, tenant, EventOrderCreated, rec)
		}
		cur, err := orderRecord(ctx, tx, tenant, id, true)
		if err != nil {
			return err
		}
		if err := keepCustomer("order", customer, cur.CustomerID); err != nil {
			return err
		}
		var changed bool
		if rec, changed, err = updateOrder(ctx, tx, tenant, id, in.OrderFields); err != nil {
			return err
		}
		outcome = updateOutcome(changed)
		return nil
	})
	if err != nil {
		return OrderRecord{}, "", err
	}
	return rec, outcome, nil
}

// DealUpsert is a deal as another system sends it (see OrderUpsert).
type DealUpsert struct {
	DealFields
	Customer          CustomerRef
	VehicleExternalID string
}

// UpsertDeal creates or updates the deal system knows as externalID.
func (s *Store) UpsertDeal(ctx context.Context, tenant uuid.UUID, system, externalID string, in DealUpsert) (DealRecord, string, error) {
	system, externalID, err := checkExternal(system, externalID)
	if err != nil {
		return DealRecord{}, "", err
	}
	var rec DealRecord
	var outcome string
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		id, customer, err := upsertTarget(ctx, tx, tenant, "deal", "deals", system, externalID,
			in.Customer, in.VehicleExternalID, &in.VehicleID)
		if err != nil {
			return err
		}
		if id == uuid.Nil {
			outcome = UpsertCreated
			rec, err = in.DealFields.apply(DealRecord{ID: dbid.New(), CustomerID: customer, Stage: "lead", Value: "0.00",
				ExternalSystem: system, ExternalID: externalID})
			if err != nil {
				return err
			}
			if err := writeDeal(ctx, tx, tenant, &rec, true); err != nil {
				return err
			}
			return dealEvent(ctx, tx, tenant, EventDealCreated, rec)
		}
		cur, err := dealRecord(ctx, tx, tenant, id, true)
		if err != nil {
			return err
		}
		if err := keepCustomer("deal", customer, cur.CustomerID); err != nil {
			return err
		}
		var changed bool
		if rec, changed, err = updateDeal(ctx, tx, tenant, id, in.DealFields); err != nil {
			return err
		}
		outcome = updateOutcome(changed)
		return nil
	})
	if err != nil {
		return DealRecord{}, "", err
	}
	return rec, outcome, nil
}
