package room

import (
	"strings"
	"testing"
)

func TestRolePermissions(t *testing.T) {
	tests := []struct {
		role                                  string
		publish, subscribe, hidden, startStop bool
	}{
		{"host", true, true, false, true},
		{"guest", true, true, false, false},
		{"viewer", false, true, false, false},
		{"beam", false, true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			r, err := ParseRole(tt.role)
			if err != nil {
				t.Fatal(err)
			}
			p := r.Permissions()
			if p.Publish != tt.publish || p.Subscribe != tt.subscribe || p.Hidden != tt.hidden || p.StartStop != tt.startStop {
				t.Errorf("%s: got %+v", tt.role, p)
			}
		})
	}
	if _, err := ParseRole("admin"); err == nil {
		t.Error("ParseRole(admin) succeeded")
	}
	if (Role("admin")).Permissions() != (Permissions{}) {
		t.Error("unknown role has permissions")
	}
}

func TestValidateName(t *testing.T) {
	for name, ok := range map[string]bool{
		"demo": true, "with space": true, "ünïcode": true, "a/b": true,
		"": false, strings.Repeat("x", 129): false, "tab\there": false, "\xff": false,
	} {
		if err := ValidateName(name); (err == nil) != ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}
