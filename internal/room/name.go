package room

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/roomcast/roomcast/internal/rcerr"
)

// MaxNameLen bounds a room name in bytes.
const MaxNameLen = 128

// ValidateName checks a room name: 1 to 128 bytes of printable UTF-8.
func ValidateName(name string) error {
	switch {
	case name == "" || len(name) > MaxNameLen:
		return rcerr.New(rcerr.InvalidArgument, "room must be 1 to %d characters", MaxNameLen)
	case !utf8.ValidString(name) || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return rcerr.New(rcerr.InvalidArgument, "room may only contain printable characters")
	}
	return nil
}
