package agentdesk

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// Records is what the CRM API needs of crm: the records, their writes and
// the systems' upserts by external id. crm.Store implements it.
type Records interface {
	CustomerRecord(ctx context.Context, tenant, id uuid.UUID) (crm.CustomerRecord, error)
	NewCustomerRecord(ctx context.Context, tenant, actor uuid.UUID, f crm.CustomerFields, ids []crm.IdentityInput) (crm.CustomerRecord, error)
	UpdateCustomer(ctx context.Context, tenant, actor, id uuid.UUID, f crm.CustomerFields) (crm.CustomerRecord, bool, error)
	AddIdentity(ctx context.Context, tenant, customer uuid.UUID, in crm.IdentityInput) (crm.IdentityRecord, error)
	RemoveIdentity(ctx context.Context, tenant, customer, identity uuid.UUID) error

	Vehicle(ctx context.Context, tenant, id uuid.UUID) (crm.VehicleRecord, error)
	CustomerVehicles(ctx context.Context, tenant, customer uuid.UUID) ([]crm.VehicleRecord, error)
	CreateVehicle(ctx context.Context, tenant, customer uuid.UUID, role string, f crm.VehicleFields) (crm.VehicleRecord, error)
	LinkVehicle(ctx context.Context, tenant, customer, vehicle uuid.UUID, role string) (crm.VehicleRecord, error)
	UpdateVehicle(ctx context.Context, tenant, id uuid.UUID, f crm.VehicleFields) (crm.VehicleRecord, bool, error)
	DeleteVehicle(ctx context.Context, tenant, id uuid.UUID) error

	Order(ctx context.Context, tenant, id uuid.UUID) (crm.OrderRecord, error)
	CustomerOrders(ctx context.Context, tenant, customer uuid.UUID) ([]crm.OrderRecord, error)
	CreateOrder(ctx context.Context, tenant, customer uuid.UUID, f crm.OrderFields) (crm.OrderRecord, error)
	UpdateOrder(ctx context.Context, tenant, id uuid.UUID, f crm.OrderFields) (crm.OrderRecord, bool, error)

	DealRecord(ctx context.Context, tenant, id uuid.UUID) (crm.DealRecord, error)
	CustomerDeals(ctx context.Context, tenant, customer uuid.UUID) ([]crm.DealRecord, error)
	CreateDeal(ctx context.Context, tenant, customer uuid.UUID, f crm.DealFields) (crm.DealRecord, error)
	UpdateDeal(ctx context.Context, tenant, id uuid.UUID, f crm.DealFields) (crm.DealRecord, bool, error)

	FollowUp(ctx context.Context, tenant, id uuid.UUID) (crm.FollowUp, error)
	FollowUps(ctx context.Context, tenant, customer uuid.UUID, openOnly bool) ([]crm.FollowUp, error)
	CreateFollowUp(ctx context.Context, tenant, customer, creator uuid.UUID, n crm.NewFollowUp) (crm.FollowUp, error)
	UpdateFollowUp(ctx context.Context, tenant, id uuid.UUID, f crm.FollowUpFields) (crm.FollowUp, bool, error)
	DeleteFollowUp(ctx context.Context, tenant, id uuid.UUID) error

	DismissDuplicate(ctx context.Context, tenant, actor, customer, other uuid.UUID, reason string) error

	UpsertCustomer(ctx context.Context, tenant, actor uuid.UUID, system, externalID string, in crm.CustomerUpsert) (crm.CustomerRecord, string, error)
	UpsertVehicle(ctx context.Context, tenant uuid.UUID, system, externalID string, in crm.VehicleUpsert) (crm.VehicleRecord, string, error)
	UpsertOrder(ctx context.Context, tenant uuid.UUID, system, externalID string, in crm.OrderUpsert) (crm.OrderRecord, string, error)
	UpsertDeal(ctx context.Context, tenant uuid.UUID, system, externalID string, in crm.DealUpsert) (crm.DealRecord, string, error)
}

//go:embed openapi.json
var openAPIDoc []byte

// openAPI serves the hand-written OpenAPI 3.1 description of the JSON API;
// TestOpenAPIMatchesRoutes keeps it and routes.go in step.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPIDoc)
}

// crmHandler wraps a CRM API handler: the records must be wired, and the
// caller is passed in.
func (s *Server) crmHandler(h func(w http.ResponseWriter, r *http.Request, c caller) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.records == nil {
			s.writeError(w, r, errNoRecords)
			return
		}
		if err := h(w, r, callerOf(r)); err != nil {
			s.writeCRMError(w, r, err)
		}
	}
}

// writeCRMError answers a conflict with the other record's id, so that a
// system can link or merge; everything else as writeError does.
func (s *Server) writeCRMError(w http.ResponseWriter, r *http.Request, err error) {
	var ce *crm.ConflictError
	if errors.As(err, &ce) {
		writeJSON(w, http.StatusConflict, map[string]any{
			"error": "conflict", "message": ce.Error(),
			"conflict": map[string]any{"field": ce.Field, "other": ce.Other, "other_id": ce.OtherID, "deleted": ce.Deleted},
		})
		return
	}
	s.writeError(w, r, err)
}

// pathID parses a route's id parameter.
func pathID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(chi.URLParam(r, name))
	if err != nil {
		return uuid.Nil, errBadID
	}
	return id, nil
}

// recordKind is a kind of record with routes of its own (/api/vehicles/{id},
// /api/orders/{id}, …), B the body its PATCH takes. A record is as visible
// as its customer: visible answers whether the caller may see one, with the
// error mayView gives (not found when not).
type recordKind[R, B any] struct {
	load    func(ctx context.Context, tenant, id uuid.UUID) (R, error)
	visible func(r *http.Request, c caller, rec R) error
	check   func(body B) error // optional: refuses a body whatever the record
	update  func(ctx context.Context, c caller, id uuid.UUID, body B) (R, error)
}

// visibleRecord loads the record the route's id names, if the caller may
// see it.
func visibleRecord[R, B any](r *http.Request, c caller, k recordKind[R, B], id uuid.UUID) (R, error) {
	rec, err := k.load(r.Context(), c.tenant, id)
	if err != nil {
		return rec, err
	}
	return rec, k.visible(r, c, rec)
}

// getRecord answers GET /api/{kind}/{id}.
func getRecord[R, B any](w http.ResponseWriter, r *http.Request, c caller, k recordKind[R, B]) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	rec, err := visibleRecord(r, c, k, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

// updateRecord answers PATCH /api/{kind}/{id}. The body is read and checked
// before the record is loaded: a bad body is a 400 whether or not the
// record exists or may be seen.
func updateRecord[R, B any](w http.ResponseWriter, r *http.Request, c caller, k recordKind[R, B]) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var body B
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if k.check != nil {
		if err := k.check(body); err != nil {
			return err
		}
	}
	if _, err := visibleRecord(r, c, k, id); err != nil {
		return err
	}
	rec, err := k.update(r.Context(), c, id, body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

// customerList answers GET /api/customers/{id}/{kind}: the customer's
// records, if the caller may see the customer.
func customerList[T any](s *Server, w http.ResponseWriter, r *http.Request, c caller,
	list func(ctx context.Context, tenant, customer uuid.UUID) ([]T, error)) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.mayView(r, c, id); err != nil {
		return err
	}
	recs, err := list(r.Context(), c.tenant, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, recs)
	return nil
}

// customerCreate answers POST /api/customers/{id}/{kind}: a record of the
// customer made from a body B, if the caller may see the customer. As in
// updateRecord, a bad body is a 400 before visibility is asked.
func customerCreate[B, R any](s *Server, w http.ResponseWriter, r *http.Request, c caller,
	create func(ctx context.Context, c caller, customer uuid.UUID, body B) (R, error)) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var body B
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if err := s.mayView(r, c, id); err != nil {
		return err
	}
	rec, err := create(r.Context(), c, id, body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rec)
	return nil
}

// decimalText is an amount given as a JSON string ("860.00") or number
// (860): money is kept as text, never as a float.
type decimalText string

func (d *decimalText) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*d = decimalText(s)
		return nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		return err
	}
	*d = decimalText(n.String())
	return nil
}

func decimalPtr(d *decimalText) *string {
	if d == nil {
		return nil
	}
	s := string(*d)
	return &s
}

// idField maps a PATCH id field: absent nil (unchanged), null uuid.Nil
// (clear), else the id.
func idField(n nullable[uuid.UUID]) *uuid.UUID {
	switch {
	case !n.Set:
		return nil
	case n.Null:
		return &uuid.Nil
	}
	return &n.V
}

// timeField maps a PATCH time field the same way (zero: clear).
func timeField(n nullable[time.Time]) *time.Time {
	switch {
	case !n.Set:
		return nil
	case n.Null:
		return &time.Time{}
	}
	return &n.V
}

// strField maps a PATCH string field that null clears ("").
func strField(n nullable[string]) *string {
	switch {
	case !n.Set:
		return nil
	case n.Null:
		return new(string)
	}
	return &n.V
}

// mustField maps a field that cannot be empty (a kind, a status, an
// amount): absent nil (unchanged), null a 400 naming it, else the value.
func mustField[T any](name string, n nullable[T]) (*T, error) {
	switch {
	case !n.Set:
		return nil, nil
	case n.Null:
		return nil, &deskError{http.StatusBadRequest, "invalid", name + " cannot be cleared (null); leave it out to keep it"}
	}
	return &n.V, nil
}

// fieldErrs returns the first of errs that is not nil.
func fieldErrs(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func intField(n nullable[int]) *int {
	switch {
	case !n.Set:
		return nil
	case n.Null:
		return new(int)
	}
	return &n.V
}

// customerView is a customer as the caller may see it: people get
// identities masked (full values through /reveal, audited), systems that
// feed the CRM get their data back in full.
func customerView(c caller, rec crm.CustomerRecord) crm.CustomerRecord {
	if c.viaKey() {
		return rec
	}
	ids := make([]crm.IdentityRecord, len(rec.Identities))
	for i, id := range rec.Identities {
		id.Value = crm.MaskIdentity(crm.Identity{Kind: id.Kind, System: id.System, Value: id.Value}).Value
		ids[i] = id
	}
	rec.Identities = ids
	return rec
}

// The write bodies tell a field left out (nil in crm's fields: it stays)
// from one sent as null (cleared: "" or none), for PATCH and upserts alike;
// null on a field that cannot be empty is a 400 that names it.
type customerBody struct {
	Kind       nullable[string]    `json:"kind"`
	Name       nullable[string]    `json:"name"`
	Language   nullable[string]    `json:"language"`
	Notes      nullable[string]    `json:"notes"`
	Tier       nullable[string]    `json:"tier"`
	SiteID     nullable[uuid.UUID] `json:"site_id"`
	Identities []crm.IdentityInput `json:"identities"`
}

func (b customerBody) fields() (crm.CustomerFields, error) {
	f := crm.CustomerFields{Name: strField(b.Name), Language: strField(b.Language), Notes: strField(b.Notes), SiteID: idField(b.SiteID)}
	var kindErr, tierErr error
	f.Kind, kindErr = mustField("kind", b.Kind)
	f.Tier, tierErr = mustField("tier", b.Tier)
	return f, fieldErrs(kindErr, tierErr)
}

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request, c caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.mayView(r, c, id); err != nil {
		return err
	}
	rec, err := s.records.CustomerRecord(r.Context(), c.tenant, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, customerView(c, rec))
	return nil
}

func (s *Server) createCustomer(w http.ResponseWriter, r *http.Request, c caller) error {
	var body customerBody
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	f, err := body.fields()
	if err != nil {
		return err
	}
	rec, err := s.records.NewCustomerRecord(r.Context(), c.tenant, c.user, f, body.Identities)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, customerView(c, rec))
	return nil
}

// updateCustomerRecord changes the fields given; the owner changes through
// POST /api/customers/{id}/owner, which applies the ownership rules.
func (s *Server) updateCustomerRecord(w http.ResponseWriter, r *http.Request, c caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var body customerBody
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if body.Identities != nil {
		return &deskError{http.StatusBadRequest, "invalid", "identities change through /api/customers/{id}/identities"}
	}
	f, err := body.fields()
	if err != nil {
		return err
	}
	if err := s.mayView(r, c, id); err != nil {
		return err
	}
	rec, _, err := s.records.UpdateCustomer(r.Context(), c.tenant, c.user, id, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, customerView(c, rec))
	return nil
}

func (s *Server) addIdentity(w http.ResponseWriter, r *http.Request, c caller) error {
	return customerCreate(s, w, r, c, func(ctx context.Context, c caller, customer uuid.UUID, in crm.IdentityInput) (crm.IdentityRecord, error) {
		rec, err := s.records.AddIdentity(ctx, c.tenant, customer, in)
		if err == nil && !c.viaKey() {
			rec.Value = crm.MaskIdentity(crm.Identity{Kind: rec.Kind, System: rec.System, Value: rec.Value}).Value
		}
		return rec, err
	})
}

func (s *Server) removeIdentity(w http.ResponseWriter, r *http.Request, c caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	identity, err := pathID(r, "identity")
	if err != nil {
		return err
	}
	if err := s.mayView(r, c, id); err != nil {
		return err
	}
	if err := s.records.RemoveIdentity(r.Context(), c.tenant, id, identity); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type vehicleBody struct {
	VIN          nullable[string] `json:"vin"`
	Plate        nullable[string] `json:"plate"`
	Make         nullable[string] `json:"make"`
	Model        nullable[string] `json:"model"`
	Year         nullable[int]    `json:"year"`
	MileageKM    nullable[int]    `json:"mileage_km"`
	PurchaseDate nullable[string] `json:"purchase_date"`
}

// fields: every vehicle field may be cleared.
func (b vehicleBody) fields() crm.VehicleFields {
	return crm.VehicleFields{VIN: strField(b.VIN), Plate: strField(b.Plate), Make: strField(b.Make), Model: strField(b.Model),
		Year: intField(b.Year), MileageKM: intField(b.MileageKM), PurchaseDate: strField(b.PurchaseDate)}
}

func (s *Server) customerVehicles(w http.ResponseWriter, r *http.Request, c caller) error {
	return customerList(s, w, r, c, s.records.CustomerVehicles)
}

type customerVehicleBody struct {
	vehicleBody
	Role      string     `json:"role"`
	VehicleID *uuid.UUID `json:"vehicle_id"`
}

// addCustomerVehicle creates a vehicle for the customer, or links an
// existing one (vehicle_id) in a role.
func (s *Server) addCustomerVehicle(w http.ResponseWriter, r *http.Request, c caller) error {
	return customerCreate(s, w, r, c, func(ctx context.Context, c caller, customer uuid.UUID, b customerVehicleBody) (crm.VehicleRecord, error) {
		if b.VehicleID != nil {
			return s.records.LinkVehicle(ctx, c.tenant, customer, *b.VehicleID, b.Role)
		}
		return s.records.CreateVehicle(ctx, c.tenant, customer, b.Role, b.fields())
	})
}

// vehicleVisible: a vehicle is visible when one of its customers is (or it
// has none).
func (s *Server) vehicleVisible(r *http.Request, c caller, v crm.VehicleRecord) error {
	if len(v.Customers) == 0 {
		return nil
	}
	for _, l := range v.Customers {
		if err := s.mayView(r, c, l.CustomerID); err == nil {
			return nil
		} else if !errors.Is(err, crm.ErrNotFound) {
			return err
		}
	}
	return crm.ErrNotFound
}

func (s *Server) vehicleKind() recordKind[crm.VehicleRecord, vehicleBody] {
	return recordKind[crm.VehicleRecord, vehicleBody]{
		load:    s.records.Vehicle,
		visible: s.vehicleVisible,
		update: func(ctx context.Context, c caller, id uuid.UUID, b vehicleBody) (crm.VehicleRecord, error) {
			v, _, err := s.records.UpdateVehicle(ctx, c.tenant, id, b.fields())
			return v, err
		},
	}
}

func (s *Server) getVehicle(w http.ResponseWriter, r *http.Request, c caller) error {
	return getRecord(w, r, c, s.vehicleKind())
}

func (s *Server) updateVehicle(w http.ResponseWriter, r *http.Request, c caller) error {
	return updateRecord(w, r, c, s.vehicleKind())
}

// errDeleteRole: people delete vehicles as supervisors or admins (as they
// delete customers); systems need a write key.
var errDeleteRole = &deskError{http.StatusForbidden, "forbidden", "deleting a vehicle needs a supervisor or an admin"}

// deleteRecord answers DELETE /api/{kind}/{id} for a record the caller may
// see; del removes it.
func deleteRecord[R, B any](w http.ResponseWriter, r *http.Request, c caller, k recordKind[R, B],
	del func(ctx context.Context, tenant, id uuid.UUID) error) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := visibleRecord(r, c, k, id); err != nil {
		return err
	}
	if err := del(r.Context(), c.tenant, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteVehicle removes a vehicle entered by mistake, with its links; one a
// service order or deal names is 409 (those are history).
func (s *Server) deleteVehicle(w http.ResponseWriter, r *http.Request, c caller) error {
	if !c.viaKey() && !c.sess.User.Role.Allows(org.RoleSupervisor) {
		return errDeleteRole
	}
	return deleteRecord(w, r, c, s.vehicleKind(), func(ctx context.Context, tenant, id uuid.UUID) error {
		if err := s.records.DeleteVehicle(ctx, tenant, id); errors.Is(err, crm.ErrConflict) {
			return errVehicleInUse
		} else if err != nil {
			return err
		}
		return nil
	})
}

var errVehicleInUse = &deskError{http.StatusConflict, "conflict", "service orders or deals name this vehicle; it cannot be deleted"}

type orderBody struct {
	Number        nullable[string]      `json:"number"`
	Kind          nullable[string]      `json:"kind"`
	Status        nullable[string]      `json:"status"`
	Description   nullable[string]      `json:"description"`
	Amount        nullable[decimalText] `json:"amount"`
	WarrantyClaim nullable[string]      `json:"warranty_claim"`
	VehicleID     nullable[uuid.UUID]   `json:"vehicle_id"`
	SiteID        nullable[uuid.UUID]   `json:"site_id"`
	AdvisorID     nullable[uuid.UUID]   `json:"advisor_id"`
	PromisedAt    nullable[time.Time]   `json:"promised_at"`
}

func (b orderBody) fields() (crm.OrderFields, error) {
	f := crm.OrderFields{Description: strField(b.Description), WarrantyClaim: strField(b.WarrantyClaim),
		VehicleID: idField(b.VehicleID), SiteID: idField(b.SiteID), AdvisorID: idField(b.AdvisorID), PromisedAt: timeField(b.PromisedAt)}
	var errs [4]error
	f.Number, errs[0] = mustField("number", b.Number)
	f.Kind, errs[1] = mustField("kind", b.Kind)
	f.Status, errs[2] = mustField("status", b.Status)
	var amount *decimalText
	amount, errs[3] = mustField("amount", b.Amount)
	f.Amount = decimalPtr(amount)
	return f, fieldErrs(errs[:]...)
}

func (s *Server) customerOrders(w http.ResponseWriter, r *http.Request, c caller) error {
	return customerList(s, w, r, c, s.records.CustomerOrders)
}

func (s *Server) createOrder(w http.ResponseWriter, r *http.Request, c caller) error {
	return customerCreate(s, w, r, c, func(ctx context.Context, c caller, customer uuid.UUID, b orderBody) (crm.OrderRecord, error) {
		f, err := b.fields()
		if err != nil {
			return crm.OrderRecord{}, err
		}
		return s.records.CreateOrder(ctx, c.tenant, customer, f)
	})
}

func (s *Server) orderKind() recordKind[crm.OrderRecord, orderBody] {
	return recordKind[crm.OrderRecord, orderBody]{
		load:    s.records.Order,
		visible: func(r *http.Request, c caller, o crm.OrderRecord) error { return s.mayView(r, c, o.CustomerID) },
		check:   func(b orderBody) error { _, err := b.fields(); return err },
		update: func(ctx context.Context, c caller, id uuid.UUID, b orderBody) (crm.OrderRecord, error) {
			f, _ := b.fields() // checked
			o, _, err := s.records.UpdateOrder(ctx, c.tenant, id, f)
			return o, err
		},
	}
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request, c caller) error {
	return getRecord(w, r, c, s.orderKind())
}

func (s *Server) updateOrder(w http.ResponseWriter, r *http.Request, c caller) error {
	return updateRecord(w, r, c, s.orderKind())
}

type dealBody struct {
	Stage         nullable[string]      `json:"stage"`
	VehicleDesc   nullable[string]      `json:"vehicle_desc"`
	Value         nullable[decimalText] `json:"value"`
	ExpectedClose nullable[string]      `json:"expected_close"`
	ContractRef   nullable[string]      `json:"contract_ref"`
	VehicleID     nullable[uuid.UUID]   `json:"vehicle_id"`
	SalespersonID nullable[uuid.UUID]   `json:"salesperson_id"`
}

func (b dealBody) fields() (crm.DealFields, error) {
	f := crm.DealFields{VehicleDesc: strField(b.VehicleDesc), ExpectedClose: strField(b.ExpectedClose),
		ContractRef: strField(b.ContractRef), VehicleID: idField(b.VehicleID), SalespersonID: idField(b.SalespersonID)}
	var stageErr, valueErr error
	f.Stage, stageErr = mustField("stage", b.Stage)
	var value *decimalText
	value, valueErr = mustField("value", b.Value)
	f.Value = decimalPtr(value)
	return f, fieldErrs(stageErr, valueErr)
}

func (s *Server) customerDeals(w http.ResponseWriter, r *http.Request, c caller) error {
	return customerList(s, w, r, c, s.records.CustomerDeals)
}

func (s *Server) createDeal(w http.ResponseWriter, r *http.Request, c caller) error {
	return customerCreate(s, w, r, c, func(ctx context.Context, c caller, customer uuid.UUID, b dealBody) (crm.DealRecord, error) {
		f, err := b.fields()
		if err != nil {
			return crm.DealRecord{}, err
		}
		return s.records.CreateDeal(ctx, c.tenant, customer, f)
	})
}

func (s *Server) dealKind() recordKind[crm.DealRecord, dealBody] {
	return recordKind[crm.DealRecord, dealBody]{
		load:    s.records.DealRecord,
		visible: func(r *http.Request, c caller, d crm.DealRecord) error { return s.mayView(r, c, d.CustomerID) },
		check:   func(b dealBody) error { _, err := b.fields(); return err },
		update: func(ctx context.Context, c caller, id uuid.UUID, b dealBody) (crm.DealRecord, error) {
			f, _ := b.fields() // checked
			d, _, err := s.records.UpdateDeal(ctx, c.tenant, id, f)
			return d, err
		},
	}
}

func (s *Server) getDeal(w http.ResponseWriter, r *http.Request, c caller) error {
	return getRecord(w, r, c, s.dealKind())
}

func (s *Server) updateDeal(w http.ResponseWriter, r *http.Request, c caller) error {
	return updateRecord(w, r, c, s.dealKind())
}

func (s *Server) customerFollowUps(w http.ResponseWriter, r *http.Request, c caller) error {
	openOnly := r.URL.Query().Get("open") == "true"
	return customerList(s, w, r, c, func(ctx context.Context, tenant, customer uuid.UUID) ([]crm.FollowUp, error) {
		return s.records.FollowUps(ctx, tenant, customer, openOnly)
	})
}

type newFollowUpBody struct {
	ContactID  *uuid.UUID `json:"contact_id"`
	AssignedTo uuid.UUID  `json:"assigned_to"`
	Kind       string     `json:"kind"`
	DueAt      time.Time  `json:"due_at"`
	Note       string     `json:"note"`
}

func (s *Server) createFollowUp(w http.ResponseWriter, r *http.Request, c caller) error {
	return customerCreate(s, w, r, c, func(ctx context.Context, c caller, customer uuid.UUID, b newFollowUpBody) (crm.FollowUp, error) {
		n := crm.NewFollowUp{AssignedTo: b.AssignedTo, Kind: b.Kind, DueAt: b.DueAt, Note: b.Note}
		if b.ContactID != nil {
			n.ContactID = *b.ContactID
		}
		return s.records.CreateFollowUp(ctx, c.tenant, customer, c.user, n)
	})
}

// followUpBody changes a follow-up: {"done": true} completes it (again:
// nothing changes), false opens it again; assigned_to, kind, due_at and
// note change those (null clears the note; the others cannot be cleared).
type followUpBody struct {
	Done       *bool               `json:"done"`
	AssignedTo nullable[uuid.UUID] `json:"assigned_to"`
	Kind       nullable[string]    `json:"kind"`
	DueAt      nullable[time.Time] `json:"due_at"`
	Note       nullable[string]    `json:"note"`
}

func (b followUpBody) fields() (crm.FollowUpFields, error) {
	f := crm.FollowUpFields{Done: b.Done, Note: strField(b.Note)}
	var errs [3]error
	f.AssignedTo, errs[0] = mustField("assigned_to", b.AssignedTo)
	f.Kind, errs[1] = mustField("kind", b.Kind)
	f.DueAt, errs[2] = mustField("due_at", b.DueAt)
	return f, fieldErrs(errs[:]...)
}

func (s *Server) followUpKind() recordKind[crm.FollowUp, followUpBody] {
	return recordKind[crm.FollowUp, followUpBody]{
		load:    s.records.FollowUp,
		visible: func(r *http.Request, c caller, f crm.FollowUp) error { return s.mayView(r, c, f.CustomerID) },
		check:   func(b followUpBody) error { _, err := b.fields(); return err },
		update: func(ctx context.Context, c caller, id uuid.UUID, b followUpBody) (crm.FollowUp, error) {
			f, _ := b.fields() // checked
			fu, _, err := s.records.UpdateFollowUp(ctx, c.tenant, id, f)
			return fu, err
		},
	}
}

// updateFollowUp changes or completes a follow-up; a body that changes
// nothing writes nothing and sends no webhook.
func (s *Server) updateFollowUp(w http.ResponseWriter, r *http.Request, c caller) error {
	return updateRecord(w, r, c, s.followUpKind())
}

// deleteFollowUp removes a follow-up of a customer the caller may see.
func (s *Server) deleteFollowUp(w http.ResponseWriter, r *http.Request, c caller) error {
	return deleteRecord(w, r, c, s.followUpKind(), s.records.DeleteFollowUp)
}

// customerTimelineAPI answers GET /api/customers/{id}/timeline for people
// (agents and above, in their scope) and for systems whose API key has the
// timeline scope: the customer's contacts with their messages, newest
// first; ?before= (RFC 3339, the last item's at) pages back, ?limit= 1 to
// 100 (default 20). Another tenant's customer, or one outside the
// caller's scope, is 404.
func (s *Server) customerTimelineAPI(w http.ResponseWriter, r *http.Request, c caller) error {
	if c.viaKey() && !c.hasScope(org.ScopeTimeline) {
		return errNoTimeline
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var before time.Time
	if b := q.Get("before"); b != "" {
		if before, err = time.Parse(time.RFC3339Nano, b); err != nil {
			return &deskError{http.StatusBadRequest, "invalid", "before must be an RFC 3339 time"}
		}
	}
	limit := 0
	if l := q.Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > 100 {
			return &deskError{http.StatusBadRequest, "invalid", "limit must be a number from 1 to 100"}
		}
	}
	channel := org.Channel(q.Get("channel"))
	if channel != "" && !channel.Valid() {
		return &deskError{http.StatusBadRequest, "invalid", "channel must be voice, chat or email"}
	}
	if err := s.mayView(r, c, id); err != nil {
		return err
	}
	items, err := s.contacts.Timeline(r.Context(), c.tenant, id, before, limit, channel)
	if err != nil {
		return err
	}
	if items == nil {
		items = []crm.TimelineItem{}
	}
	if c.viaKey() {
		s.log.InfoContext(r.Context(), "timeline read by api key", "tenant_id", c.tenant, "api_key_id", c.key,
			"customer_id", id, "items", len(items))
	}
	writeJSON(w, http.StatusOK, items)
	return nil
}

// writeUpsert answers an upsert: 201 when it created the record, 200 with
// "updated" or "unchanged" otherwise.
func writeUpsert(w http.ResponseWriter, outcome string, rec any) {
	status := http.StatusOK
	if outcome == crm.UpsertCreated {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"result": outcome, "record": rec})
}

func (s *Server) upsertCustomer(w http.ResponseWriter, r *http.Request, c caller) error {
	var body struct {
		customerBody
		OwnerID nullable[uuid.UUID] `json:"owner_id"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	f, err := body.fields()
	if err != nil {
		return err
	}
	f.OwnerID = idField(body.OwnerID)
	rec, outcome, err := s.records.UpsertCustomer(r.Context(), c.tenant, c.user, chi.URLParam(r, "system"), chi.URLParam(r, "external_id"),
		crm.CustomerUpsert{CustomerFields: f, Identities: body.Identities})
	if err != nil {
		return err
	}
	writeUpsert(w, outcome, customerView(c, rec))
	return nil
}

type customerRefBody struct {
	CustomerID         uuid.UUID `json:"customer_id"`
	CustomerExternalID string    `json:"customer_external_id"`
}

func (b customerRefBody) ref() crm.CustomerRef {
	return crm.CustomerRef{CustomerID: b.CustomerID, CustomerExternalID: b.CustomerExternalID}
}

func (s *Server) upsertVehicle(w http.ResponseWriter, r *http.Request, c caller) error {
	var body struct {
		vehicleBody
		Customers []struct {
			customerRefBody
			Role string `json:"role"`
		} `json:"customers"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	in := crm.VehicleUpsert{VehicleFields: body.fields()}
	for _, o := range body.Customers {
		in.Customers = append(in.Customers, crm.VehicleOwner{CustomerRef: o.ref(), Role: o.Role})
	}
	v, outcome, err := s.records.UpsertVehicle(r.Context(), c.tenant, chi.URLParam(r, "system"), chi.URLParam(r, "external_id"), in)
	if err != nil {
		return err
	}
	writeUpsert(w, outcome, v)
	return nil
}

func (s *Server) upsertOrder(w http.ResponseWriter, r *http.Request, c caller) error {
	var body struct {
		orderBody
		customerRefBody
		VehicleExternalID string `json:"vehicle_external_id"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	f, err := body.fields()
	if err != nil {
		return err
	}
	o, outcome, err := s.records.UpsertOrder(r.Context(), c.tenant, chi.URLParam(r, "system"), chi.URLParam(r, "external_id"),
		crm.OrderUpsert{OrderFields: f, Customer: body.ref(), VehicleExternalID: body.VehicleExternalID})
	if err != nil {
		return err
	}
	writeUpsert(w, outcome, o)
	return nil
}

func (s *Server) upsertDeal(w http.ResponseWriter, r *http.Request, c caller) error {
	var body struct {
		dealBody
		customerRefBody
		VehicleExternalID string `json:"vehicle_external_id"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	f, err := body.fields()
	if err != nil {
		return err
	}
	d, outcome, err := s.records.UpsertDeal(r.Context(), c.tenant, chi.URLParam(r, "system"), chi.URLParam(r, "external_id"),
		crm.DealUpsert{DealFields: f, Customer: body.ref(), VehicleExternalID: body.VehicleExternalID})
	if err != nil {
		return err
	}
	writeUpsert(w, outcome, d)
	return nil
}
