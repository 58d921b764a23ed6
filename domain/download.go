package domain

import (
	"errors"
	"time"
)

// DownloadGrant is what a verified download token grants: one stored
// deliverable, offered under one file name, until an instant. The blob
// store's signer mints and verifies the tokens; the API serves what they
// grant.
type DownloadGrant struct {
	// Key is the blob key of the deliverable.
	Key string
	// Filename is the name Content-Disposition suggests, such as
	// "rnd_123.mp4": [A-Za-z0-9._-] only, not starting with a dot.
	Filename string
	// Expires is when the token stops working, to the second.
	Expires time.Time
}

var (
	// ErrDownloadInvalid reports a download token that is malformed,
	// altered, foreign, or of a key no longer held (403 forbidden).
	ErrDownloadInvalid = errors.New("invalid download token")
	// ErrDownloadExpired reports a genuine download token past its expiry
	// (410 download_expired).
	ErrDownloadExpired = errors.New("download token expired")
)
