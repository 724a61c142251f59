// Package org owns who works in the contact center and where: tenants (dealer
// groups), their sites, users with roles, agents with skills and capacity,
// presence, and queues. It imports none of Switchboard's packages.
package org
