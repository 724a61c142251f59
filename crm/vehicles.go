package crm

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/internal/dbid"
)

// vinCheckWeights are the position weights of the ISO 3779 / North American
// check digit; position 9 (the digit itself) weighs nothing.
var vinCheckWeights = [17]int{8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2}

// vinValue transliterates a VIN character; ok is false for characters a
// VIN never has (I, O, Q, anything not an upper-case letter or a digit).
func vinCharValue(c byte) (int, bool) {
	if c >= '0' && c <= '9' {
		return int(c - '0'), true
	}
	const letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
	const values = "12345678123457923456789"
	if i := strings.IndexByte(letters, c); i >= 0 {
		return int(values[i] - '0'), true
	}
	return 0, false
}

// VINCheckDigit returns the check digit ('0'…'9' or 'X') that belongs at
// position 9 of a 17-character VIN, whatever is there now; ok is false when
// vin is not 17 characters of the VIN alphabet.
func VINCheckDigit(vin string) (digit byte, ok bool) {
	if len(vin) != 17 {
		return 0, false
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v, ok := vinCharValue(vin[i])
		if !ok {
			return 0, false
		}
		sum += v * vinCheckWeights[i]
	}
	if d := sum % 11; d == 10 {
		return 'X', true
	} else {
		return byte('0' + d), true
	}
}

// ValidVIN tells whether vin is 17 characters without I, O or Q whose
// position 9 holds the check digit. Chinese VINs (GB 16735) use the same
// check digit as North American ones; European VINs often do not, so a
// tenant outside those markets will want this relaxed.
func ValidVIN(vin string) bool {
	d, ok := VINCheckDigit(vin)
	return ok && vin[8] == d
}

// NormalizeVIN upper-cases vin, drops spaces and checks it (ValidVIN).
func NormalizeVIN(vin string) (string, error) {
	vin = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(vin), " ", ""))
	if len(vin) != 17 {
		return "", invalid("vin must be 17 characters")
	}
	if strings.ContainsAny(vin, "IOQ") {
		return "", invalid("vin cannot contain I, O or Q")
	}
	if _, ok := VINCheckDigit(vin); !ok {
		return "", invalid("vin may hold only letters and digits")
	}
	if !ValidVIN(vin) {
		return "", invalid("vin check digit (position 9) does not match")
	}
	return vin, nil
}

// plateProvinces are the one-character abbreviations that begin a Chinese
// plate (provinces, municipalities, autonomous regions).
const plateProvinces = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

// plateRest is what follows the province: the issuing office's letter, then
// 5 letters and digits (6 on new-energy plates), or 4 and a 挂 (trailer),
// 学 (learner), 警 (police), 港 or 澳 (Hong Kong, Macao) suffix.
var plateRest = regexp.MustCompile(`^[A-Z]([A-Z0-9]{5,6}|[A-Z0-9]{4}[挂学警港澳])$`)

// NormalizePlate puts a Chinese plate in stored form: no spaces, dots or
// dashes, upper case ("沪a·12345" → "沪A12345"). A plate is a province
// character, the issuing office's letter and 5 characters (6 for the green
// plates of new-energy vehicles: "京AD12345").
func NormalizePlate(plate string) (string, error) {
	plate = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\u00b7', '\u2022', '.', '-', '\u3000':
			return -1
		}
		return r
	}, strings.ToUpper(strings.TrimSpace(plate)))
	first, size := firstRune(plate)
	if size == 0 || !strings.ContainsRune(plateProvinces, first) || !plateRest.MatchString(plate[size:]) {
		return "", invalid("plate must look like 沪A12345 or 京AD12345")
	}
	return plate, nil
}

func firstRune(s string) (rune, int) {
	for _, r := range s {
		return r, len(string(r))
	}
	return 0, 0
}

// Vehicle roles: how a customer relates to a vehicle.
var vehicleRoles = map[string]bool{"owner": true, "driver": true, "household": true, "fleet": true}

func checkRole(role string) (string, error) {
	if role == "" {
		return "owner", nil
	}
	if !vehicleRoles[role] {
		return "", invalid("role must be owner, driver, household or fleet")
	}
	return role, nil
}

// VehicleLink is one customer's relation to a vehicle.
type VehicleLink struct {
	CustomerID uuid.UUID `json:"customer_id"`
	Role       string    `json:"role"`
}

// VehicleRecord is a vehicle as the REST API reads it, with every customer
// linked to it.
type VehicleRecord struct {
	ID             uuid.UUID     `json:"id"`
	VIN            string        `json:"vin"`
	Plate          string        `json:"plate"`
	Make           string        `json:"make"`
	Model          string        `json:"model"`
	Year           *int          `json:"year"`
	MileageKM      *int          `json:"mileage_km"`
	PurchaseDate   *string       `json:"purchase_date"` // YYYY-MM-DD
	ExternalSystem string        `json:"external_system,omitempty"`
	ExternalID     string        `json:"external_id,omitempty"`
	Customers      []VehicleLink `json:"customers"`
	CreatedAt      time.Time     `json:"created_at"`
	UpdatedAt      time.Time     `json:"updated_at"`
}

// VehicleFields are a vehicle's writable fields; nil leaves one as it is.
// Empty VIN or plate clears it; Year, MileageKM 0 and PurchaseDate "" clear
// those.
type VehicleFields struct {
	VIN, Plate, Make, Model *string
	Year, MileageKM         *int
	PurchaseDate            *string
}

func zeroNil(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

func sameInt(a, b *int) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func sameStr(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func (f VehicleFields) apply(v VehicleRecord) (VehicleRecord, error) {
	var err error
	if f.VIN != nil {
		if v.VIN = strings.TrimSpace(*f.VIN); v.VIN != "" {
			if v.VIN, err = NormalizeVIN(v.VIN); err != nil {
				return v, err
			}
		}
	}
	if f.Plate != nil {
		if v.Plate = strings.TrimSpace(*f.Plate); v.Plate != "" {
			if v.Plate, err = NormalizePlate(v.Plate); err != nil {
				return v, err
			}
		}
	}
	if f.Make != nil {
		if v.Make, err = cleanText("make", *f.Make, 100); err != nil {
			return v, err
		}
	}
	if f.Model != nil {
		if v.Model, err = cleanText("model", *f.Model, 100); err != nil {
			return v, err
		}
	}
	if f.Year != nil {
		if y := *f.Year; y != 0 && (y < 1886 || y > time.Now().Year()+2) {
			return v, invalid("year must be a model year between 1886 and next year")
		}
		v.Year = zeroNil(*f.Year)
	}
	if f.MileageKM != nil {
		if *f.MileageKM < 0 || *f.MileageKM > 5_000_000 {
			return v, invalid("mileage_km must be between 0 and 5000000")
		}
		v.MileageKM = zeroNil(*f.MileageKM)
	}
	if f.PurchaseDate != nil {
		v.PurchaseDate = nil
		if d := strings.TrimSpace(*f.PurchaseDate); d != "" {
			if err := checkDate("purchase_date", d); err != nil {
				return v, err
			}
			v.PurchaseDate = &d
		}
	}
	return v, nil
}

func (v VehicleRecord) sameFields(w VehicleRecord) bool {
	return v.VIN == w.VIN && v.Plate == w.Plate && v.Make == w.Make && v.Model == w.Model &&
		sameInt(v.Year, w.Year) && sameInt(v.MileageKM, w.MileageKM) && sameStr(v.PurchaseDate, w.PurchaseDate)
}

const vehicleSelect = `
SELECT v.id, v.vin, v.plate, v.make, v.model, v.year, v.mileage_km, v.purchase_date::text,
       v.external_system, v.external_id, v.created_at, v.updated_at,
       COALESCE((SELECT json_agg(json_build_object('customer_id', cv.customer_id, 'role', cv.role) ORDER BY cv.customer_id)
                 FROM customer_vehicles cv JOIN customers c ON c.tenant_id = cv.tenant_id AND c.id = cv.customer_id
                 WHERE cv.tenant_id = v.tenant_id AND cv.vehicle_id = v.id AND c.deleted_at IS NULL), '[]')
FROM vehicles v`

func scanVehicle(r pgx.CollectableRow) (VehicleRecord, error) {
	var v VehicleRecord
	err := r.Scan(&v.ID, &v.VIN, &v.Plate, &v.Make, &v.Model, &v.Year, &v.MileageKM, &v.PurchaseDate,
		&v.ExternalSystem, &v.ExternalID, &v.CreatedAt, &v.UpdatedAt, &v.Customers)
	return v, err
}

func vehicleRecord(ctx context.Context, q dbtx, tenant, id uuid.UUID, lock bool) (VehicleRecord, error) {
	sql := vehicleSelect + ` WHERE v.tenant_id = $1 AND v.id = $2`
	if lock {
		sql += ` FOR UPDATE OF v`
	}
	return oneRecord(ctx, q, "vehicle", sql, tenant, id, scanVehicle)
}

// Vehicle returns one vehicle with the customers linked to it.
func (s *Store) Vehicle(ctx context.Context, tenant, id uuid.UUID) (VehicleRecord, error) {
	return vehicleRecord(ctx, s.pool, tenant, id, false)
}

// CustomerVehicles returns the vehicles linked to a customer, oldest first.
func (s *Store) CustomerVehicles(ctx context.Context, tenant, customer uuid.UUID) ([]VehicleRecord, error) {
	return recordsOfCustomer(ctx, s, "vehicles", vehicleSelect+`
		JOIN customer_vehicles l ON l.tenant_id = v.tenant_id AND l.vehicle_id = v.id
		WHERE l.tenant_id = $1 AND l.customer_id = $2 ORDER BY v.created_at, v.id`, tenant, customer, scanVehicle)
}

func writeVehicle(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, v VehicleRecord, insert bool) error {
	var err error
	if insert {
		_, err = tx.Exec(ctx, `
			INSERT INTO vehicles (id, tenant_id, vin, plate, make, model, year, mileage_km, purchase_date, external_system, external_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::date, $10, $11)`,
			v.ID, tenant, v.VIN, v.Plate, v.Make, v.Model, v.Year, v.MileageKM, v.PurchaseDate, v.ExternalSystem, v.ExternalID)
	} else {
		_, err = tx.Exec(ctx, `
			UPDATE vehicles SET vin = $3, plate = $4, make = $5, model = $6, year = $7, mileage_km = $8,
			       purchase_date = $9::date, updated_at = now()
			WHERE tenant_id = $1 AND id = $2`,
			tenant, v.ID, v.VIN, v.Plate, v.Make, v.Model, v.Year, v.MileageKM, v.PurchaseDate)
	}
	if err != nil {
		return mapWriteError("write vehicle", err)
	}
	return nil
}

// linkVehicle links customer to vehicle in role; an existing link takes the
// new role. It reports whether anything changed.
func linkVehicle(ctx context.Context, tx pgx.Tx, tenant, customer, vehicle uuid.UUID, role string) (bool, error) {
	tag, err := tx.Exec(ctx, `
		INSERT INTO customer_vehicles (tenant_id, customer_id, vehicle_id, role)
		SELECT $1, c.id, $3, $4 FROM customers c WHERE c.tenant_id = $1 AND c.id = $2 AND c.deleted_at IS NULL
		ON CONFLICT (tenant_id, customer_id, vehicle_id) DO UPDATE SET role = EXCLUDED.role
		WHERE customer_vehicles.role <> EXCLUDED.role`, tenant, customer, vehicle, role)
	if err != nil {
		return false, mapWriteError("link vehicle", err)
	}
	return tag.RowsAffected() > 0, nil
}

// CreateVehicle adds a vehicle (VIN and plate validated and normalised) and
// links it to customer in role (default owner).
func (s *Store) CreateVehicle(ctx context.Context, tenant, customer uuid.UUID, role string, f VehicleFields) (VehicleRecord, error) {
	role, err := checkRole(role)
	if err != nil {
		return VehicleRecord{}, err
	}
	v, err := f.apply(VehicleRecord{ID: dbid.New()})
	if err != nil {
		return VehicleRecord{}, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := customerRecord(ctx, tx, tenant, customer, true); err != nil {
			return err
		}
		if err := writeVehicle(ctx, tx, tenant, v, true); err != nil {
			return err
		}
		if _, err := linkVehicle(ctx, tx, tenant, customer, v.ID, role); err != nil {
			return err
		}
		if v, err = vehicleRecord(ctx, tx, tenant, v.ID, false); err != nil {
			return err
		}
		return enqueueWebhook(ctx, tx, tenant, EventVehicleCreated, vehicleWebhook(v, customer))
	})
	if err != nil {
		return VehicleRecord{}, err
	}
	return v, nil
}

// LinkVehicle links an existing vehicle to a customer in role (a household
// member, a fleet contact), or changes the role of an existing link.
func (s *Store) LinkVehicle(ctx context.Context, tenant, customer, vehicle uuid.UUID, role string) (VehicleRecord, error) {
	role, err := checkRole(role)
	if err != nil {
		return VehicleRecord{}, err
	}
	var v VehicleRecord
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := customerRecord(ctx, tx, tenant, customer, true); err != nil {
			return err
		}
		if _, err := vehicleRecord(ctx, tx, tenant, vehicle, true); err != nil {
			return err
		}
		changed, err := linkVehicle(ctx, tx, tenant, customer, vehicle, role)
		if err != nil {
			return err
		}
		if v, err = vehicleRecord(ctx, tx, tenant, vehicle, false); err != nil || !changed {
			return err
		}
		// A new link or role changes the vehicle's customers: receivers
		// hear vehicle.updated, as for a field.
		return enqueueWebhook(ctx, tx, tenant, EventVehicleUpdated, vehicleWebhook(v, customer))
	})
	return v, err
}

// UpdateVehicle changes the fields f sets; when nothing changes nothing is
// written (updated_at stays, no webhook).
func (s *Store) UpdateVehicle(ctx context.Context, tenant, id uuid.UUID, f VehicleFields) (VehicleRecord, bool, error) {
	return updateInTx(ctx, s, tenant, id, f, func(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, f VehicleFields) (VehicleRecord, bool, error) {
		v, changed, err := updateVehicle(ctx, tx, tenant, id, f)
		if err != nil || !changed {
			return v, changed, err
		}
		return v, true, enqueueWebhook(ctx, tx, tenant, EventVehicleUpdated, vehicleWebhook(v, uuid.Nil))
	})
}

// DeleteVehicle removes a vehicle (entered twice, or by mistake) with its
// links to customers. A vehicle that a service order or a deal names stays:
// those are history, and the answer (ErrConflict) says which kind holds it.
// Receivers hear vehicle.deleted with the vehicle as it was.
func (s *Store) DeleteVehicle(ctx context.Context, tenant, id uuid.UUID) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		v, err := vehicleRecord(ctx, tx, tenant, id, true)
		if err != nil {
			return err
		}
		var orders, deals bool
		if err := tx.QueryRow(ctx, `
			SELECT EXISTS (SELECT 1 FROM service_orders WHERE tenant_id = $1 AND vehicle_id = $2),
			       EXISTS (SELECT 1 FROM deals WHERE tenant_id = $1 AND vehicle_id = $2)`, tenant, id).Scan(&orders, &deals); err != nil {
			return fmt.Errorf("delete vehicle %s: %w", id, err)
		}
		switch {
		case orders:
			return fmt.Errorf("vehicle %s has service orders; it cannot be deleted: %w", id, ErrConflict)
		case deals:
			return fmt.Errorf("vehicle %s is named by deals; it cannot be deleted: %w", id, ErrConflict)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM customer_vehicles WHERE tenant_id = $1 AND vehicle_id = $2`, tenant, id); err != nil {
			return fmt.Errorf("delete vehicle %s: links: %w", id, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM vehicles WHERE tenant_id = $1 AND id = $2`, tenant, id); err != nil {
			return mapWriteError("delete vehicle", err)
		}
		return enqueueWebhook(ctx, tx, tenant, EventVehicleDeleted, vehicleWebhook(v, uuid.Nil))
	})
}

func updateVehicle(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, f VehicleFields) (VehicleRecord, bool, error) {
	cur, err := vehicleRecord(ctx, tx, tenant, id, true)
	if err != nil {
		return VehicleRecord{}, false, err
	}
	next, err := f.apply(cur)
	if err != nil {
		return VehicleRecord{}, false, err
	}
	if next.sameFields(cur) {
		return cur, false, nil
	}
	if err := writeVehicle(ctx, tx, tenant, next, false); err != nil {
		return VehicleRecord{}, false, err
	}
	next, err = vehicleRecord(ctx, tx, tenant, id, false)
	return next, true, err
}
