package report

import (
	_ "embed"
	"strings"
)

//go:embed queries.sql
var queriesSQL string

// queries are the statements of queries.sql by the name each follows
// ("-- name: x"); a name this package uses but the file lacks panics at
// start, in every test.
var queries = parseQueries(queriesSQL)

func parseQueries(src string) map[string]string {
	out := map[string]string{}
	var name string
	var b strings.Builder
	flush := func() {
		if name != "" {
			out[name] = strings.TrimSpace(b.String())
		}
		b.Reset()
	}
	for _, line := range strings.Split(src, "\n") {
		if n, ok := strings.CutPrefix(line, "-- name: "); ok {
			flush()
			name = strings.TrimSpace(n)
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	flush()
	return out
}

func query(name string) string {
	q, ok := queries[name]
	if !ok {
		panic("report: no query named " + name + " in queries.sql")
	}
	return q
}
