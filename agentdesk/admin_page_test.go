package agentdesk

import "testing"

func TestAdminPageText(t *testing.T) {
	if got, want := skillsText(map[string]int{"service": 3, "enquiries": 5}), "enquiries=5, service=3"; got != want {
		t.Errorf("skillsText = %q, want %q", got, want)
	}
	if got := skillsText(nil); got != "" {
		t.Errorf("skillsText(nil) = %q, want empty", got)
	}
	d := map[string]any{"wrap_up_seconds": float64(9), "queue_id": "q1", "max_length": nil, "capacity": map[string]any{"chat": float64(2)}}
	if got, want := auditDataText(d), `capacity: {"chat":2}; max_length: null; queue_id: q1; wrap_up_seconds: 9`; got != want {
		t.Errorf("auditDataText = %q, want %q", got, want)
	}
}
