package domain

import "regexp"

// serverPath is an absolute path of two or more parts that starts a word:
// "/var/lib/renderd/blobs/x", "file:/tmp/a", "(/proc/self/fd/3)"; not
// "N/A" or "1/30".
var serverPath = regexp.MustCompile(`(^|[\s'"(\[=,<])(?:file:)?/[^\s'"(),;\[\]<>]*/[^\s'"(),;\[\]<>]*`)

// ScrubServerPaths replaces every absolute path in a failure message by "a
// server path": such messages travel in public events (render.failed,
// asset.failed), and a path tells a tenant how the server is laid out.
func ScrubServerPaths(msg string) string {
	return serverPath.ReplaceAllString(msg, "${1}a server path")
}
