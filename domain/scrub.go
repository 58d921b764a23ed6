package domain

import "regexp"

// serverPath is an absolute path of two or more parts wherever it starts
// (after anything but a letter, digit, "_" or "."): "/var/lib/renderd/x",
// "file:/tmp/a", "(/proc/self/fd/3)", "at:/var/x/y", "`/srv/a/b`"; not
// "N/A", "1/30" or "50ms/+260ms". A path ends before a closing ":" or "."
// ("open /a/b: denied").
var serverPath = regexp.MustCompile("(^|[^\\w.])(?:file:)?/" + pathChars + "*/(?:" + pathChars + "*[^\\s'\"(),;\\[\\]<>`{}:.])?")

// pathChars are the characters a path in a message is taken to hold.
const pathChars = "[^\\s'\"(),;\\[\\]<>`{}]"

// ScrubServerPaths replaces every absolute path in a failure message by "a
// server path": such messages travel in public events (render.failed,
// asset.failed), and a path tells a tenant how the server is laid out.
func ScrubServerPaths(msg string) string {
	return serverPath.ReplaceAllString(msg, "${1}a server path")
}
