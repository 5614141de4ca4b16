package main

import (
	"context"
	"io"

	"github.com/roomcast/roomcast/internal/app"
	"github.com/roomcast/roomcast/internal/config"
	"github.com/roomcast/roomcast/internal/logging"
)

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := config.Load(args)
	if err != nil {
		return err
	}
	log, err := logging.New(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	a, err := app.New(cfg, log)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
