package agentdesk

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

// Searcher finds customers by what an agent typed. crm.Store implements it.
type Searcher interface {
	Search(ctx context.Context, tenant uuid.UUID, q crm.SearchQuery) (crm.SearchPage, error)
}

// search: GET /api/search?q=&cursor=&limit= returns one page of the
// customers the caller may see that q names (phone in any format, e-mail,
// VIN, plate, order number, Chinese name, pinyin, initials, Latin name),
// best first; next_cursor, when present, fetches the next page. The query
// text is personal data: it is never logged, and errors never repeat it.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	v := r.URL.Query()
	limit := 0
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			s.writeError(w, r, fmt.Errorf("limit must be 1 to 100: %w", crm.ErrInvalid))
			return
		}
		limit = n
	}
	sc, err := s.scopeOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.contacts.Search(r.Context(), sess.User.TenantID, crm.SearchQuery{
		Text: v.Get("q"), Scope: sc, Limit: limit, Cursor: v.Get("cursor")})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, page)
}
