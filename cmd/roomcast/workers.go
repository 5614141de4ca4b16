package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/roomcast/roomcast/sdk/roomcast"
)

// apiConn is how a command reaches a server's /v1 API: --server, and
// --token or a management token signed with the secret of --data.
type apiConn struct {
	server, token, data string
}

// apiFlags adds --server, --token and --data to fs; getenv supplies the
// ROOMCAST_SERVER default.
func apiFlags(fs *flag.FlagSet, getenv func(string) string) *apiConn {
	c := &apiConn{}
	fs.StringVar(&c.server, "server", envOr(getenv, "ROOMCAST_SERVER", "http://localhost:7880"), "server base URL (or set ROOMCAST_SERVER)")
	// The token's default is applied after parsing so that -help never prints it.
	fs.StringVar(&c.token, "token", "", "management or host token (or set ROOMCAST_TOKEN)")
	fs.StringVar(&c.data, "data", "./roomcast-data", "data directory holding the secret, used when no token is given (or set ROOMCAST_SECRET)")
	return c
}

// client returns an SDK client, minting a management token when none was
// given (flag or ROOMCAST_TOKEN).
func (c *apiConn) client(getenv func(string) string) (*roomcast.Client, error) {
	tok := c.token
	if tok == "" {
		tok = getenv("ROOMCAST_TOKEN")
	}
	if tok == "" {
		var err error
		if tok, err = mintManagementToken(c.data); err != nil {
			return nil, err
		}
	}
	return roomcast.NewClient(c.server, tok), nil
}

// workers runs `roomcast workers`: the workers running now, as JSON.
func workers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("workers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conn := apiFlags(fs, os.Getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := conn.client(os.Getenv)
	if err != nil {
		return err
	}
	ws, err := c.Workers(ctx)
	if err != nil {
		return err
	}
	return printJSON(stdout, ws)
}

// drainWorker runs `roomcast worker drain --id ID`.
func drainWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker drain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.String("id", "", "the worker to drain, as `roomcast workers` lists it (required)")
	conn := apiFlags(fs, os.Getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id == "" {
		return fmt.Errorf("worker drain: --id is required")
	}
	c, err := conn.client(os.Getenv)
	if err != nil {
		return err
	}
	w, err := c.DrainWorker(ctx, *id)
	if err != nil {
		return err
	}
	return printJSON(stdout, w)
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
