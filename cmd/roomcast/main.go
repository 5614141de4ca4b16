// Command roomcast runs the roomcast server and its tools.
//
//	roomcast serve [--addr :7880] [--data ./roomcast-data] [--rtc-udp-port 7882] [--nats-listen ADDR]
//	roomcast worker --nats URL [--data DIR] [--addr ADDR] [--cpu-limit N] [--slots 16]
//	roomcast worker drain --id ID
//	roomcast workers
//	roomcast token --room R --identity I --role ROLE [--ttl 24h]
//	roomcast token --management
//	roomcast beam start|stop|status --room R [--rtmp URL]... [--record] [--resolution WxH]
//	roomcast config print [serve|worker] [flags]
//	roomcast version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `roomcast records and live-streams WebRTC video rooms.

Usage:
  roomcast serve [flags]   run the room server, API, meeting app, NATS and a local worker
  roomcast worker [flags]  run a worker that takes streaming/recording jobs from NATS
  roomcast worker drain --id ID
                           drain a worker: no new jobs, running ones stopped by its --drain-timeout
  roomcast workers         list the workers: state, slots, CPU, memory and jobs
  roomcast token [flags]   print a join token or a management token
  roomcast beam start|stop|status [flags]
                           start, stop or show streaming and recording of a room
  roomcast config print [serve|worker] [flags]
                           show the effective settings (secrets redacted)
  roomcast version         show the build

serve and worker read their settings from flags, ROOMCAST_<FLAG> environment variables
(e.g. ROOMCAST_RTC_UDP_PORT) and a YAML file (--config FILE, keys are the flag names),
flags first.

Run "roomcast <command> --help" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "roomcast:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("a command is required")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "worker":
		if len(args) > 1 && args[1] == "drain" {
			return drainWorker(ctx, args[2:], stdout, stderr)
		}
		return worker(ctx, args[1:], stderr)
	case "workers":
		return workers(ctx, args[1:], stdout, stderr)
	case "token":
		return token(args[1:], stdout, stderr)
	case "beam":
		return beam(ctx, args[1:], stdout, stderr)
	case "config":
		return configPrint(args[1:], stdout)
	case "version", "--version":
		return version(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
