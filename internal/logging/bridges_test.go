package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// pion's and NATS's lines come out of our logger: their info as our debug,
// warnings and errors as ours, trace nowhere, and redacted like ours.
func TestLibraryLogsGoThroughSlog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const key = "sk_live_Zq81xx3"
	p := PionLoggers(log).NewLogger("ice")
	p.Tracef("trace %d", 1)
	p.Infof("connection state %s", "checking")
	p.Warnf("publish to rtmp://a.example.com/live/%s failed", key)
	p.Error("dtls failed")
	n := NATSLogger(log)
	n.Noticef("Server is ready")
	n.Errorf("route error: %v", "refused")
	n.Tracef("<<- PING")
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="connection state checking" lib=pion scope=ice`,
		`level=WARN msg="publish to rtmp://a.example.com/live/{sk…x3} failed" lib=pion scope=ice`,
		`level=ERROR msg="dtls failed" lib=pion`,
		`level=DEBUG msg="Server is ready" lib=nats`,
		`level=ERROR msg="route error: refused" lib=nats`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "trace") || strings.Contains(out, "PING") || strings.Contains(out, key) {
		t.Errorf("trace lines or a key got through:\n%s", out)
	}
}
