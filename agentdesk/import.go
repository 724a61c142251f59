package agentdesk

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

// Importer is what the desk needs of crm to import a file of customers
// sent over HTTP. crm.Store implements it.
type Importer interface {
	Import(ctx context.Context, tenant uuid.UUID, in io.Reader, o crm.ImportOptions) (crm.ImportSummary, error)
}

// importPath is the one route whose body limit is Config.ImportMaxBody
// rather than MaxBody (limitBody).
const importPath = "/api/import"

var errNoImport = &deskError{http.StatusServiceUnavailable, "unavailable", "import is not available on this server"}

// importCustomers upserts the customers of a CSV or JSON Lines body by
// external id, as `switchboard import` does, and answers with the summary:
// counts, and each rejected or conflicting line with its number and
// reason. The body streams into crm's COPY; it is never held in memory.
// ?format=csv|jsonl is required; ?trust_e164=true checks E.164 phones by
// pattern only. One transaction: any failure (the body over its limit
// among them) writes nothing.
func (s *Server) importCustomers(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.importer == nil {
		s.writeError(w, r, errNoImport)
		return
	}
	q := r.URL.Query()
	format := q.Get("format")
	if format != crm.FormatCSV && format != crm.FormatJSONL {
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "format must be csv or jsonl"})
		return
	}
	trust := false
	if v := q.Get("trust_e164"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "trust_e164 must be true or false"})
			return
		}
		trust = b
	}
	// crm wraps read errors its own way (a header row cut short is "bad
	// input"); the body's limit is recorded here so that it is 413 however
	// the error comes back.
	body := &limitWatch{r: r.Body}
	sum, err := s.importer.Import(r.Context(), sess.User.TenantID, body, crm.ImportOptions{
		Format: format, ActorID: sess.User.ID, Source: "api", TrustE164: trust,
	})
	if body.tooLarge != nil {
		s.log.InfoContext(r.Context(), "import refused: body too large", "tenant_id", sess.User.TenantID,
			"user_id", sess.User.ID, "job_id", sum.JobID, "limit", body.tooLarge.Limit)
		s.writeError(w, r, body.tooLarge)
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if sum.Problems == nil {
		sum.Problems = []crm.ImportProblem{}
	}
	s.log.InfoContext(r.Context(), "import finished", "tenant_id", sess.User.TenantID, "user_id", sess.User.ID,
		"job_id", sum.JobID, "lines", sum.Lines, "created", sum.Created, "updated", sum.Updated,
		"unchanged", sum.Unchanged, "conflicts", sum.Conflicts, "rejected", sum.Rejected)
	writeJSON(w, http.StatusOK, sum)
}

// limitWatch remembers whether its reader (the body under limitBody's
// http.MaxBytesReader) hit its limit.
type limitWatch struct {
	r        io.Reader
	tooLarge *http.MaxBytesError
}

func (l *limitWatch) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		l.tooLarge = mbe
	}
	return n, err
}
