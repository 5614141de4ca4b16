package room

import "testing"

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
