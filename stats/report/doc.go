// Package report builds and reads the contact-center reports: contact
// events folded by the stats functions (the wallboard's own) into 15-minute
// rows per queue, channel and agent, which hour and day reports sum in each
// site's zone. It imports stats and org types.
//
// The Builder follows contact_events read-only, the way crm.EventsSince does
// (below pg_snapshot_xmin, so a transaction that commits late is never
// skipped), but in pages, since a first run folds every event there is; it
// owns the report tables and commits each page's rows with its cursor.
package report
