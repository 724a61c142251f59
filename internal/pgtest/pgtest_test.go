package pgtest_test

import (
	"context"
	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"testing"
)

func TestNew(t *testing.T) {
	p, _ := pgtest.New(t)
	var n int
	if err := p.QueryRow(context.Background(), "select count(*) from tenants").Scan(&n); err != nil {
		t.Fatal(err)
	}
}
