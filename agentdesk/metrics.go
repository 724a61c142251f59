package agentdesk

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are labelled by route pattern, status and socket kind only: never
// by anything a customer typed or is identified by.
type metrics struct {
	requests *prometheus.HistogramVec
	sockets  *prometheus.GaugeVec
	frames   *prometheus.CounterVec
	offers   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_http_request_duration_seconds", Help: "HTTP requests by route pattern and status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "status"}),
		sockets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_websockets", Help: "Open websockets by kind.",
		}, []string{"kind"}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_websocket_frames_total", Help: "Frames by socket kind and direction.",
		}, []string{"kind", "direction"}),
		offers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_offers_total", Help: "Offers by outcome.",
		}, []string{"outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.sockets, m.frames, m.offers)
	}
	return m
}

func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		status := ww.Status()
		if status == 0 {
			status = http.StatusSwitchingProtocols // hijacked for a websocket
		}
		s.metrics.requests.WithLabelValues(routePattern(r), r.Method, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	})
}

// routePattern is the matched chi pattern ("/api/customers/{id}/timeline"),
// never the raw path, which could carry ids without bound.
func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return "unmatched"
}
