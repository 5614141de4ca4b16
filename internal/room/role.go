// Package room holds rooms, peers, roles and their permissions. It does no
// network I/O: the SFU and signaling build on it.
package room

import "fmt"

// Role names a set of permissions a join token grants.
type Role string

// The built-in roles (SPEC §7).
const (
	Host   Role = "host"
	Guest  Role = "guest"
	Viewer Role = "viewer"
	Beam   Role = "beam"
)

// Permissions is what a role may do in a room.
type Permissions struct {
	Publish   bool `json:"publish"`
	Subscribe bool `json:"subscribe"`
	// Hidden peers are never shown to others (the beam bot).
	Hidden bool `json:"hidden"`
	// StartStop allows starting and stopping streaming and recording.
	StartStop bool `json:"startStop"`
}

var permissions = map[Role]Permissions{
	Host:   {Publish: true, Subscribe: true, StartStop: true},
	Guest:  {Publish: true, Subscribe: true},
	Viewer: {Subscribe: true},
	Beam:   {Subscribe: true, Hidden: true},
}

// ParseRole returns the role named s, or an error listing the valid roles.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if _, ok := permissions[r]; !ok {
		return "", fmt.Errorf("unknown role %q (want host, guest, viewer or beam)", s)
	}
	return r, nil
}

// Permissions returns what r may do; an unknown role may do nothing.
func (r Role) Permissions() Permissions { return permissions[r] }
