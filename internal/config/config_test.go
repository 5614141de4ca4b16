package config

import (
	"bytes"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/storage"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr []string
	}{
		{"defaults", nil, nil},
		{"port zero", []string{"--addr", "127.0.0.1:0", "--rtc-udp-port", "0"}, nil},
		{"all bad at once", []string{"--addr", "nohostport", "--rtc-udp-port", "70000", "--public-url", "ftp://x", "--log-format", "xml"},
			[]string{"--addr", "--rtc-udp-port", "--public-url", "--log-format"}},
		{"bad public ip", []string{"--rtc-public-ips", "1.2.3.4,nope"}, []string{`"nope"`}},
		{"IPv6 host", []string{"--addr", "[::1]:7880"}, []string{"IPv4 only"}},
		{"IPv6 any", []string{"--addr", "[::]:7880"}, nil},
		{"stray argument", []string{"extra"}, []string{"unexpected"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestS3Flags(t *testing.T) {
	const secret = "env-secret-Qx81-never-printed"
	t.Setenv("ROOMCAST_S3_SECRET_KEY", secret)
	t.Setenv("ROOMCAST_S3_ACCESS_KEY", "AKIAENV")
	t.Setenv("ROOMCAST_S3_PATH_STYLE", "true")
	c, err := Load([]string{"--s3-endpoint", "http://127.0.0.1:9000", "--s3-bucket", "rec", "--s3-prefix", "rc/", "--s3-region", "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	s := c.S3
	if s.Endpoint != "http://127.0.0.1:9000" || s.Bucket != "rec" || s.Prefix != "rc/" || s.Region != "eu-west-1" ||
		s.AccessKey != "AKIAENV" || string(s.SecretKey) != secret || !s.PathStyle || s.Insecure {
		t.Errorf("S3 config from flags and env: %+v", s)
	}
	// A flag wins over the environment.
	if c, err := Load([]string{"--s3-bucket", "rec", "--s3-secret-key", "flag-secret-0123", "--s3-path-style=false", "--s3-insecure"}); err != nil ||
		string(c.S3.SecretKey) != "flag-secret-0123" || c.S3.PathStyle || !c.S3.Insecure {
		t.Errorf("flags over env: %+v, %v", c.S3, err)
	}
	// -help lists the flags and never the keys from the environment.
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var help bytes.Buffer
	fs.SetOutput(&help)
	S3Flags(fs, new(storage.S3Config))
	fs.PrintDefaults()
	if out := help.String(); !strings.Contains(out, "-s3-secret-key") || strings.Contains(out, secret) || strings.Contains(out, "AKIAENV") {
		t.Errorf("help:\n%s", out)
	}
	if _, err := Load([]string{"--s3-bucket", "rec", "--s3-endpoint", "ftp://x"}); err == nil || !strings.Contains(err.Error(), "--s3-endpoint") {
		t.Errorf("bad endpoint: %v", err)
	}
	t.Setenv("ROOMCAST_S3_PATH_STYLE", "yes please")
	if _, err := Load(nil); err == nil || !strings.Contains(err.Error(), "ROOMCAST_S3_PATH_STYLE") {
		t.Errorf("bad boolean env: %v", err)
	}
}

// serve and worker take the jobs' settings from the same flags, with the
// same defaults, and report every problem at once.
func TestWorkerSharesTheJobsSettings(t *testing.T) {
	serve, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := LoadWorker([]string{"--nats", "nats://127.0.0.1:4222"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(w.Jobs, serve.Jobs) || w.MaxDuration != 4*time.Hour || w.EmptyTimeout != time.Minute || !w.Prewarm {
		t.Errorf("worker jobs %+v, serve jobs %+v; want the same defaults (4h, 1m, prewarm)", w.Jobs, serve.Jobs)
	}
	w, err = LoadWorker([]string{"--nats", "nats://h:4222", "--max-duration", "90s", "--empty-timeout", "5s", "--prewarm=false", "--slots", "3", "--id", "w9",
		"--cpu-limit", "3.5", "--memory-limit-mb", "2048", "--job-costs", "720p=1:600,360p=0.5:300"})
	if err != nil || w.MaxDuration != 90*time.Second || w.EmptyTimeout != 5*time.Second || w.Prewarm || w.Slots != 3 || w.ID != "w9" ||
		w.CPULimit != 3.5 || w.MemoryLimitMB != 2048 || w.Costs.String() != "360p=0.5:300,720p=1:600" {
		t.Errorf("worker flags: %+v, %v", w, err)
	}
	if _, err := LoadWorker([]string{"--nats", "nats://h:4222", "--job-costs", "720p=fast"}); err == nil || !strings.Contains(err.Error(), "HEIGHTp=CORES:MB") {
		t.Errorf("a bad --job-costs: %v", err)
	}
	_, err = LoadWorker([]string{"--slots", "0", "--max-duration", "0s", "--log-format", "xml"})
	for _, want := range []string{"--nats is required", "--slots 0", "--max-duration", "--log-format"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad worker flags: %v; want it to mention %q", err, want)
		}
	}
}

// Settings come from a YAML file, the ROOMCAST_* environment and flags:
// flags over the environment over the file, every flag has its variable,
// a repeated flag takes a list from the file, and every problem of all
// three is reported at once, naming where it came from.
func TestConfigFileEnvAndFlags(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/roomcast.yaml"
	os.WriteFile(file, []byte("addr: \":9000\"\nrtc-udp-port: 9002\nworker-slots: 3\nwebhook-url:\n  - https://a.example.com/h\n  - https://b.example.com/h\ns3-secret-key: file-secret-Zk3\nlog-format: json\n"), 0o600)
	t.Setenv("ROOMCAST_RTC_UDP_PORT", "9102")
	t.Setenv("ROOMCAST_MAX_DURATION", "90m")
	c, err := Load([]string{"--config", file, "--worker-slots", "2"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":9000" || c.RTCUDPPort != 9102 || c.WorkerSlots != 2 || c.MaxDuration != 90*time.Minute || c.LogFormat != "json" ||
		!reflect.DeepEqual(c.WebhookURLs, []string{"https://a.example.com/h", "https://b.example.com/h"}) || string(c.S3.SecretKey) != "file-secret-Zk3" {
		t.Errorf("loaded %+v", c)
	}
	var out bytes.Buffer
	c.Settings.Print(&out)
	for _, want := range []string{`addr: ":9000" # file`, "rtc-udp-port: 9102 # env", "worker-slots: 2 # flag", "max-duration: 90m # env",
		`webhook-url: ["https://a.example.com/h", "https://b.example.com/h"] # file`, `s3-secret-key: "[redacted]" # file`, "data: ./roomcast-data # default"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config print lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "file-secret-Zk3") {
		t.Error("config print shows the S3 secret key")
	}
	// A password in a URL setting is not shown either.
	w, err := LoadWorker([]string{"--nats", "nats://rc:nats-pw-Qq7@h:4222"})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	w.Settings.Print(&out)
	if strings.Contains(out.String(), "nats-pw-Qq7") || !strings.Contains(out.String(), "nats://rc:redacted@h:4222") {
		t.Errorf("config print of a NATS URL with a password:\n%s", out.String())
	}
	// Every problem at once: an unknown key, a bad value in the file, one
	// in the environment, and the validation's own.
	os.WriteFile(file, []byte("rtc-udp-prot: 1\nworker-slots: many\n"), 0o600)
	t.Setenv("ROOMCAST_EMPTY_TIMEOUT", "soon")
	_, err = Load([]string{"--config", file, "--log-format", "xml"})
	for _, want := range []string{`unknown setting "rtc-udp-prot"`, "worker-slots", "ROOMCAST_EMPTY_TIMEOUT", "--log-format"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("problems: %v; want it to mention %q", err, want)
		}
	}
	if _, err := Load([]string{"--config", dir + "/missing.yaml"}); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("a missing file: %v", err)
	}
	// The worker reads the same way.
	os.WriteFile(file, []byte("nats: nats://h:4222\nslots: 4\n"), 0o600)
	t.Setenv("ROOMCAST_EMPTY_TIMEOUT", "")
	t.Setenv("ROOMCAST_CONFIG", file)
	if w, err := LoadWorker(nil); err != nil || w.NATSURL != "nats://h:4222" || w.Slots != 4 || w.MaxDuration != 90*time.Minute {
		t.Errorf("worker from ROOMCAST_CONFIG: %+v, %v", w, err)
	}
}
