package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

const beamUsage = `Usage:
  roomcast beam start  --room R [--rtmp URL]... [--record] [--resolution WxH] [--layout L] [--audio-only] [--meeting-url URL] [--max-duration D]
  roomcast beam stop   --room R
  roomcast beam status --room R
  roomcast beam add-url    --room R --url URL   (stream the running job to one more destination)
  roomcast beam remove-url --room R --index I   (stop streaming to destination I, from 0, as status lists them)

Common flags: --server URL (or ROOMCAST_SERVER), --token T (or ROOMCAST_TOKEN;
else a short-lived management token is signed with the secret of --data or
ROOMCAST_SECRET).
`

// maxRTMP is the number of --rtmp URLs the API accepts.
const maxRTMP = 3

// beamTokenTTL is how long a token minted for one beam command lives.
const beamTokenTTL = 5 * time.Minute

// beamArgs is a parsed beam command line.
type beamArgs struct {
	action string // start, stop, status, add-url or remove-url
	room   string
	url    string // add-url
	index  int    // remove-url
	server string
	token  string
	data   string
	params roomcast.StartParams
}

// rtmpList collects repeated --rtmp flags. It never prints its URLs (they
// hold stream keys), and it does not reject a fourth URL in Set because the
// flag package would echo the value in its error.
type rtmpList []string

func (l *rtmpList) String() string {
	if l == nil || len(*l) == 0 {
		return ""
	}
	return strconv.Itoa(len(*l)) + " URL(s)"
}

func (l *rtmpList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// beam runs "roomcast beam start|stop|status" against a server's /v1 API
// and prints the room's beam state as JSON on stdout.
func beam(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseBeamArgs(args, stderr, os.Getenv)
	if err != nil {
		return err
	}
	if a.token == "" {
		if a.token, err = mintManagementToken(a.data); err != nil {
			return err
		}
	}
	c := roomcast.NewClient(a.server, a.token)
	var st roomcast.BeamState
	switch a.action {
	case "start":
		st, err = c.StartRTMPOrRecording(ctx, a.room, a.params)
	case "stop":
		st, err = c.StopRTMPAndRecording(ctx, a.room)
	case "add-url":
		st, err = c.AddDestination(ctx, a.room, a.url)
	case "remove-url":
		st, err = c.RemoveDestination(ctx, a.room, a.index)
	default:
		st, err = c.BeamState(ctx, a.room)
	}
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("beam: encode state: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

// parseBeamArgs parses the action and its flags; getenv supplies the
// ROOMCAST_SERVER and ROOMCAST_TOKEN defaults.
func parseBeamArgs(args []string, stderr io.Writer, getenv func(string) string) (beamArgs, error) {
	if len(args) == 0 {
		fmt.Fprint(stderr, beamUsage)
		return beamArgs{}, errors.New("beam: an action is required: start, stop, status, add-url or remove-url")
	}
	a := beamArgs{action: args[0]}
	switch a.action {
	case "start", "stop", "status", "add-url", "remove-url":
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stderr, beamUsage)
		return beamArgs{}, flag.ErrHelp
	default:
		fmt.Fprint(stderr, beamUsage)
		return beamArgs{}, fmt.Errorf("beam: unknown action %q (want start, stop, status, add-url or remove-url)", a.action)
	}
	fs := flag.NewFlagSet("beam "+a.action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&a.room, "room", "", "room name (required)")
	conn := apiFlags(fs, getenv)
	var rtmp rtmpList
	var resolution, maxDuration string
	if a.action == "start" {
		fs.Var(&rtmp, "rtmp", "RTMP(S) ingest URL rtmp://host[:port]/app/KEY; repeat for up to 3")
		fs.BoolVar(&a.params.Record, "record", false, "also record to a file")
		fs.StringVar(&resolution, "resolution", "", "output size WxH (default 1280x720)")
		fs.Func("layout", "grid, speaker or single-speaker (default grid)", func(s string) error { a.params.Layout = roomcast.Layout(s); return nil })
		fs.BoolVar(&a.params.AudioOnly, "audio-only", false, "the room's sound only: no picture, the recording an .m4a")
		fs.StringVar(&a.params.MeetingURL, "meeting-url", "", "page the bot opens (default: the server's meeting app)")
		fs.StringVar(&maxDuration, "max-duration", "", "end on its own after this long: seconds or a duration like 90m (default and most: the server's --max-duration)")
	}
	index := -1
	switch a.action {
	case "add-url":
		fs.StringVar(&a.url, "url", "", "RTMP(S) ingest URL rtmp://host[:port]/app/KEY (required)")
	case "remove-url":
		fs.IntVar(&index, "index", -1, "the destination's place in status's destinations, from 0 (required)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return beamArgs{}, err
	}
	if a.action == "add-url" && a.url == "" {
		return beamArgs{}, errors.New("beam add-url: --url is required")
	}
	if a.action == "remove-url" && index < 0 {
		return beamArgs{}, errors.New("beam remove-url: --index is required (0, 1 or 2, as beam status lists the destinations)")
	}
	a.index = index
	a.server, a.token, a.data = conn.server, conn.token, conn.data
	if fs.NArg() > 0 {
		return beamArgs{}, fmt.Errorf("beam %s: unexpected argument %q", a.action, fs.Arg(0))
	}
	if a.room == "" {
		return beamArgs{}, fmt.Errorf("beam %s: --room is required", a.action)
	}
	if a.token == "" {
		a.token = getenv("ROOMCAST_TOKEN")
	}
	if len(rtmp) > maxRTMP {
		return beamArgs{}, fmt.Errorf("beam start: at most %d --rtmp URLs, got %d", maxRTMP, len(rtmp))
	}
	a.params.RTMPURLs = rtmp
	if resolution != "" {
		r, err := parseResolution(resolution)
		if err != nil {
			return beamArgs{}, fmt.Errorf("beam start: --resolution: %w", err)
		}
		a.params.Resolution = &r
	}
	if maxDuration != "" {
		sec, err := parseSeconds(maxDuration)
		if err != nil {
			return beamArgs{}, fmt.Errorf("beam start: --max-duration: %w", err)
		}
		a.params.MaxDuration = sec
	}
	return a, nil
}

// parseSeconds parses whole seconds ("90") or a Go duration ("90m",
// "1h30m") of whole seconds; the server checks the limit.
func parseSeconds(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("%q: want a positive number of seconds", s)
		}
		return n, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d%time.Second != 0 {
		return 0, fmt.Errorf("%q is not a number of seconds or a duration of whole seconds like 90m or 1h30m", s)
	}
	return int(d / time.Second), nil
}

// parseResolution parses "WIDTHxHEIGHT"; the server checks the limits.
func parseResolution(s string) (roomcast.Resolution, error) {
	w, h, ok := strings.Cut(strings.ToLower(s), "x")
	if !ok {
		return roomcast.Resolution{}, fmt.Errorf("%q is not WIDTHxHEIGHT, e.g. 1280x720", s)
	}
	width, werr := strconv.Atoi(w)
	height, herr := strconv.Atoi(h)
	if werr != nil || herr != nil || width <= 0 || height <= 0 {
		return roomcast.Resolution{}, fmt.Errorf("%q is not WIDTHxHEIGHT with positive numbers, e.g. 1280x720", s)
	}
	return roomcast.Resolution{Width: width, Height: height}, nil
}

// mintManagementToken signs a short-lived management token with the secret
// found the way "roomcast token" finds it.
func mintManagementToken(dataDir string) (string, error) {
	secret, err := auth.LoadSecret(dataDir, false)
	if err != nil {
		return "", fmt.Errorf("beam: no --token or ROOMCAST_TOKEN, and %w", err)
	}
	signer, err := auth.NewSigner(secret)
	if err != nil {
		return "", fmt.Errorf("beam: %w", err)
	}
	tok, err := signer.ManagementToken(beamTokenTTL)
	if err != nil {
		return "", fmt.Errorf("beam: sign management token: %w", err)
	}
	return tok, nil
}

// envOr returns getenv(key), or def when it is empty.
func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
