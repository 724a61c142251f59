// Package dispatch runs the pure routing engine for real: for each tenant
// whose lease this node holds it rebuilds the engine from PostgreSQL, learns
// of waiting contacts by LISTEN/NOTIFY and a periodic sweep, takes agents'
// commands from the bus, commits accepts through the fenced Assigner, and
// tells consoles and wallboards through a Notifier.
//
// It imports routing, routing/lease and org; what it needs of crm, Redis and
// the agent desk it names as small interfaces that cmd wires.
package dispatch
