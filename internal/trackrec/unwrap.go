package trackrec

// unwrapper extends 32-bit RTP timestamps to 64 bits across wrap-around
// (RFC 3550 §5.1): each timestamp is read as a signed step from the newest
// one seen, so a wrap is a small step forward and a reordered packet a
// small step back.
type unwrapper struct {
	started bool
	newest  int64
}

func (u *unwrapper) unwrap(ts uint32) int64 {
	if !u.started {
		u.started, u.newest = true, int64(ts)
		return u.newest
	}
	d := int32(ts - uint32(u.newest))
	v := u.newest + int64(d)
	if d > 0 {
		u.newest = v
	}
	return v
}
