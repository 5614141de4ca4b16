package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/storage"
)

// Jobs configures how streaming/recording jobs run; serve's local worker
// and `roomcast worker` share it (and its flags).
type Jobs struct {
	MaxDuration  time.Duration // a job ends after this long
	EmptyTimeout time.Duration // a job ends when nobody has published for this long
	Prewarm      bool          // keep a display and Chromium ready for the next job
	S3           storage.S3Config
	// CPULimit (cores) and MemoryLimitMB are what the worker's jobs may
	// take; 0: 80 % of the machine's.
	CPULimit      float64
	MemoryLimitMB int
	// Costs is what each composite job costs, by output height.
	Costs jobs.CostModel
}

// defaultJobs is the one place the jobs' defaults are kept.
func defaultJobs() Jobs {
	return Jobs{MaxDuration: 4 * time.Hour, EmptyTimeout: 60 * time.Second, Prewarm: true, Costs: jobs.DefaultCostModel}
}

// jobFlags adds the jobs' flags to fs.
func jobFlags(fs *flag.FlagSet, j *Jobs) {
	fs.DurationVar(&j.MaxDuration, "max-duration", j.MaxDuration, "streaming/recording jobs end after this long")
	fs.DurationVar(&j.EmptyTimeout, "empty-timeout", j.EmptyTimeout, "streaming/recording jobs end when the room has had nobody publishing for this long")
	fs.BoolVar(&j.Prewarm, "prewarm", j.Prewarm, "keep a virtual display and Chromium ready so a job starts ~3 s sooner (costs ~300 MB idle)")
	fs.Float64Var(&j.CPULimit, "cpu-limit", j.CPULimit, "cores the worker's jobs may take (by their cost, --job-costs); 0: 80% of the machine's")
	fs.IntVar(&j.MemoryLimitMB, "memory-limit-mb", j.MemoryLimitMB, "MB the worker's jobs may take; 0: 80% of the machine's")
	fs.Func("job-costs", "what a composite job costs by output height, HEIGHTp=CORES:MB,… (default "+j.Costs.String()+")", func(v string) error {
		m, err := jobs.ParseCostModel(v)
		if err == nil {
			j.Costs = m
		}
		return err
	})
	S3Flags(fs, &j.S3)
}

func (j Jobs) validate() []error {
	var errs []error
	if j.MaxDuration <= 0 || j.EmptyTimeout <= 0 {
		errs = append(errs, errors.New("--max-duration and --empty-timeout must be positive"))
	}
	if j.CPULimit < 0 || j.MemoryLimitMB < 0 {
		errs = append(errs, errors.New("--cpu-limit and --memory-limit-mb must be 0 (80% of the machine's) or more"))
	}
	if err := j.S3.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// logFlags adds --log-format and --log-level.
func logFlags(fs *flag.FlagSet, format *string, level *slog.Level) {
	fs.StringVar(format, "log-format", *format, "log format: text or json")
	fs.TextVar(level, "log-level", *level, "log level: debug, info, warn, error")
}

func validateLogFormat(f string) []error {
	if f != "text" && f != "json" {
		return []error{fmt.Errorf("--log-format %q: want text or json", f)}
	}
	return nil
}

// Worker is the configuration of `roomcast worker`.
type Worker struct {
	NATSURL string // the server's (serve --nats-listen) or a cluster's NATS
	DataDir string // the secret, recordings in progress
	Slots   int    // jobs run at once
	ID      string // worker id; empty: hostname-pid
	// Addr is where /healthz and /metrics are served; empty: nowhere.
	Addr string
	// DrainTimeout is how long a draining worker (SIGTERM) lets its jobs go
	// on before it stops them.
	DrainTimeout time.Duration
	LogFormat    string
	LogLevel     slog.Level
	Jobs
	// Settings is every flag's effective value and its source (config
	// print).
	Settings Effective
}

// DefaultWorker returns a worker's configuration before flags.
func DefaultWorker() Worker {
	return Worker{DataDir: "./roomcast-data", Slots: 16, DrainTimeout: 60 * time.Second,
		LogFormat: "text", LogLevel: slog.LevelInfo, Jobs: defaultJobs()}
}

// LoadWorker loads the worker's settings (parse: flags over ROOMCAST_*
// environment over --config file) over DefaultWorker and validates the
// result, reporting every problem at once.
func LoadWorker(args []string) (Worker, error) {
	w := DefaultWorker()
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.StringVar(&w.NATSURL, "nats", "", "NATS URL of the server (serve --nats-listen) or cluster (required)")
	fs.StringVar(&w.DataDir, "data", w.DataDir, "data directory: the secret (or set ROOMCAST_SECRET), recordings in progress")
	fs.IntVar(&w.Slots, "slots", w.Slots, "jobs this worker runs at once")
	fs.StringVar(&w.ID, "id", "", "worker id (default: hostname-pid)")
	fs.StringVar(&w.Addr, "addr", "", "address serving /healthz (200 ready, 503 draining) and /metrics, e.g. :7890 (default: none)")
	fs.DurationVar(&w.DrainTimeout, "drain-timeout", w.DrainTimeout, "on SIGTERM, how long running jobs go on before they are stopped (\"worker drained\")")
	logFlags(fs, &w.LogFormat, &w.LogLevel)
	jobFlags(fs, &w.Jobs)
	var err error
	if w.Settings, err = load(fs, args); err != nil {
		return w, err
	}
	return w, errors.Join(w.Settings.problems, w.Validate())
}

// Validate reports every problem with w at once.
func (w Worker) Validate() error {
	var errs []error
	if w.NATSURL == "" {
		errs = append(errs, errors.New("--nats is required (e.g. nats://server:4222, where serve runs with --nats-listen :4222)"))
	} else if !strings.Contains(w.NATSURL, "://") {
		errs = append(errs, fmt.Errorf("--nats %q: want nats://host:port", w.NATSURL))
	}
	if w.DataDir == "" {
		errs = append(errs, errors.New("--data must not be empty"))
	}
	if w.Slots < 1 {
		errs = append(errs, fmt.Errorf("--slots %d: want 1 or more", w.Slots))
	}
	if w.Addr != "" {
		if _, _, err := net.SplitHostPort(w.Addr); err != nil {
			errs = append(errs, fmt.Errorf("--addr %q: %w", w.Addr, err))
		}
	}
	if w.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("--drain-timeout %v: want 0 or more", w.DrainTimeout))
	}
	errs = append(errs, validateLogFormat(w.LogFormat)...)
	errs = append(errs, w.Jobs.validate()...)
	return errors.Join(errs...)
}
