package config

import (
	"strings"
	"testing"
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
