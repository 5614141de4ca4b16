package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/room"
)

func token(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	roomName := fs.String("room", "", "room the token joins")
	identity := fs.String("identity", "", "peer identity, shown as the name")
	role := fs.String("role", "guest", "role: host, guest, viewer or beam")
	mgmt := fs.Bool("management", false, "print a management token for the /v1 API instead")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	data := fs.String("data", "./roomcast-data", "data directory holding the secret (or set ROOMCAST_SECRET)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret, err := auth.LoadSecret(*data, false)
	if err != nil {
		return err
	}
	signer, err := auth.NewSigner(secret)
	if err != nil {
		return err
	}
	var tok string
	if *mgmt {
		tok, err = signer.ManagementToken(*ttl)
	} else {
		if *roomName == "" || *identity == "" {
			return errors.New("token: --room and --identity are required (or --management)")
		}
		r, perr := room.ParseRole(*role)
		if perr != nil {
			return fmt.Errorf("token: --role: %w", perr)
		}
		tok, err = signer.JoinToken(*roomName, *identity, r, *ttl)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
