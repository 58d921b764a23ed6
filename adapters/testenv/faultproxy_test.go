package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/renderd/renderd/adapters/testenv"
)

func TestFaultProxy_cuts_and_restores_a_Postgres_connection(t *testing.T) {
	dsn := testenv.NewDatabase(t)
	proxy, via := testenv.ProxyPostgres(t, dsn)
	ctx := context.Background()
	ping := func() error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		c, err := pgx.Connect(cctx, via)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		return c.Ping(cctx)
	}
	if err := ping(); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	open, err := pgx.Connect(ctx, via)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close(ctx)

	proxy.Cut()
	if err := ping(); err == nil {
		t.Fatal("a cut proxy let a connection through")
	}
	if err := open.Ping(ctx); err == nil {
		t.Fatal("a connection open across a cut still answers")
	}
	proxy.Restore()
	if err := ping(); err != nil {
		t.Fatalf("after restore: %v", err)
	}
}
