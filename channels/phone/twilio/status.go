package twilio

import (
	"net/url"
	"time"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// A status request is one of four kinds, told apart by the query of the URL
// Switchboard gave Twilio (signed with the rest of the URL) and by what
// Twilio sent:
//
//   - no leg: the number's status callback for the caller's call (CallSid);
//   - leg=agent with DialCallStatus: <Dial action>, the dial to the agent is
//     over (CallSid is the caller's, DialCallSid the agent leg's);
//   - leg=agent without it: the agent leg's own status callback (CallSid is
//     the leg's, ParentCallSid the caller's);
//   - leg=voicemail: <Record action> after the closed message.
//
// Event ids are the leg's sid and the event's kind: a leg rings, answers and
// ends once, so a repeat of the same callback is a no-op, and so is the
// second report of one fact (the agent leg's "completed" callback and the
// <Dial action> after it both say the leg ended: both are "<leg>:ended").
// SequenceNumber is left out because it would tell those two apart.

// callerStatus maps the caller's CallStatus. Twilio's queued, initiated and
// ringing come before the voice webhook, which already reported the call
// (Incoming); they add nothing.
var callerStatus = map[string]struct {
	kind  phone.Kind
	cause phone.Cause
}{
	"queued":      {},
	"initiated":   {},
	"ringing":     {},
	"in-progress": {kind: phone.Answered}, // the telephony answered
	// completed: the caller hung up, or was hung up on, after Twilio
	// answered. Whether an agent had the call is the Hotline's knowledge
	// (it saw the agent's Answered), not this callback's: it decides
	// talked or abandoned.
	"completed": {phone.Ended, phone.CauseNormal},
	"busy":      {phone.Ended, phone.CauseBusy},
	"no-answer": {phone.Ended, phone.CauseNoAnswer},
	"failed":    {phone.Ended, phone.CauseFailed},
	// canceled: the caller hung up before Twilio answered.
	"canceled": {phone.Ended, phone.CauseAbandoned},
}

// agentStatus maps the agent leg's CallStatus and <Dial action>'s
// DialCallStatus.
var agentStatus = map[string]struct {
	kind  phone.Kind
	cause phone.Cause
}{
	"queued":      {},
	"initiated":   {},
	"ringing":     {kind: phone.Offered},
	"in-progress": {kind: phone.Answered},
	"answered":    {kind: phone.Answered}, // DialCallStatus only
	"completed":   {phone.Ended, phone.CauseNormal},
	"busy":        {phone.Ended, phone.CauseBusy},
	"no-answer":   {phone.Ended, phone.CauseNoAnswer},
	"failed":      {phone.Ended, phone.CauseFailed},
	// canceled: the phone stopped ringing because the caller hung up or
	// Switchboard took the call back (Cancel) before the agent answered.
	"canceled": {phone.Ended, phone.CauseAbandoned},
}

// dialAnswered: the agent answered the dial, so it ended after talking.
func dialAnswered(s string) bool { return s == "completed" || s == "answered" }

// statusEvents maps one status request (our query q, Twilio's params p) to
// the call events it reports, in order.
func statusEvents(q, p url.Values, at time.Time) ([]phone.Event, error) {
	callSid := p.Get("CallSid")
	callID := callSid // the caller's call, which every event is about
	var evs []phone.Event
	switch q.Get("leg") {
	case "":
		st, ok := callerStatus[p.Get("CallStatus")]
		if !ok {
			return nil, badRequest("unknown or missing CallStatus")
		}
		if st.kind != "" {
			evs = append(evs, phone.Event{CallID: callSid, EventID: callSid + ":" + string(st.kind), Kind: st.kind, Cause: st.cause, At: at})
		}
	case "agent":
		ext := q.Get("ext")
		if ext == "" {
			return nil, badRequest("ext missing for leg=agent")
		}
		leg, status := callSid, p.Get("CallStatus")
		callID = p.Get("ParentCallSid")
		dialAction := p.Has("DialCallStatus")
		if dialAction {
			callID, leg, status = callSid, p.Get("DialCallSid"), p.Get("DialCallStatus")
			if leg == "" {
				// The dial failed before the leg existed.
				leg = callSid + ":dial:" + ext
			}
		}
		if callID == "" {
			return nil, badRequest("ParentCallSid missing on the agent leg's status callback")
		}
		st, ok := agentStatus[status]
		if !ok || (!dialAction && status == "answered") {
			return nil, badRequest("unknown or missing call status for leg=agent")
		}
		if dialAction && dialAnswered(status) {
			// Only an answered dial ends "completed": say it was answered
			// too, in case the leg's own callback for it was lost.
			evs = append(evs, phone.Event{CallID: callID, EventID: leg + ":" + string(phone.Answered), Kind: phone.Answered, Extension: ext, At: at})
			st.kind, st.cause = phone.Ended, phone.CauseNormal
		}
		if st.kind != "" {
			evs = append(evs, phone.Event{CallID: callID, EventID: leg + ":" + string(st.kind), Kind: st.kind, Cause: st.cause, Extension: ext, At: at})
		}
	case "voicemail":
		// Record's action: only the recording below.
	default:
		return nil, badRequest("unknown leg")
	}
	if rec := p.Get("RecordingUrl"); rec != "" {
		u, err := url.Parse(rec)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(rec) > 2048 {
			return nil, badRequest("RecordingUrl is not an http(s) URL")
		}
		id := callID + ":" + string(phone.Recording)
		if rs := p.Get("RecordingSid"); rs != "" {
			id += ":" + rs
		}
		evs = append(evs, phone.Event{CallID: callID, EventID: id, Kind: phone.Recording, RecordingURL: rec, At: at})
	}
	return evs, nil
}
