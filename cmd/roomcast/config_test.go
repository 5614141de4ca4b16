package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// config print shows every setting with its source, the secrets
// redacted, and still reports the problems it found; version names the
// build.
func TestConfigPrintAndVersion(t *testing.T) {
	t.Setenv("ROOMCAST_SECRET", "server-secret-Lq93x")
	t.Setenv("ROOMCAST_RTC_UDP_PORT", "9102")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"config", "print", "--s3-secret-key", "s3-secret-Pz71q", "--worker-slots", "2"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rtc-udp-port: 9102 # env", "worker-slots: 2 # flag", `s3-secret-key: "[redacted]" # flag`, `secret: "[redacted]" # env`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config print lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "Lq93x") || strings.Contains(out.String(), "Pz71q") {
		t.Errorf("config print shows a secret:\n%s", out.String())
	}
	out.Reset()
	err := run(context.Background(), []string{"config", "print", "worker", "--slots", "0"}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--nats is required") || !strings.Contains(out.String(), "slots: 0 # flag") {
		t.Errorf("worker with problems: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"version"}, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "roomcast ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("version: %q, %v", out.String(), err)
	}
}
