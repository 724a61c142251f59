// Command switchboard runs the Switchboard contact center: the HTTP and
// websocket server, the routing engine and the channel connectors, plus the
// administrative subcommands. main only wires; run does the work and is
// what the end-to-end tests call.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(1)
	}
}
