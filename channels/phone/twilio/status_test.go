package twilio

import (
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

func TestStatusEvents(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	caller := func(status string) url.Values {
		return url.Values{"CallSid": {"CAcaller"}, "CallStatus": {status}, "SequenceNumber": {"3"}}
	}
	agentLeg := func(status string) url.Values {
		return url.Values{"CallSid": {"CAleg"}, "ParentCallSid": {"CAcaller"}, "CallStatus": {status}}
	}
	dialAction := func(status string) url.Values {
		return url.Values{"CallSid": {"CAcaller"}, "DialCallSid": {"CAleg"}, "DialCallStatus": {status}, "CallStatus": {"in-progress"}}
	}
	agentQ := url.Values{"leg": {"agent"}, "ext": {"agent_li"}}
	ended := func(id string, c phone.Cause, ext string) phone.Event {
		return phone.Event{CallID: "CAcaller", EventID: id + ":ended", Kind: phone.Ended, Cause: c, Extension: ext, At: at}
	}
	answered := func(id, ext string) phone.Event {
		return phone.Event{CallID: "CAcaller", EventID: id + ":answered", Kind: phone.Answered, Extension: ext, At: at}
	}
	for _, tc := range []struct {
		name string
		q, p url.Values
		want []phone.Event
	}{
		// The caller's call (the number's status callback).
		{"caller queued", nil, caller("queued"), nil},
		{"caller initiated", nil, caller("initiated"), nil},
		{"caller ringing", nil, caller("ringing"), nil},
		{"caller in-progress", nil, caller("in-progress"), []phone.Event{answered("CAcaller", "")}},
		{"caller completed", nil, caller("completed"), []phone.Event{ended("CAcaller", phone.CauseNormal, "")}},
		{"caller busy", nil, caller("busy"), []phone.Event{ended("CAcaller", phone.CauseBusy, "")}},
		{"caller no-answer", nil, caller("no-answer"), []phone.Event{ended("CAcaller", phone.CauseNoAnswer, "")}},
		{"caller failed", nil, caller("failed"), []phone.Event{ended("CAcaller", phone.CauseFailed, "")}},
		{"caller canceled", nil, caller("canceled"), []phone.Event{ended("CAcaller", phone.CauseAbandoned, "")}},

		// The agent leg's own callbacks: ids from the leg, call from its parent.
		{"agent initiated", agentQ, agentLeg("initiated"), nil},
		{"agent ringing", agentQ, agentLeg("ringing"), []phone.Event{{CallID: "CAcaller", EventID: "CAleg:offered", Kind: phone.Offered, Extension: "agent_li", At: at}}},
		{"agent in-progress", agentQ, agentLeg("in-progress"), []phone.Event{answered("CAleg", "agent_li")}},
		{"agent completed", agentQ, agentLeg("completed"), []phone.Event{ended("CAleg", phone.CauseNormal, "agent_li")}},
		{"agent busy", agentQ, agentLeg("busy"), []phone.Event{ended("CAleg", phone.CauseBusy, "agent_li")}},
		{"agent no-answer", agentQ, agentLeg("no-answer"), []phone.Event{ended("CAleg", phone.CauseNoAnswer, "agent_li")}},
		{"agent failed", agentQ, agentLeg("failed"), []phone.Event{ended("CAleg", phone.CauseFailed, "agent_li")}},
		{"agent canceled", agentQ, agentLeg("canceled"), []phone.Event{ended("CAleg", phone.CauseAbandoned, "agent_li")}},

		// <Dial action>: an answered dial is answered and ended (the same
		// ids as the leg's own callbacks, so whichever comes second is a
		// no-op); one that did not reach the agent only ended.
		{"dial completed", agentQ, dialAction("completed"), []phone.Event{answered("CAleg", "agent_li"), ended("CAleg", phone.CauseNormal, "agent_li")}},
		{"dial answered", agentQ, dialAction("answered"), []phone.Event{answered("CAleg", "agent_li"), ended("CAleg", phone.CauseNormal, "agent_li")}},
		{"dial no-answer", agentQ, dialAction("no-answer"), []phone.Event{ended("CAleg", phone.CauseNoAnswer, "agent_li")}},
		{"dial busy", agentQ, dialAction("busy"), []phone.Event{ended("CAleg", phone.CauseBusy, "agent_li")}},
		{"dial canceled", agentQ, dialAction("canceled"), []phone.Event{ended("CAleg", phone.CauseAbandoned, "agent_li")}},
		{"dial failed without a leg", agentQ, url.Values{"CallSid": {"CAcaller"}, "DialCallStatus": {"failed"}},
			[]phone.Event{ended("CAcaller:dial:agent_li", phone.CauseFailed, "agent_li")}},

		// Recordings.
		{"voicemail", url.Values{"leg": {"voicemail"}, "lang": {"en"}},
			url.Values{"CallSid": {"CAcaller"}, "RecordingUrl": {"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"}, "RecordingSid": {"RE1"}},
			[]phone.Event{{CallID: "CAcaller", EventID: "CAcaller:recording:RE1", Kind: phone.Recording, RecordingURL: "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1", At: at}}},
		{"voicemail with nothing recorded", url.Values{"leg": {"voicemail"}}, url.Values{"CallSid": {"CAcaller"}}, nil},
		{"caller completed with a recording", nil,
			url.Values{"CallSid": {"CAcaller"}, "CallStatus": {"completed"}, "RecordingUrl": {"https://api.twilio.com/r/RE2"}},
			[]phone.Event{ended("CAcaller", phone.CauseNormal, ""), {CallID: "CAcaller", EventID: "CAcaller:recording", Kind: phone.Recording, RecordingURL: "https://api.twilio.com/r/RE2", At: at}}},
	} {
		got, err := statusEvents(tc.q, tc.p, at)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", tc.name, diff)
		}
		for _, ev := range got {
			if !ev.Kind.Valid() || (ev.Kind == phone.Ended && !ev.Cause.Valid()) {
				t.Errorf("%s: invalid event %+v", tc.name, ev)
			}
		}
	}
}

func TestStatusEventsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		q, p url.Values
	}{
		{"no CallStatus", nil, url.Values{"CallSid": {"CA1"}}},
		{"unknown CallStatus", nil, url.Values{"CallSid": {"CA1"}, "CallStatus": {"exploded"}}},
		{"agent without ext", url.Values{"leg": {"agent"}}, url.Values{"CallSid": {"CA2"}, "ParentCallSid": {"CA1"}, "CallStatus": {"ringing"}}},
		{"agent leg without parent", url.Values{"leg": {"agent"}, "ext": {"1"}}, url.Values{"CallSid": {"CA2"}, "CallStatus": {"ringing"}}},
		{"agent leg says answered", url.Values{"leg": {"agent"}, "ext": {"1"}}, url.Values{"CallSid": {"CA2"}, "ParentCallSid": {"CA1"}, "CallStatus": {"answered"}}},
		{"unknown DialCallStatus", url.Values{"leg": {"agent"}, "ext": {"1"}}, url.Values{"CallSid": {"CA1"}, "DialCallStatus": {""}}},
		{"unknown leg", url.Values{"leg": {"third"}}, url.Values{"CallSid": {"CA1"}, "CallStatus": {"completed"}}},
		{"javascript recording", url.Values{"leg": {"voicemail"}}, url.Values{"CallSid": {"CA1"}, "RecordingUrl": {"javascript:alert(1)"}}},
		{"relative recording", url.Values{"leg": {"voicemail"}}, url.Values{"CallSid": {"CA1"}, "RecordingUrl": {"/r/RE1"}}},
	} {
		if evs, err := statusEvents(tc.q, tc.p, time.Now()); err == nil {
			t.Errorf("%s: statusEvents = %+v, want an error", tc.name, evs)
		}
	}
}
